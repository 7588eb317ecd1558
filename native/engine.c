/* Engine lifetime, ids, randomness and events: see engine.h for the threading model. */
#define _GNU_SOURCE 1 /* recvmmsg/sendmmsg */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "engine.h"

int sc_engine_new(sc_engine **out, const sc_addr *bind, int port_min, int port_max,
                  int workers, int64_t media_timeout_ns, int64_t rtcp_interval_ns,
                  sc_latch_mode latching)
{
    sc_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return -1;
    eng->bind = *bind;
    eng->port_min = port_min;
    eng->port_max = port_max;
    eng->latching = latching;
    eng->media_timeout_ns = media_timeout_ns;
    eng->rtcp_interval_ns = rtcp_interval_ns;
    eng->next_id = 1;
    sc_idmap_init(&eng->legs);
    sc_idmap_init(&eng->forks);
    eng->workers = calloc((size_t)workers, sizeof *eng->workers);
    if (!eng->workers || sc_events_init(&eng->events) < 0) {
        int err = errno;
        free(eng->workers);
        free(eng);
        errno = err;
        return -1;
    }
    for (int i = 0; i < workers; i++) {
        eng->nworkers = i + 1;
        if (sc_worker_start(&eng->workers[i], eng, i) < 0) {
            int err = errno;
            sc_engine_free(eng);
            errno = err;
            return -1;
        }
    }
    *out = eng;
    return 0;
}

void sc_engine_free(sc_engine *eng)
{
    for (int i = 0; i < eng->nworkers; i++)
        sc_worker_stop(&eng->workers[i]);
    /* workers are joined: what remains is single-threaded teardown (forks send their BYE) */
    for (int i = 0; i < eng->nworkers; i++)
        sc_worker_destroy(&eng->workers[i]);
    free(eng->workers);
    sc_idmap_free(&eng->legs);
    sc_idmap_free(&eng->forks);
    sc_events_destroy(&eng->events);
    free(eng);
}

uint64_t sc_engine_new_id(sc_engine *eng)
{
    return eng->next_id++;
}

uint32_t sc_random32(void)
{
    uint32_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        if (errno != EINTR)
            break;
    }
    return v;
}

void sc_emit(sc_engine *eng, sc_event_kind kind, uint64_t leg_id, uint64_t fork_id,
             uint64_t player_id, uint32_t ssrc, uint32_t old_ssrc, int64_t now)
{
    sc_event ev = {.kind = kind, .leg_id = leg_id, .fork_id = fork_id, .player_id = player_id,
                   .ssrc = ssrc, .old_ssrc = old_ssrc, .time_ns = now ? now : sc_mono_ns()};
    sc_events_push(&eng->events, &ev);
}
