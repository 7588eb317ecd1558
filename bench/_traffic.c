/* Test traffic for bench/media.py: the phones' streams plus one SRS sink.
 *
 * Python cannot send or receive a few hundred thousand datagrams a second, so the bench
 * compiles this at run time (gcc -O2) and drives it over stdin.
 *
 * Stream i sends G.711-sized RTP (12-byte header + 160-byte payload, PT 0, 20 ms of timestamp
 * per packet) to target port i from a fixed source port (relays latch onto it) and receives
 * what the relay sends back. Consecutive streams share one of at most SOCKETS phone sockets,
 * so that one sendmmsg/recvmmsg moves a batch of streams' packets: the generator measures the
 * forwarder, and with a socket per stream its own per-datagram system calls would cost more
 * than the forwarder under test (the forwarder still reads and writes each leg's socket). The first payload bytes carry the send time
 * (CLOCK_MONOTONIC ns), the run's phase number and the stream index, so the receiver thread
 * measures latency and which streams got through in the current run. The sink receives the
 * fork copies: plain ones are attributed to their stream the same way; SRTP ones (longer, the
 * payload is ciphertext) are only counted; RTCP (sender reports, BYE) is ignored.
 *
 * usage: _traffic TARGETS_FILE SINK_FD LIFETIME_S (SINK_FD: a bound, non-blocking UDP socket)
 * stdin: "run PHASE RATE SECONDS" (RATE 0 = as fast as it can) -> one JSON line per run.
 * Bounded: a run lasts at most MAX_RUN_S and sends at most MAX_RUN_PACKETS; the process
 * exits on EOF on stdin or after LIFETIME_S seconds, whichever comes first.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define SOCKETS 8
#define PKT_LEN 172           /* RTP header + 20 ms of G.711 */
#define HIST_US 100000        /* latency histogram: 1 us buckets up to 100 ms */
#define MAX_RUN_S 10.0
#define MAX_RUN_PACKETS 20000000ULL
#define GRACE_NS 300000000LL  /* after the last send, wait for packets still in flight */

typedef struct {
    uint64_t count;
    uint64_t over; /* later than the histogram's range, or clock oddities */
    uint32_t hist[HIST_US];
} latency_t;

static int n, nsock;
static int fds[SOCKETS];
static struct sockaddr_in *targets;
static int sink_fd;
static uint32_t cur_phase;
static uint32_t *relay_phase, *fork_phase; /* last phase seen per stream */
static uint64_t relay_rx, fork_rx;          /* every packet of the current run */
static latency_t relay_lat, fork_lat;

static int sock_of(uint32_t stream)
{
    return (int)((uint64_t)stream * (uint64_t)nsock / (uint64_t)n);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void record(latency_t *lat, int64_t now, const uint8_t *p)
{
    int64_t sent;
    memcpy(&sent, p + 12, 8);
    int64_t us = (now - sent) / 1000;
    lat->count++;
    if (us >= 0 && us < HIST_US)
        lat->hist[us]++;
    else
        lat->over++;
}

/* The stream a stamped packet of the current phase belongs to, or -1. */
static int stamped_stream(const uint8_t *p, size_t len, uint32_t phase)
{
    if (len != PKT_LEN)
        return -1;
    uint32_t ph, stream;
    memcpy(&ph, p + 20, 4);
    memcpy(&stream, p + 24, 4);
    return ph == phase && stream < (uint32_t)n ? (int)stream : -1;
}

static void *receiver(void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    for (int i = 0; i < nsock; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, sink_fd, &sev);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr rx[BATCH];
    struct iovec iov[BATCH];
    struct epoll_event evs[64];
    for (;;) {
        int ne = epoll_wait(ep, evs, 64, 100);
        for (int e = 0; e < ne; e++) {
            uint32_t id = evs[e].data.u32;
            int is_sink = id == UINT32_MAX;
            for (int k = 0; k < BATCH; k++) {
                iov[k] = (struct iovec){bufs[k], sizeof bufs[k]};
                memset(&rx[k].msg_hdr, 0, sizeof rx[k].msg_hdr);
                rx[k].msg_hdr.msg_iov = &iov[k];
                rx[k].msg_hdr.msg_iovlen = 1;
            }
            int got = recvmmsg(is_sink ? sink_fd : fds[id], rx, BATCH, MSG_DONTWAIT, NULL);
            int64_t t = now_ns();
            uint32_t phase = __atomic_load_n(&cur_phase, __ATOMIC_ACQUIRE);
            for (int k = 0; k < got; k++) {
                const uint8_t *p = bufs[k];
                size_t len = rx[k].msg_len;
                if (len < 12 || (p[1] >= 200 && p[1] <= 204))
                    continue; /* RTCP: the forks' sender reports and BYEs */
                int stream = stamped_stream(p, len, phase);
                if (is_sink) {
                    /* plain copies of an earlier run are not counted, SRTP ones cannot be told
                     * apart (a settle run between measurements keeps them out) */
                    if (len == PKT_LEN && stream < 0)
                        continue;
                    __atomic_add_fetch(&fork_rx, 1, __ATOMIC_RELAXED);
                    if (stream >= 0) {
                        fork_phase[stream] = phase;
                        record(&fork_lat, t, p);
                    }
                } else if (stream >= 0) {
                    __atomic_add_fetch(&relay_rx, 1, __ATOMIC_RELAXED);
                    relay_phase[stream] = phase;
                    record(&relay_lat, t, p);
                }
            }
        }
    }
    return NULL;
}

static double percentile(const latency_t *lat, double q)
{
    if (lat->count == 0)
        return -1;
    uint64_t want = (uint64_t)(q * (double)lat->count), acc = 0;
    for (int us = 0; us < HIST_US; us++) {
        acc += lat->hist[us];
        if (acc > want)
            return us;
    }
    return HIST_US;
}

static void run(uint32_t phase, double rate, double seconds)
{
    if (seconds > MAX_RUN_S)
        seconds = MAX_RUN_S;
    /* the receiver only counts packets stamped with the current phase: switching the phase
     * first means nothing of the previous run is counted in this one */
    __atomic_store_n(&cur_phase, phase, __ATOMIC_RELEASE);
    memset(&relay_lat, 0, sizeof relay_lat);
    memset(&fork_lat, 0, sizeof fork_lat);
    __atomic_store_n(&relay_rx, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fork_rx, 0, __ATOMIC_RELAXED);
    static uint16_t *seqs;
    static uint8_t (*pkts)[PKT_LEN];
    if (!seqs) {
        seqs = calloc((size_t)n, sizeof *seqs);
        pkts = malloc(sizeof *pkts * BATCH);
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int k = 0; k < BATCH; k++) {
        memset(pkts[k], 0xff, PKT_LEN); /* mu-law silence after the stamp */
        pkts[k][0] = 0x80;              /* V=2 */
        pkts[k][1] = 0;                 /* PT 0 (PCMU) */
        memcpy(pkts[k] + 20, &phase, 4);
        iov[k] = (struct iovec){pkts[k], PKT_LEN};
    }
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    uint64_t sent = 0, failed = 0;
    while (sent < MAX_RUN_PACKETS) {
        int64_t t = now_ns();
        if (t >= end)
            break;
        uint64_t due = rate > 0 ? (uint64_t)((double)(t - start) * rate / 1e9) + 1 : sent + BATCH;
        if (due <= sent) {
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
            continue;
        }
        while (sent < due && sent < MAX_RUN_PACKETS) {
            /* one batch: consecutive streams on the same phone socket */
            int sock = sock_of((uint32_t)(sent % (uint64_t)n));
            int k = 0;
            int64_t stamp = now_ns();
            for (; k < BATCH && sent + (uint64_t)k < due; k++) {
                uint32_t i = (uint32_t)((sent + (uint64_t)k) % (uint64_t)n);
                if (sock_of(i) != sock)
                    break;
                uint8_t *p = pkts[k];
                uint16_t seq = seqs[i]++;
                uint32_t ts32 = htonl((uint32_t)seq * 160), ssrc = htonl(0x10000u + i);
                p[2] = (uint8_t)(seq >> 8);
                p[3] = (uint8_t)seq;
                memcpy(p + 4, &ts32, 4);
                memcpy(p + 8, &ssrc, 4);
                memcpy(p + 12, &stamp, 8);
                memcpy(p + 24, &i, 4);
                memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
                msgs[k].msg_hdr.msg_iov = &iov[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
                msgs[k].msg_hdr.msg_name = &targets[i];
                msgs[k].msg_hdr.msg_namelen = sizeof targets[i];
            }
            int done = 0;
            while (done < k) {
                int r = sendmmsg(fds[sock], msgs + done, (unsigned)(k - done), MSG_DONTWAIT);
                if (r <= 0) {
                    failed++; /* the first remaining one failed: skip it */
                    r = 1;
                }
                done += r;
            }
            sent += (uint64_t)k;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    struct timespec grace = {0, GRACE_NS};
    nanosleep(&grace, NULL);
    int relay_streams = 0, fork_streams = 0, both = 0;
    for (int i = 0; i < n; i++) {
        int r = relay_phase[i] == phase, f = fork_phase[i] == phase;
        relay_streams += r;
        fork_streams += f;
        both += r && f;
    }
    printf("{\"phase\": %u, \"sent\": %llu, \"send_failed\": %llu, \"elapsed\": %.4f, "
           "\"relay_rx\": %llu, \"fork_rx\": %llu, \"streams\": %d, \"relay_streams\": %d, "
           "\"fork_streams\": %d, \"both_streams\": %d, "
           "\"relay_p50_us\": %.0f, \"relay_p99_us\": %.0f, \"relay_over_100ms\": %llu, "
           "\"fork_p50_us\": %.0f, \"fork_p99_us\": %.0f}\n",
           phase, (unsigned long long)sent, (unsigned long long)failed, elapsed,
           (unsigned long long)__atomic_load_n(&relay_rx, __ATOMIC_RELAXED),
           (unsigned long long)__atomic_load_n(&fork_rx, __ATOMIC_RELAXED), n, relay_streams,
           fork_streams, both, percentile(&relay_lat, 0.5), percentile(&relay_lat, 0.99),
           (unsigned long long)relay_lat.over, percentile(&fork_lat, 0.5),
           percentile(&fork_lat, 0.99));
    fflush(stdout);
}

static int udp_socket(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: _traffic TARGETS_FILE SINK_FD LIFETIME_S\n");
        return 2;
    }
    alarm((unsigned)atoi(argv[3]));
    prctl(PR_SET_TIMERSLACK, 1UL); /* pacing sleeps are 10 us, not 10 us + 50 us of slack */
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
    if (n == 0)
        return 2;
    relay_phase = calloc((size_t)n, sizeof *relay_phase);
    fork_phase = calloc((size_t)n, sizeof *fork_phase);
    nsock = n < SOCKETS ? n : SOCKETS;
    for (int i = 0; i < nsock; i++) {
        if ((fds[i] = udp_socket(0, 4 << 20)) < 0) {
            perror("phone socket");
            return 1;
        }
    }
    sink_fd = atoi(argv[2]); /* bound by the bench, so its port was known before we ran */
    if (fcntl(sink_fd, F_GETFD) < 0) {
        perror("sink descriptor");
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
        if (sscanf(line, "run %u %lf %lf", &phase, &rate, &seconds) != 3)
            return 2;
        run(phase, rate, seconds);
    }
    return 0;
}
