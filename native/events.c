/* Engine -> Python event queue: see events.h. */
#define _GNU_SOURCE 1
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

int sc_events_init(sc_events *q)
{
    q->ring = calloc(SC_EVENTS_CAP, sizeof *q->ring);
    if (!q->ring) {
        errno = ENOMEM;
        return -1;
    }
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->fd < 0) {
        free(q->ring);
        q->ring = NULL;
        return -1;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->head = q->count = 0;
    q->dropped = 0;
    return 0;
}

void sc_events_destroy(sc_events *q)
{
    if (!q->ring)
        return;
    close(q->fd);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    q->ring = NULL;
}

void sc_events_push(sc_events *q, const sc_event *ev)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == SC_EVENTS_CAP) {
        q->dropped++;
    } else {
        q->ring[(q->head + q->count) % SC_EVENTS_CAP] = *ev;
        q->count++;
    }
    pthread_mutex_unlock(&q->lock);
    uint64_t one = 1;
    ssize_t r = write(q->fd, &one, sizeof one); /* EAGAIN only when the counter saturates */
    (void)r;
}

uint32_t sc_events_drain(sc_events *q, sc_event *out, uint32_t max)
{
    uint64_t counter;
    ssize_t r = read(q->fd, &counter, sizeof counter); /* re-arm before draining: no lost wake */
    (void)r;
    pthread_mutex_lock(&q->lock);
    uint32_t n = q->count < max ? q->count : max;
    for (uint32_t i = 0; i < n; i++)
        out[i] = q->ring[(q->head + i) % SC_EVENTS_CAP];
    q->head = (q->head + n) % SC_EVENTS_CAP;
    q->count -= n;
    if (q->count) { /* more than max: keep the fd readable */
        uint64_t one = 1;
        r = write(q->fd, &one, sizeof one);
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}
