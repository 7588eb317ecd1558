/* The raw floor for bench/media.py: the least work a relay (+ fork) can do on Linux.
 *
 * Legs are sockets paired (0,1), (2,3), ...; a datagram received on leg i is sent unchanged,
 * with no validation and no rules, from leg i^1 to the last source seen on leg i^1 (the relay)
 * and, with forks on, from leg i to the SRS address (the fork copy). One thread, epoll, one
 * recvmmsg per readable socket and one sendmmsg per output socket, batches of 32, default
 * socket buffers: the same kernel work as the engine with none of its logic.
 *
 * usage: floor_forwarder NLEGS SRS_PORT FORKS(0|1) LIFETIME_S
 * prints each leg's port, one per line, then "ready". On each line read from stdin it prints
 * the number of datagrams received so far; it exits on EOF or after LIFETIME_S seconds.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define CONTROL UINT32_MAX

typedef struct {
    int fd;
    struct sockaddr_in remote;
    int have_remote;
} leg_t;

static void set_msg(struct mmsghdr *m, struct iovec *iov, struct sockaddr_in *addr)
{
    memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
    m->msg_hdr.msg_iov = iov;
    m->msg_hdr.msg_iovlen = 1;
    m->msg_hdr.msg_name = addr;
    m->msg_hdr.msg_namelen = sizeof *addr;
}

/* Answers each control line with the receive count; returns 0 on EOF. */
static int control(unsigned long long received)
{
    char buf[256];
    ssize_t r = read(0, buf, sizeof buf);
    if (r <= 0)
        return 0;
    for (ssize_t k = 0; k < r; k++) {
        if (buf[k] == '\n')
            printf("%llu\n", received);
    }
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: floor_forwarder NLEGS SRS_PORT FORKS LIFETIME_S\n");
        return 2;
    }
    int n = atoi(argv[1]) & ~1, forks = atoi(argv[3]);
    alarm((unsigned)atoi(argv[4]));
    struct sockaddr_in srs = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &srs.sin_addr);
    leg_t *legs = calloc((size_t)n, sizeof *legs);
    int ep = epoll_create1(0);
    if (!legs || ep < 0)
        return 1;
    for (int i = 0; i < n; i++) {
        legs[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (legs[i].fd < 0 || bind(legs[i].fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("leg socket");
            return 1;
        }
        socklen_t len = sizeof a;
        getsockname(legs[i].fd, (struct sockaddr *)&a, &len);
        printf("%d\n", ntohs(a.sin_port));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, legs[i].fd, &ev);
    }
    struct epoll_event ctl = {.events = EPOLLIN, .data.u32 = CONTROL};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ctl);
    printf("ready\n");
    fflush(stdout);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr rx[BATCH], relay[BATCH], fork[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    struct epoll_event evs[64];
    unsigned long long received = 0;
    for (;;) {
        int ne = epoll_wait(ep, evs, 64, -1);
        for (int e = 0; e < ne; e++) {
            uint32_t i = evs[e].data.u32;
            if (i == CONTROL) {
                if (!control(received))
                    return 0;
                continue;
            }
            for (int k = 0; k < BATCH; k++) {
                iov[k] = (struct iovec){bufs[k], sizeof bufs[k]};
                set_msg(&rx[k], &iov[k], &from[k]);
            }
            int got = recvmmsg(legs[i].fd, rx, BATCH, MSG_DONTWAIT, NULL);
            if (got <= 0)
                continue;
            received += (unsigned long long)got;
            leg_t *me = &legs[i], *peer = &legs[i ^ 1];
            me->remote = from[got - 1]; /* latching, without any check */
            me->have_remote = 1;
            for (int k = 0; k < got; k++) {
                iov[k].iov_len = rx[k].msg_len;
                set_msg(&relay[k], &iov[k], &peer->remote);
                set_msg(&fork[k], &iov[k], &srs);
            }
            if (peer->have_remote)
                sendmmsg(peer->fd, relay, (unsigned)got, MSG_DONTWAIT);
            if (forks)
                sendmmsg(me->fd, fork, (unsigned)got, MSG_DONTWAIT);
        }
    }
}
