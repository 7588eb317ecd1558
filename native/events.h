/* Engine -> Python event queue. Workers push (rare: first packet, media timeout, SSRC change,
 * player done) under a mutex of its own and poke an eventfd that asyncio watches with
 * loop.add_reader; Python drains the queue. Bounded: when Python does not drain, the oldest
 * events are kept and newer ones counted as dropped. */
#ifndef SC_EVENTS_H
#define SC_EVENTS_H

#include <pthread.h>
#include <stdint.h>

typedef enum {
    SC_EV_FIRST_PACKET = 1,
    SC_EV_MEDIA_TIMEOUT = 2,
    SC_EV_SSRC_CHANGE = 3,
    SC_EV_PLAYER_DONE = 4,
} sc_event_kind;

typedef struct sc_event {
    sc_event_kind kind;
    uint64_t leg_id;
    uint64_t fork_id;   /* 0 = none */
    uint64_t player_id; /* 0 = none */
    uint32_t ssrc, old_ssrc;
    int64_t time_ns; /* CLOCK_MONOTONIC */
} sc_event;

#define SC_EVENTS_CAP 4096

typedef struct sc_events {
    pthread_mutex_t lock;
    int fd; /* eventfd, non-blocking */
    sc_event *ring;
    uint32_t head, count;
    uint64_t dropped;
} sc_events;

int sc_events_init(sc_events *q); /* 0 = ok, -1 = errno set */
void sc_events_destroy(sc_events *q);
void sc_events_push(sc_events *q, const sc_event *ev);
/* moves up to max events into out; returns the number moved */
uint32_t sc_events_drain(sc_events *q, sc_event *out, uint32_t max);

#endif
