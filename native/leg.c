/* Legs: a port pair facing one call party, source latching, relay to the peer leg.
 *
 * Functions taking a leg run with its worker's lock held, except sc_leg_new which takes it.
 *
 * Latching (sc_latch_mode; Asterisk's strictrtp after the RTP Bleed advisory, rtpengine's
 * strict-source). A packet from a source the leg does not accept is refused: counted, never
 * relayed, forked or taken as the party's media, and it changes nothing, so the party itself
 * is never muted by it. Once a source is latched, replies go to it (symmetric RTP).
 * - strict (default): only the IP address of the party's SDP. Its first port to send
 *   latches (NAT rewrites ports, rarely addresses); after that, as Asterisk's strictrtp, only
 *   that source is accepted until the next SDP (set_remote), even from the same IP: a NAT
 *   rebinding mid-call needs "learn" or a re-INVITE. Before any SDP address is known (a
 *   callee's leg while its INVITE is out) nothing is accepted: there is no address to trust
 *   yet, and early media comes with an SDP of its own.
 * - learn: as strict, and also any other source, before or after latching, once it sent
 *   SC_LEARN_PROBATION RTP packets in a row (one SSRC, consecutive sequence numbers, no
 *   packet of the latched source in between): the last of them is the first accepted. For
 *   parties whose SDP shows a private address, or whose NAT mapping changes mid-call.
 * - off: the first source to send latches, wherever it is (the behaviour before strict).
 * RTCP on its own port latches separately, from the host RTP is accepted from; RTCP carries
 * no sequence numbers, so it never starts a probation.
 */
#define _GNU_SOURCE 1 /* recvmmsg/sendmmsg */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"

static int open_bound(const sc_addr *local, int port)
{
    int fd = socket(local->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sc_addr a = *local;
    if (a.sa.sa_family == AF_INET6)
        a.v6.sin6_port = htons((uint16_t)port);
    else
        a.v4.sin_port = htons((uint16_t)port);
    if (bind(fd, &a.sa, sc_addr_len(&a)) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    /* default socket buffers (~200 KB) on purpose: under overload a deeper queue only delays
     * every stream by stale audio instead of shedding it */
    return fd;
}

/* Port pairs start at a random pair of the range, drawn from the kernel's CSPRNG, and are
 * probed upward with wraparound: a sequential or guessable port lets a third party aim RTP at
 * the next call's leg before its parties speak (the RTP Bleed attack). */
int sc_open_pair(sc_engine *eng, bool mux, int *rtp_fd, int *rtcp_fd, int *port)
{
    int first = eng->port_min + (eng->port_min & 1); /* RTP on even ports (RFC 3550 §11) */
    int span = (eng->port_max - first + 1) / 2;      /* pairs that fit in the range */
    /* multiply-shift maps 32 random bits onto the span with a bias below span / 2^32 */
    int start = (int)(((uint64_t)sc_random32() * (uint64_t)span) >> 32);
    for (int tries = 0; tries < span; tries++) {
        int p = first + 2 * ((start + tries) % span);
        int a = open_bound(&eng->bind, p);
        if (a < 0) {
            if (errno == EADDRINUSE || errno == EACCES)
                continue;
            return -1;
        }
        int b = -1;
        if (!mux) {
            b = open_bound(&eng->bind, p + 1);
            if (b < 0) {
                int err = errno;
                close(a);
                if (err == EADDRINUSE || err == EACCES)
                    continue;
                errno = err;
                return -1;
            }
        }
        *rtp_fd = a;
        *rtcp_fd = b;
        *port = p;
        return 0;
    }
    errno = EADDRNOTAVAIL;
    return -1;
}

sc_leg *sc_leg_new(sc_engine *eng, bool mux, bool latching)
{
    sc_leg *leg = calloc(1, sizeof *leg);
    if (!leg) {
        errno = ENOMEM;
        return NULL;
    }
    leg->rtp.fd = leg->rtcp.fd = -1;
    if (sc_open_pair(eng, mux, &leg->rtp.fd, &leg->rtcp.fd, &leg->local_port) < 0) {
        free(leg);
        return NULL;
    }
    leg->obj.id = sc_engine_new_id(eng);
    leg->obj.type = SC_OBJ_LEG;
    leg->rtp.role = SC_SOCK_RTP;
    leg->rtp.owner = &leg->obj;
    leg->rtcp.role = SC_SOCK_RTCP;
    leg->rtcp.owner = &leg->obj;
    leg->mux = mux;
    leg->latch = latching ? eng->latching : SC_LATCH_NONE;
    sc_worker *w = &eng->workers[eng->next_worker];
    eng->next_worker = (eng->next_worker + 1) % eng->nworkers;
    leg->worker = w;
    if (sc_idmap_put(&eng->legs, leg->obj.id, leg) < 0) {
        sc_leg_destroy(leg);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    int r = sc_worker_watch(w, &leg->rtp);
    if (r == 0)
        r = sc_worker_watch(w, &leg->rtcp);
    if (r == 0) {
        leg->next = w->legs;
        if (w->legs)
            w->legs->prev = leg;
        w->legs = leg;
    }
    pthread_mutex_unlock(&w->lock);
    if (r < 0) {
        int err = errno;
        sc_worker_unwatch(w, &leg->rtp);
        sc_idmap_remove(&eng->legs, leg->obj.id);
        sc_leg_destroy(leg);
        errno = err;
        return NULL;
    }
    return leg;
}

void sc_leg_set_remote(sc_leg *leg, const sc_addr *rtp, const sc_addr *rtcp)
{
    leg->remote_rtp = *rtp;
    leg->remote_rtcp = *rtcp;
    if (!leg->quiet_since_ns) /* media is expected from now on: arm the silence timer */
        leg->quiet_since_ns = sc_mono_ns();
    /* new SDP, new peer address: learn the source again (e.g. after a re-INVITE) */
    leg->rtp_latched = leg->rtcp_latched = false;
    leg->candidate.count = 0;
}

static void unlink_leg(sc_leg *leg)
{
    sc_worker *w = leg->worker;
    if (leg->prev)
        leg->prev->next = leg->next;
    else
        w->legs = leg->next;
    if (leg->next)
        leg->next->prev = leg->prev;
    leg->prev = leg->next = NULL;
}

static void watch_all(sc_leg *leg, bool on)
{
    sc_worker *w = leg->worker;
    sc_sock *socks[2] = {&leg->rtp, &leg->rtcp};
    for (int i = 0; i < 2; i++) {
        if (on)
            sc_worker_watch(w, socks[i]);
        else
            sc_worker_unwatch(w, socks[i]);
    }
    for (int d = 0; d < 2; d++) {
        for (sc_fork *f = leg->forks[d]; f; f = f->next) {
            if (on) {
                sc_worker_watch(w, &f->rtp);
                sc_worker_watch(w, &f->rtcp);
            } else {
                sc_worker_unwatch(w, &f->rtp);
                sc_worker_unwatch(w, &f->rtcp);
            }
        }
    }
}

/* Moves a leg with its forks and player to another worker; both locks are held. */
static void migrate(sc_leg *leg, sc_worker *to)
{
    sc_worker *from = leg->worker;
    watch_all(leg, false);
    unlink_leg(leg);
    leg->worker = to;
    leg->next = to->legs;
    if (to->legs)
        to->legs->prev = leg;
    to->legs = leg;
    watch_all(leg, true);
    sc_player *p = leg->player;
    if (p) {
        if (p->prev)
            p->prev->next = p->next;
        else
            from->players = p->next;
        if (p->next)
            p->next->prev = p->prev;
        p->prev = NULL;
        p->next = to->players;
        if (to->players)
            to->players->prev = p;
        to->players = p;
        sc_worker_wake(to);
    }
}

int sc_leg_relay(sc_leg *a, sc_leg *b)
{
    sc_worker *wa = a->worker, *wb = b->worker;
    sc_lock_pair(wa, wb);
    int r = -1;
    if (a != b && (!a->peer || a->peer == b) && (!b->peer || b->peer == a)) {
        if (wa != wb)
            migrate(b, wa);
        a->peer = b;
        b->peer = a;
        r = 0;
    }
    sc_unlock_pair(wa, wb);
    return r;
}

int sc_leg_unrelay(sc_leg *a, sc_leg *b)
{
    sc_worker *wa = a->worker, *wb = b->worker;
    sc_lock_pair(wa, wb);
    int r = -1;
    if (a->peer == b && b->peer == a) {
        a->peer = b->peer = NULL;
        r = 0;
    }
    sc_unlock_pair(wa, wb);
    return r;
}

void sc_leg_close(sc_leg *leg)
{
    sc_worker *w = leg->worker;
    if (leg->peer)
        leg->peer->peer = NULL;
    leg->peer = NULL;
    for (int d = 0; d < 2; d++)
        while (leg->forks[d])
            sc_fork_remove(leg->forks[d]);
    if (leg->player)
        sc_player_stop(leg->player, false, 0);
    sc_worker_unwatch(w, &leg->rtp);
    sc_worker_unwatch(w, &leg->rtcp);
    unlink_leg(leg);
    sc_idmap_remove(&w->eng->legs, leg->obj.id);
    sc_worker_bury(w, &leg->obj);
}

void sc_leg_destroy(sc_leg *leg)
{
    if (leg->rtp.fd >= 0)
        close(leg->rtp.fd);
    if (leg->rtcp.fd >= 0)
        close(leg->rtcp.fd);
    free(leg);
}

/* ---- packet path ---- */

void sc_leg_deliver_rtp(sc_worker *w, sc_leg *to, uint8_t *pkt, size_t len,
                        const sc_rtp_info *info, int64_t now, bool zero_copy)
{
    if (!sc_addr_set(&to->remote_rtp)) {
        to->c.no_remote++;
    } else {
        if (zero_copy) {
            sc_tx_ref(w, to->rtp.fd, &to->remote_rtp, pkt, len);
        } else {
            sc_lane *lane;
            uint8_t *slot = sc_tx_slot(w, to->rtp.fd, &lane);
            memcpy(slot, pkt, len);
            sc_tx_commit(lane, &to->remote_rtp, slot, len);
        }
        to->c.packets_out++;
        to->c.bytes_out += len;
    }
    for (sc_fork *f = to->forks[SC_OUTBOUND]; f; f = f->next)
        sc_fork_feed(w, f, pkt, info, now);
}

static void relay_rtcp(sc_worker *w, sc_leg *to, uint8_t *pkt, size_t len)
{
    const sc_addr *dst = to->mux ? &to->remote_rtp : &to->remote_rtcp;
    if (!sc_addr_set(dst)) {
        to->c.no_remote++;
        return;
    }
    sc_tx_ref(w, to->mux ? to->rtp.fd : to->rtcp.fd, dst, pkt, len);
    to->c.rtcp_out++;
}

static void emit(sc_leg *leg, sc_event_kind kind, uint32_t ssrc, uint32_t old, int64_t now)
{
    sc_emit(leg->worker->eng, kind, leg->obj.id, 0, 0, ssrc, old, now);
}

/* ---- source checks (RTP hijack protection), see sc_latch_mode ---- */

/* The common case, on every packet: it comes from the latched source. */
static inline bool from_latched(sc_leg *leg, bool rtcp_port, const sc_addr *from)
{
    if (!(rtcp_port ? leg->rtcp_latched : leg->rtp_latched) ||
        !sc_addr_equal(rtcp_port ? &leg->remote_rtcp : &leg->remote_rtp, from))
        return false;
    leg->candidate.count = 0; /* a probation needs packets uninterrupted by the latched source */
    return true;
}

/* "learn": whether this RTP packet completes SC_LEARN_PROBATION packets in a row from one
 * source, one SSRC, consecutive sequence numbers (Asterisk's strictrtp probation). */
static bool probation_passed(sc_leg *leg, const sc_addr *from, const sc_rtp_info *info)
{
    if (leg->candidate.count && leg->candidate.ssrc == info->ssrc &&
        info->seq == (uint16_t)(leg->candidate.seq + 1) &&
        sc_addr_equal(&leg->candidate.from, from)) {
        leg->candidate.count++;
    } else {
        leg->candidate.from = *from;
        leg->candidate.ssrc = info->ssrc;
        leg->candidate.count = 1;
    }
    leg->candidate.seq = info->seq;
    if (leg->candidate.count < SC_LEARN_PROBATION)
        return false;
    leg->candidate.count = 0;
    return true;
}

static sc_refused_reason foreign_reason(const sc_addr *expected, const sc_addr *from)
{
    if (!sc_addr_set(expected))
        return SC_REFUSED_UNSIGNALLED;
    return sc_addr_same_host(expected, from) ? SC_REFUSED_PORT : SC_REFUSED_ADDRESS;
}

static bool refuse(sc_worker *w, sc_leg *leg, sc_refused_reason why)
{
    leg->c.foreign_source++;
    w->refused[why]++;
    return false;
}

/* A packet from anything but the latched source (rtp NULL for RTCP): latches its source and
 * returns true, or counts the refusal. Unlatched, remote_rtp holds the SDP address, and for
 * the RTCP port the RTP source's: RTCP follows the host RTP was accepted from. */
static bool admit_source(sc_worker *w, sc_leg *leg, bool rtcp_port, const sc_addr *from,
                         const sc_rtp_info *rtp)
{
    bool *latched = rtcp_port ? &leg->rtcp_latched : &leg->rtp_latched;
    sc_addr *remote = rtcp_port ? &leg->remote_rtcp : &leg->remote_rtp;
    /* unlatched: the first source (off) or the signalled host (strict, learn) latches */
    bool first = !*latched &&
                 (leg->latch == SC_LATCH_OFF || sc_addr_same_host(&leg->remote_rtp, from));
    if (!first) {
        if (leg->latch != SC_LATCH_LEARN || !rtp)
            return refuse(w, leg, foreign_reason(remote, from));
        if (!probation_passed(leg, from, rtp))
            return refuse(w, leg, SC_REFUSED_PROBATION);
        leg->rtcp_latched = false; /* a new host: its RTCP is learnt again */
    }
    *remote = *from;
    *latched = true;
    return true;
}

void sc_leg_rx(sc_worker *w, sc_leg *leg, sc_sock_role role, uint8_t *pkt, size_t len,
               const sc_addr *from, int64_t now)
{
    bool rtcp = role == SC_SOCK_RTCP || (leg->mux && len >= 2 && sc_rtcp_octet(pkt[1]));
    sc_rtp_info info;
    if (rtcp ? !sc_rtcp_valid(pkt, len) : sc_rtp_parse(pkt, len, &info) < 0) {
        leg->c.malformed++;
        return;
    }
    bool rtcp_port = rtcp && !leg->mux;
    if (leg->latch != SC_LATCH_NONE && !from_latched(leg, rtcp_port, from) &&
        !admit_source(w, leg, rtcp_port, from, rtcp ? NULL : &info))
        return; /* refused: not relayed, not forked, not counted as media */
    leg->c.last_packet_ns = now;
    if (rtcp) {
        leg->c.rtcp_in++;
        if (leg->peer)
            relay_rtcp(w, leg->peer, pkt, len);
        return;
    }
    leg->c.packets_in++;
    leg->c.bytes_in += len;
    leg->quiet_since_ns = now;
    leg->timed_out = false;
    if (!leg->first_seen) {
        leg->first_seen = true;
        leg->have_ssrc = true;
        leg->ssrc = info.ssrc;
        emit(leg, SC_EV_FIRST_PACKET, info.ssrc, 0, now);
    } else if (info.ssrc != leg->ssrc) {
        emit(leg, SC_EV_SSRC_CHANGE, info.ssrc, leg->ssrc, now);
        leg->ssrc = info.ssrc;
    }
    for (sc_fork *f = leg->forks[SC_INBOUND]; f; f = f->next)
        sc_fork_feed(w, f, pkt, &info, now);
    /* while a player speaks to the peer, the relayed stream toward it is muted */
    if (leg->peer && !leg->peer->player)
        sc_leg_deliver_rtp(w, leg->peer, pkt, len, &info, now, true);
}

void sc_leg_housekeeping(sc_worker *w, sc_leg *leg, int64_t now)
{
    int64_t timeout = w->eng->media_timeout_ns;
    if (timeout > 0 && leg->quiet_since_ns && !leg->timed_out &&
        now - leg->quiet_since_ns >= timeout) {
        leg->timed_out = true;
        emit(leg, SC_EV_MEDIA_TIMEOUT, leg->ssrc, 0, now);
    }
    for (int d = 0; d < 2; d++)
        for (sc_fork *f = leg->forks[d]; f; f = f->next)
            sc_fork_housekeeping(f, now);
}
