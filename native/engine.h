/* The media engine core: workers, legs, forks, players (no Python API in here).
 *
 * Threading model. Each worker is a pthread running an epoll loop over the sockets of the legs
 * (and forks, players) it owns; legs are sharded round-robin and two relayed legs always live on
 * the same worker (relay() migrates one), so a packet is received, validated, relayed and forked
 * by one thread with no cross-thread hand-off. Each worker has one mutex guarding its rule table
 * (its legs, forks and players). The worker takes it once per socket batch (one recvmmsg of up
 * to SC_BATCH packets plus the sendmmsg calls it causes) and once per timer pass, never per
 * packet; Python takes it to change a rule or read counters, so a control call waits at most one
 * batch. We chose this over a lock-free command queue because control calls then apply
 * synchronously (after add_fork() returns, the next packet is forked), counters need no atomics,
 * and the uncontended lock costs ~20 ns per batch, well under 1 ns per packet.
 *
 * Lifetime. epoll events carry pointers, so an object removed by Python while its event is in
 * flight must stay valid: removal unregisters the sockets, marks the object dead and queues it
 * on the worker's graveyard; the worker frees the graveyard (and closes the sockets, so a file
 * descriptor number is never reused under a stale event) at the end of its loop iteration.
 */
#ifndef SC_ENGINE_H
#define SC_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "dtmf.h"
#include "events.h"
#include "idmap.h"
#include "rtp.h"
#include "srtp.h"

#define SC_BATCH 32            /* packets per recvmmsg/sendmmsg */
#define SC_PKT_CAP 2048        /* receive buffer per packet; larger datagrams are malformed */
#define SC_TX_SLOT (SC_PKT_CAP + SC_SRTCP_MAX_TRAILER + 64)
#define SC_TX_LANES 16         /* distinct output sockets buffered per batch */
#define SC_EPOLL_EVENTS 64
#define SC_HOUSEKEEPING_NS (100 * 1000 * 1000LL) /* media timeout / RTCP scan period */
#define SC_FIRST_RTCP_NS (250 * 1000 * 1000LL)  /* first SR this soon after the first packet */
#define SC_PTIME_NS (20 * 1000 * 1000LL)        /* player packetisation */
#define SC_LEARN_PROBATION 4 /* in-sequence packets before "learn" moves to a new source */

typedef struct sc_engine sc_engine;
typedef struct sc_worker sc_worker;
typedef struct sc_leg sc_leg;
typedef struct sc_fork sc_fork;
typedef struct sc_player sc_player;

typedef enum { SC_OBJ_LEG = 1, SC_OBJ_FORK } sc_obj_type;

/* common head of objects whose sockets sit in an epoll set */
typedef struct sc_obj {
    uint64_t id;
    sc_obj_type type;
    bool dead;
    struct sc_obj *grave_next;
} sc_obj;

typedef enum { SC_SOCK_RTP, SC_SOCK_RTCP, SC_SOCK_WAKE } sc_sock_role;

/* what an epoll event points at */
typedef struct sc_sock {
    int fd; /* -1 = none */
    sc_sock_role role;
    sc_obj *owner; /* NULL for the wake fd */
} sc_sock;

/* Which sources a leg accepts (RTP hijack / RTP Bleed protection; leg.c admit_source()).
 * Every mode sends to the latched source once there is one (symmetric RTP, RFC 4961). */
typedef enum {
    SC_LATCH_NONE,   /* leg allocated with latching=False: any source, nothing learnt */
    SC_LATCH_OFF,    /* "off": the first source latches, wherever it is; then only it */
    SC_LATCH_STRICT, /* "strict": only the SDP's IP (any port, for NAT); its first port latches */
    SC_LATCH_LEARN,  /* "learn": strict, and any other source takes over after a probation */
} sc_latch_mode;

/* why a packet was refused by latching; the engine-wide totals are kept per worker */
typedef enum {
    SC_REFUSED_UNSIGNALLED, /* no SDP address known yet */
    SC_REFUSED_ADDRESS,     /* another IP than the signalled (or latched) one */
    SC_REFUSED_PORT,        /* the right IP, another port than the latched one */
    SC_REFUSED_PROBATION,   /* "learn": a new source still proving itself */
    SC_REFUSED_REASONS
} sc_refused_reason;

typedef struct sc_leg_counters {
    uint64_t packets_in, bytes_in, rtcp_in, packets_out, bytes_out, rtcp_out;
    uint64_t malformed, foreign_source, no_remote; /* foreign_source: refused, any reason */
    int64_t last_packet_ns; /* 0 = never */
} sc_leg_counters;

struct sc_leg {
    sc_obj obj;
    sc_worker *worker;
    sc_leg *prev, *next; /* worker's list */
    sc_sock rtp, rtcp;   /* rtcp.fd == -1 with rtcp-mux */
    int local_port;
    bool mux;
    sc_latch_mode latch;
    /* Unlatched, remote_rtp is the SDP address (unset before any SDP); latched, the source. */
    bool rtp_latched, rtcp_latched;
    sc_addr remote_rtp, remote_rtcp;
    struct {
        sc_addr from;
        uint32_t ssrc;
        uint16_t seq;
        uint8_t count; /* 0 = no candidate */
    } candidate;       /* "learn": the source on probation */
    sc_leg *peer;
    sc_fork *forks[2]; /* SC_INBOUND, SC_OUTBOUND lists */
    sc_player *player;
    bool have_ssrc, first_seen, timed_out;
    uint32_t ssrc;
    int64_t quiet_since_ns; /* last RTP packet or set_remote(); 0 = timer not armed yet */
    sc_leg_counters c;
};

enum { SC_INBOUND = 0, SC_OUTBOUND = 1 };

typedef struct sc_fork_counters {
    uint64_t packets_out, bytes_out, dtmf_dropped, inband_dtmf_frames, srtp_errors;
    uint64_t rtcp_out, rtcp_in, malformed;
    int64_t last_packet_ns;
} sc_fork_counters;

struct sc_fork {
    sc_obj obj;
    sc_leg *leg;
    int direction;
    sc_fork *next; /* leg's list for this direction */
    sc_sock rtp, rtcp;
    int local_port;
    bool have_dest, paused;
    bool connected; /* rtp.fd is connected to dest_rtp */
    sc_addr dest_rtp, dest_rtcp;
    uint64_t drop_pt[2]; /* bitmap of payload types never forwarded */
    uint32_t clock_rate;
    /* output stream state: RFC 3550 §5.1, own SSRC, gapless sequence, continuous timestamps */
    uint32_t ssrc;
    uint16_t seq;
    bool started;
    uint32_t in_ssrc, ts_offset, last_out_ts;
    int64_t last_out_ns;
    /* RTCP sender state (RFC 3550 §6.4.1) */
    uint32_t sr_packets, sr_octets;
    uint32_t packets_at_report[2]; /* sender check over the last two intervals */
    int64_t next_rtcp_ns;          /* 0 = not scheduled */
    char cname[SC_RTCP_CNAME_MAX + 1];
    sc_srtp *srtp; /* NULL = plain RTP */
    bool inband;
    int inband_pt; /* PT the detector is set up for, -1 = none yet */
    sc_inband_dtmf dtmf;
    sc_fork_counters c;
};

struct sc_player {
    uint64_t id;
    sc_leg *leg;
    sc_player *prev, *next; /* worker's list */
    uint8_t *audio;
    size_t len, pos;
    int loops_left; /* 0 = forever */
    uint8_t pt;
    bool marker;
    uint16_t seq;
    uint32_t ts, ssrc;
    int64_t next_due_ns;
};

typedef struct sc_lane {
    int fd;
    unsigned n;
    struct mmsghdr msgs[SC_BATCH];
    struct iovec iov[SC_BATCH];
    sc_addr dst[SC_BATCH];
} sc_lane;

struct sc_worker {
    sc_engine *eng;
    int index;
    pthread_t thread;
    bool started;
    int epfd;
    sc_sock wake; /* eventfd to interrupt epoll_wait */
    pthread_mutex_t lock;
    bool stop;
    sc_leg *legs;
    sc_player *players;
    sc_obj *graveyard;
    int64_t next_housekeeping_ns;
    struct mmsghdr rx_msgs[SC_BATCH];
    struct iovec rx_iov[SC_BATCH];
    sc_addr rx_from[SC_BATCH];
    uint8_t (*rx_buf)[SC_PKT_CAP];
    sc_lane lanes[SC_TX_LANES];
    unsigned nlanes;
    uint8_t *tx_arena; /* SC_TX_LANES * SC_BATCH slots of SC_TX_SLOT bytes */
    uint64_t tx_dropped;
    uint64_t refused[SC_REFUSED_REASONS]; /* survive the legs that counted them */
};

struct sc_engine {
    sc_addr bind;
    int port_min, port_max;
    sc_latch_mode latching; /* what legs allocated with latching get */
    int nworkers, next_worker;
    sc_worker *workers;
    int64_t media_timeout_ns, rtcp_interval_ns;
    uint64_t next_id;
    sc_idmap legs, forks; /* Python side only (GIL) */
    sc_events events;
};

typedef struct sc_fork_config {
    int direction;
    bool have_dest;
    sc_addr dest_rtp, dest_rtcp;
    uint64_t drop_pt[2];
    sc_srtp *srtp; /* ownership moves to the fork */
    bool inband;
    bool have_ssrc;
    uint32_t ssrc;
    uint32_t clock_rate;
    const char *cname; /* NULL = derived from the SSRC */
} sc_fork_config;

/* engine.c */
int sc_engine_new(sc_engine **out, const sc_addr *bind, int port_min, int port_max,
                  int workers, int64_t media_timeout_ns, int64_t rtcp_interval_ns,
                  sc_latch_mode latching);
void sc_engine_free(sc_engine *eng); /* stops and joins workers; call without the GIL */
uint64_t sc_engine_new_id(sc_engine *eng);
uint32_t sc_random32(void);
void sc_emit(sc_engine *eng, sc_event_kind kind, uint64_t leg_id, uint64_t fork_id,
             uint64_t player_id, uint32_t ssrc, uint32_t old_ssrc, int64_t now);

/* worker.c */
int sc_worker_start(sc_worker *w, sc_engine *eng, int index);
void sc_worker_stop(sc_worker *w);
void sc_worker_destroy(sc_worker *w);
void sc_worker_wake(sc_worker *w);
int sc_worker_watch(sc_worker *w, sc_sock *s);
void sc_worker_unwatch(sc_worker *w, sc_sock *s);
void sc_worker_bury(sc_worker *w, sc_obj *obj);
void sc_worker_free_graveyard(sc_worker *w);
uint8_t *sc_tx_slot(sc_worker *w, int fd, sc_lane **lane);
/* dst NULL: the lane's socket is connected to the destination */
void sc_tx_commit(sc_lane *lane, const sc_addr *dst, uint8_t *slot, size_t len);
void sc_tx_ref(sc_worker *w, int fd, const sc_addr *dst, uint8_t *buf, size_t len);
void sc_tx_flush(sc_worker *w);
void sc_lock_pair(sc_worker *a, sc_worker *b);
void sc_unlock_pair(sc_worker *a, sc_worker *b);

/* leg.c */
int sc_open_pair(sc_engine *eng, bool mux, int *rtp_fd, int *rtcp_fd, int *port);
sc_leg *sc_leg_new(sc_engine *eng, bool mux, bool latching); /* NULL + errno */
void sc_leg_set_remote(sc_leg *leg, const sc_addr *rtp, const sc_addr *rtcp);
int sc_leg_relay(sc_leg *a, sc_leg *b);   /* -1: one of them is already relayed elsewhere */
int sc_leg_unrelay(sc_leg *a, sc_leg *b); /* -1: not relayed to each other */
void sc_leg_close(sc_leg *leg);
void sc_leg_rx(sc_worker *w, sc_leg *leg, sc_sock_role role, uint8_t *pkt, size_t len,
               const sc_addr *from, int64_t now);
void sc_leg_deliver_rtp(sc_worker *w, sc_leg *to, uint8_t *pkt, size_t len,
                        const sc_rtp_info *info, int64_t now, bool zero_copy);
void sc_leg_housekeeping(sc_worker *w, sc_leg *leg, int64_t now);
void sc_leg_destroy(sc_leg *leg);

/* fork.c */
sc_fork *sc_fork_new(sc_leg *leg, const sc_fork_config *cfg, int rtp_fd, int rtcp_fd, int port);
void sc_fork_set_destination(sc_fork *f, const sc_addr *rtp, const sc_addr *rtcp);
void sc_fork_set_paused(sc_fork *f, bool paused);
void sc_fork_feed(sc_worker *w, sc_fork *f, const uint8_t *pkt, const sc_rtp_info *in,
                  int64_t now);
void sc_fork_rx(sc_fork *f, uint8_t *pkt, size_t len);
void sc_fork_housekeeping(sc_fork *f, int64_t now);
void sc_fork_remove(sc_fork *f); /* sends RTCP BYE, unlinks, buries */
void sc_fork_destroy(sc_fork *f);

/* player.c */
sc_player *sc_player_new(sc_leg *leg, const uint8_t *audio, size_t len, uint8_t pt, int loops,
                         int64_t now);
void sc_player_stop(sc_player *p, bool done_event, int64_t now);
int64_t sc_players_run(sc_worker *w, int64_t now); /* returns the next due time, 0 = none */

#endif
