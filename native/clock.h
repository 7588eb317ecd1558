/* Clocks: CLOCK_MONOTONIC drives pacing and timeouts (it is what Python's time.monotonic()
 * reads on Linux); CLOCK_REALTIME only feeds RTCP SR NTP timestamps (RFC 3550 §4). */
#ifndef SC_CLOCK_H
#define SC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SC_NS_PER_S 1000000000LL
#define SC_NTP_UNIX_OFFSET 2208988800ULL /* seconds from 1900-01-01 to 1970-01-01 */

static inline int64_t sc_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SC_NS_PER_S + ts.tv_nsec;
}

/* 64-bit NTP timestamp: seconds since 1900 in the high word, binary fraction in the low word */
static inline uint64_t sc_ntp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t frac = ((uint64_t)ts.tv_nsec << 32) / (uint64_t)SC_NS_PER_S;
    return (((uint64_t)ts.tv_sec + SC_NTP_UNIX_OFFSET) << 32) | frac;
}

#endif
