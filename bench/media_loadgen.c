/* Load generator for bench/media.py: one "phone" socket per leg and one SRS sink.
 *
 * Phone i sends G.711-sized RTP (172 bytes) to target port i from a fixed source port (relays
 * latch onto it) and receives what the relay sends back to it. Each payload carries the send
 * time (CLOCK_MONOTONIC ns) and a phase number, so the receiver thread measures relay latency
 * and which streams got through in the current phase. The SRS sink counts fork copies.
 *
 * usage: media_loadgen TARGETS_FILE SINK_PORT
 * stdin: "run PHASE RATE SECONDS" (RATE 0 = as fast as possible) -> one JSON line per run.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define HIST_US 100000 /* latency histogram: 1 us buckets up to 100 ms */

static int n;
static int *fds;
static struct sockaddr_in *targets;
static int sink_fd;
static uint32_t cur_phase;
static uint32_t *stream_phase; /* last phase seen at phone i */
static uint64_t relay_rx, fork_rx, hist_over;
static uint32_t *hist;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *receiver(void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0xFFFFFFFFu};
    epoll_ctl(ep, EPOLL_CTL_ADD, sink_fd, &sev);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr rx[BATCH];
    struct iovec iov[BATCH];
    struct epoll_event evs[64];
    for (;;) {
        int ne = epoll_wait(ep, evs, 64, 100);
        for (int e = 0; e < ne; e++) {
            uint32_t i = evs[e].data.u32;
            int fd = i == 0xFFFFFFFFu ? sink_fd : fds[i];
            for (int k = 0; k < BATCH; k++) {
                iov[k].iov_base = bufs[k];
                iov[k].iov_len = sizeof bufs[k];
                memset(&rx[k].msg_hdr, 0, sizeof rx[k].msg_hdr);
                rx[k].msg_hdr.msg_iov = &iov[k];
                rx[k].msg_hdr.msg_iovlen = 1;
            }
            int got = recvmmsg(fd, rx, BATCH, MSG_DONTWAIT, NULL);
            if (got <= 0)
                continue;
            if (fd == sink_fd) {
                __atomic_add_fetch(&fork_rx, (uint64_t)got, __ATOMIC_RELAXED);
                continue;
            }
            int64_t t = now_ns();
            uint32_t phase = __atomic_load_n(&cur_phase, __ATOMIC_ACQUIRE);
            for (int k = 0; k < got; k++) {
                if (rx[k].msg_len < 24)
                    continue;
                int64_t sent;
                uint32_t p;
                memcpy(&sent, bufs[k] + 12, 8);
                memcpy(&p, bufs[k] + 20, 4);
                if (p != phase)
                    continue;
                __atomic_add_fetch(&relay_rx, 1, __ATOMIC_RELAXED);
                stream_phase[i] = p;
                int64_t us = (t - sent) / 1000;
                if (us >= 0 && us < HIST_US)
                    __atomic_add_fetch(&hist[us], 1, __ATOMIC_RELAXED);
                else
                    __atomic_add_fetch(&hist_over, 1, __ATOMIC_RELAXED);
            }
        }
    }
    return NULL;
}

static double percentile(uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * (double)total), acc = 0;
    for (int us = 0; us < HIST_US; us++) {
        acc += hist[us];
        if (acc > want)
            return us;
    }
    return HIST_US;
}

static void run(uint32_t phase, double rate, double seconds)
{
    memset(hist, 0, sizeof(uint32_t) * HIST_US);
    hist_over = 0;
    uint64_t relay0 = __atomic_load_n(&relay_rx, __ATOMIC_RELAXED);
    uint64_t fork0 = __atomic_load_n(&fork_rx, __ATOMIC_RELAXED);
    __atomic_store_n(&cur_phase, phase, __ATOMIC_RELEASE);
    uint8_t pkt[172] = {0x80, 0};
    memset(pkt + 24, 0xff, sizeof pkt - 24);
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    uint64_t sent = 0, failed = 0;
    static uint16_t *seqs;
    if (!seqs)
        seqs = calloc((size_t)n, sizeof *seqs);
    for (;;) {
        int64_t t = now_ns();
        if (t >= end)
            break;
        uint64_t due = rate > 0 ? (uint64_t)((double)(t - start) * rate / 1e9) + 1 : sent + BATCH;
        if (due <= sent) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        while (sent < due) {
            int i = (int)(sent % (uint64_t)n);
            uint16_t seq = seqs[i]++;
            pkt[2] = (uint8_t)(seq >> 8);
            pkt[3] = (uint8_t)seq;
            uint32_t ts32 = (uint32_t)seq * 160, ssrc = 0x10000u + (uint32_t)i;
            uint32_t be_ts = htonl(ts32), be_ssrc = htonl(ssrc);
            memcpy(pkt + 4, &be_ts, 4);
            memcpy(pkt + 8, &be_ssrc, 4);
            int64_t now = now_ns();
            memcpy(pkt + 12, &now, 8);
            memcpy(pkt + 20, &phase, 4);
            if (sendto(fds[i], pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&targets[i],
                       sizeof targets[i]) < 0)
                failed++;
            sent++;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    struct timespec grace = {0, 300000000};
    nanosleep(&grace, NULL);
    uint64_t relay = __atomic_load_n(&relay_rx, __ATOMIC_RELAXED) - relay0;
    uint64_t fork = __atomic_load_n(&fork_rx, __ATOMIC_RELAXED) - fork0;
    int streams = 0;
    for (int i = 0; i < n; i++)
        streams += stream_phase[i] == phase;
    uint64_t total = relay;
    printf("{\"phase\": %u, \"sent\": %llu, \"send_failed\": %llu, \"elapsed\": %.4f, "
           "\"relay_rx\": %llu, \"fork_rx\": %llu, \"streams_ok\": %d, \"streams\": %d, "
           "\"p50_us\": %.0f, \"p99_us\": %.0f, \"over_100ms\": %llu}\n",
           phase, (unsigned long long)sent, (unsigned long long)failed, elapsed,
           (unsigned long long)relay, (unsigned long long)fork, streams, n,
           percentile(total, 0.5), percentile(total, 0.99), (unsigned long long)hist_over);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    FILE *f = fopen(argv[1], "r");
    if (!f)
        return 1;
    int cap = 1024, port;
    targets = malloc(sizeof *targets * (size_t)cap);
    while (fscanf(f, "%d", &port) == 1) {
        if (n == cap)
            targets = realloc(targets, sizeof *targets * (size_t)(cap *= 2));
        targets[n] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &targets[n].sin_addr);
        n++;
    }
    fclose(f);
    fds = malloc(sizeof *fds * (size_t)n);
    stream_phase = calloc((size_t)n, sizeof *stream_phase);
    hist = calloc(HIST_US, sizeof *hist);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int size = 1 << 20;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        bind(fds[i], (struct sockaddr *)&a, sizeof a);
    }
    sink_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int size = 4 << 20;
    setsockopt(sink_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &s.sin_addr);
    if (bind(sink_fd, (struct sockaddr *)&s, sizeof s) < 0) {
        perror("bind sink");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, receiver, NULL);
    printf("ready\n");
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        unsigned phase;
        double rate, seconds;
        if (sscanf(line, "run %u %lf %lf", &phase, &rate, &seconds) == 3)
            run(phase, rate, seconds);
        else
            break;
    }
    return 0;
}
