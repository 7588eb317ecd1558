/* Worker thread: epoll loop, recvmmsg batches in, per-socket sendmmsg lanes out, timers and
 * the graveyard. See engine.h for the locking and lifetime rules.
 *
 * The packet-path system calls (epoll_wait, recvmmsg, sendmmsg) go through syscall(2) rather
 * than their libc wrappers: those wrappers are thread-cancellation points and switch the
 * cancellation state around every call, bookkeeping worth ~100 instructions per packet on a
 * thread that is never cancelled (it stops through its stop flag). */
#define _GNU_SOURCE 1 /* recvmmsg/sendmmsg */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"

/* ---- output lanes: one per destination socket, flushed with one sendmmsg each ---- */

static void lane_flush(sc_worker *w, sc_lane *lane)
{
    unsigned done = 0;
    while (done < lane->n) {
        int r = (int)syscall(SYS_sendmmsg, lane->fd, lane->msgs + done, lane->n - done,
                             MSG_DONTWAIT);
        if (r > 0) {
            done += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        /* the first remaining datagram failed (full socket buffer, unreachable, ...): drop it
         * and go on, a relay never retries */
        w->tx_dropped++;
        done++;
    }
    lane->n = 0;
}

void sc_tx_flush(sc_worker *w)
{
    for (unsigned i = 0; i < w->nlanes; i++)
        lane_flush(w, &w->lanes[i]);
    w->nlanes = 0;
}

static sc_lane *lane_for(sc_worker *w, int fd)
{
    for (unsigned i = 0; i < w->nlanes; i++) {
        if (w->lanes[i].fd == fd) {
            if (w->lanes[i].n == SC_BATCH)
                lane_flush(w, &w->lanes[i]);
            return &w->lanes[i];
        }
    }
    if (w->nlanes == SC_TX_LANES)
        sc_tx_flush(w);
    sc_lane *lane = &w->lanes[w->nlanes++];
    lane->fd = fd;
    lane->n = 0;
    return lane;
}

/* dst NULL: the socket is connected to the destination */
static void lane_put(sc_lane *lane, const sc_addr *dst, uint8_t *buf, size_t len)
{
    unsigned i = lane->n++;
    lane->iov[i].iov_base = buf;
    lane->iov[i].iov_len = len;
    struct msghdr *h = &lane->msgs[i].msg_hdr;
    memset(h, 0, sizeof *h);
    if (dst) {
        lane->dst[i] = *dst;
        h->msg_name = &lane->dst[i];
        h->msg_namelen = sc_addr_len(dst);
    }
    h->msg_iov = &lane->iov[i];
    h->msg_iovlen = 1;
}

uint8_t *sc_tx_slot(sc_worker *w, int fd, sc_lane **lane)
{
    *lane = lane_for(w, fd);
    size_t index = (size_t)(*lane - w->lanes) * SC_BATCH + (*lane)->n;
    return w->tx_arena + index * SC_TX_SLOT;
}

void sc_tx_commit(sc_lane *lane, const sc_addr *dst, uint8_t *slot, size_t len)
{
    lane_put(lane, dst, slot, len);
}

void sc_tx_ref(sc_worker *w, int fd, const sc_addr *dst, uint8_t *buf, size_t len)
{
    lane_put(lane_for(w, fd), dst, buf, len);
}

/* ---- epoll registration and the graveyard ---- */

int sc_worker_watch(sc_worker *w, sc_sock *s)
{
    if (s->fd < 0)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

void sc_worker_unwatch(sc_worker *w, sc_sock *s)
{
    if (s->fd >= 0)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

void sc_worker_bury(sc_worker *w, sc_obj *obj)
{
    obj->dead = true;
    obj->grave_next = w->graveyard;
    w->graveyard = obj;
}

void sc_worker_free_graveyard(sc_worker *w)
{
    while (w->graveyard) {
        sc_obj *obj = w->graveyard;
        w->graveyard = obj->grave_next;
        if (obj->type == SC_OBJ_LEG)
            sc_leg_destroy((sc_leg *)obj);
        else
            sc_fork_destroy((sc_fork *)obj);
    }
}

void sc_worker_wake(sc_worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->wake.fd, &one, sizeof one);
    (void)r;
}

void sc_lock_pair(sc_worker *a, sc_worker *b)
{
    if (a == b) {
        pthread_mutex_lock(&a->lock);
    } else if (a->index < b->index) { /* one global order: no deadlock between two callers */
        pthread_mutex_lock(&a->lock);
        pthread_mutex_lock(&b->lock);
    } else {
        pthread_mutex_lock(&b->lock);
        pthread_mutex_lock(&a->lock);
    }
}

void sc_unlock_pair(sc_worker *a, sc_worker *b)
{
    pthread_mutex_unlock(&a->lock);
    if (a != b)
        pthread_mutex_unlock(&b->lock);
}

/* ---- the loop ---- */

static void handle_socket(sc_worker *w, sc_sock *s, int64_t now)
{
    sc_obj *owner = s->owner;
    if (owner->dead)
        return;
    bool is_leg = owner->type == SC_OBJ_LEG;
    /* a leg migrated by relay() may still have an event queued here: its new worker reads it */
    if ((is_leg ? ((sc_leg *)owner)->worker : ((sc_fork *)owner)->leg->worker) != w)
        return;
    int n = (int)syscall(SYS_recvmmsg, s->fd, w->rx_msgs, SC_BATCH, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        w->rx_msgs[i].msg_hdr.msg_namelen = sizeof w->rx_from[i]; /* value-result: rearm */
        size_t len = w->rx_msgs[i].msg_len;
        bool truncated = (w->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        if (is_leg) {
            sc_leg *leg = (sc_leg *)owner;
            if (truncated) {
                leg->c.malformed++;
                continue;
            }
            sc_leg_rx(w, leg, s->role, w->rx_buf[i], len, &w->rx_from[i], now);
        } else if (truncated) {
            ((sc_fork *)owner)->c.malformed++;
        } else {
            sc_fork_rx((sc_fork *)owner, w->rx_buf[i], len);
        }
    }
    sc_tx_flush(w); /* lanes may point into rx_buf: send before the next recvmmsg */
}

static int64_t housekeeping(sc_worker *w, int64_t now)
{
    if (now >= w->next_housekeeping_ns) {
        for (sc_leg *leg = w->legs; leg; leg = leg->next)
            sc_leg_housekeeping(w, leg, now);
        w->next_housekeeping_ns = now + SC_HOUSEKEEPING_NS;
    }
    int64_t next = w->next_housekeeping_ns;
    int64_t player_due = sc_players_run(w, now);
    sc_tx_flush(w);
    if (player_due && player_due < next)
        next = player_due;
    return next;
}

static void *worker_main(void *arg)
{
    sc_worker *w = arg;
    struct epoll_event evs[SC_EPOLL_EVENTS];
    pthread_mutex_lock(&w->lock);
    int64_t next = housekeeping(w, sc_mono_ns());
    pthread_mutex_unlock(&w->lock);
    for (;;) {
        int64_t wait_ns = next - sc_mono_ns();
        int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
        /* epoll_pwait with no signal mask: epoll_wait, on every architecture */
        int n = (int)syscall(SYS_epoll_pwait, w->epfd, evs, SC_EPOLL_EVENTS, timeout, NULL,
                             (size_t)8);
        int64_t now = sc_mono_ns();
        bool woken = false; /* Python changed something that may move the next deadline */
        for (int i = 0; i < n; i++) {
            sc_sock *s = evs[i].data.ptr;
            if (s->role == SC_SOCK_WAKE) {
                uint64_t v;
                ssize_t r = read(s->fd, &v, sizeof v);
                (void)r;
                woken = true;
                continue;
            }
            pthread_mutex_lock(&w->lock);
            handle_socket(w, s, now);
            pthread_mutex_unlock(&w->lock);
        }
        pthread_mutex_lock(&w->lock);
        bool stop = w->stop;
        now = sc_mono_ns();
        if (!stop && (woken || now >= next))
            next = housekeeping(w, now);
        sc_worker_free_graveyard(w);
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
    }
    return NULL;
}

int sc_worker_start(sc_worker *w, sc_engine *eng, int index)
{
    memset(w, 0, sizeof *w);
    w->eng = eng;
    w->index = index;
    w->wake.fd = -1;
    w->epfd = -1;
    pthread_mutex_init(&w->lock, NULL);
    w->rx_buf = malloc(sizeof(*w->rx_buf) * SC_BATCH);
    w->tx_arena = malloc((size_t)SC_TX_LANES * SC_BATCH * SC_TX_SLOT);
    if (!w->rx_buf || !w->tx_arena) {
        errno = ENOMEM;
        return -1;
    }
    for (unsigned i = 0; i < SC_BATCH; i++) { /* the kernel only writes back lengths and flags */
        w->rx_iov[i] = (struct iovec){.iov_base = w->rx_buf[i], .iov_len = SC_PKT_CAP};
        w->rx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &w->rx_from[i],
                                                .msg_namelen = sizeof w->rx_from[i],
                                                .msg_iov = &w->rx_iov[i],
                                                .msg_iovlen = 1};
    }
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        return -1;
    w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->wake.role = SC_SOCK_WAKE;
    if (w->wake.fd < 0 || sc_worker_watch(w, &w->wake) < 0)
        return -1;
    int err = pthread_create(&w->thread, NULL, worker_main, w);
    if (err) {
        errno = err;
        return -1;
    }
    w->started = true;
    return 0;
}

void sc_worker_stop(sc_worker *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    sc_worker_wake(w);
    pthread_join(w->thread, NULL);
    w->started = false;
}

void sc_worker_destroy(sc_worker *w)
{
    while (w->players)
        sc_player_stop(w->players, false, 0);
    while (w->legs)
        sc_leg_close(w->legs);
    sc_worker_free_graveyard(w);
    if (w->wake.fd >= 0)
        close(w->wake.fd);
    if (w->epfd >= 0)
        close(w->epfd);
    free(w->rx_buf);
    free(w->tx_arena);
    pthread_mutex_destroy(&w->lock);
}
