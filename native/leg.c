/* Legs: a port pair facing one call party, symmetric-RTP latching, relay to the peer leg.
 *
 * Functions taking a leg run with its worker's lock held, except sc_leg_new which takes it.
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

int sc_open_pair(sc_engine *eng, bool mux, int *rtp_fd, int *rtcp_fd, int *port)
{
    int first = eng->port_min + (eng->port_min & 1); /* RTP on even ports (RFC 3550 §11) */
    int span = (eng->port_max - first + 1) / 2;      /* pairs that fit in the range */
    for (int tries = 0; tries < span; tries++) {
        int p = eng->port_next;
        if (p < first || p + 1 > eng->port_max)
            p = first;
        eng->port_next = p + 2;
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
    leg->latching = latching;
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

void sc_leg_rx(sc_worker *w, sc_leg *leg, sc_sock_role role, uint8_t *pkt, size_t len,
               const sc_addr *from, int64_t now)
{
    bool rtcp = role == SC_SOCK_RTCP || (leg->mux && len >= 2 && sc_rtcp_octet(pkt[1]));
    sc_rtp_info info;
    if (rtcp ? !sc_rtcp_valid(pkt, len) : sc_rtp_parse(pkt, len, &info) < 0) {
        leg->c.malformed++;
        return;
    }
    if (leg->latching) {
        bool rtcp_port = rtcp && !leg->mux;
        bool *latched = rtcp_port ? &leg->rtcp_latched : &leg->rtp_latched;
        sc_addr *remote = rtcp_port ? &leg->remote_rtcp : &leg->remote_rtp;
        if (!*latched) {
            *remote = *from;
            *latched = true;
        } else if (!sc_addr_equal(remote, from)) {
            leg->c.foreign_source++;
            return;
        }
    }
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
