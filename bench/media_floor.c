/* The raw floor for bench/media.py: the least work a relay + fork can do on Linux.
 *
 * Legs are sockets paired (0,1), (2,3), ...; a packet received on leg i is sent, unchanged and
 * without any validation, from leg i^1 to the last source seen on leg i^1 (the relay), and from
 * leg i to the SRS address (the fork copy). epoll + recvmmsg/sendmmsg, batches of 32, one
 * thread: the same kernel work as the engine with none of its rules.
 *
 * usage: media_floor NLEGS SRS_PORT  -> prints each leg's port, one per line, then "ready";
 * runs until stdin closes.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32

typedef struct {
    int fd;
    struct sockaddr_in remote;
    int have_remote;
} leg_t;

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int n = atoi(argv[1]);
    struct sockaddr_in srs = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &srs.sin_addr);
    leg_t *legs = calloc((size_t)n, sizeof *legs);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        legs[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int size = 1 << 20;
        setsockopt(legs[i].fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(legs[i].fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (bind(legs[i].fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("bind");
            return 1;
        }
        socklen_t len = sizeof a;
        getsockname(legs[i].fd, (struct sockaddr *)&a, &len);
        printf("%d\n", ntohs(a.sin_port));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, legs[i].fd, &ev);
    }
    struct epoll_event stdin_ev = {.events = EPOLLIN, .data.u32 = 0xFFFFFFFFu};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &stdin_ev);
    printf("ready\n");
    fflush(stdout);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr rx[BATCH], relay[BATCH], fork[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    struct epoll_event evs[64];
    for (;;) {
        int ne = epoll_wait(ep, evs, 64, -1);
        for (int e = 0; e < ne; e++) {
            uint32_t i = evs[e].data.u32;
            if (i == 0xFFFFFFFFu)
                return 0; /* stdin closed or written: stop */
            for (int k = 0; k < BATCH; k++) {
                iov[k].iov_base = bufs[k];
                iov[k].iov_len = sizeof bufs[k];
                memset(&rx[k].msg_hdr, 0, sizeof rx[k].msg_hdr);
                rx[k].msg_hdr.msg_iov = &iov[k];
                rx[k].msg_hdr.msg_iovlen = 1;
                rx[k].msg_hdr.msg_name = &from[k];
                rx[k].msg_hdr.msg_namelen = sizeof from[k];
            }
            int got = recvmmsg(legs[i].fd, rx, BATCH, MSG_DONTWAIT, NULL);
            if (got <= 0)
                continue;
            leg_t *me = &legs[i], *peer = &legs[i ^ 1];
            me->remote = from[got - 1];
            me->have_remote = 1;
            int nr = 0;
            for (int k = 0; k < got; k++) {
                iov[k].iov_len = rx[k].msg_len;
                if (peer->have_remote) {
                    memset(&relay[nr].msg_hdr, 0, sizeof relay[nr].msg_hdr);
                    relay[nr].msg_hdr.msg_iov = &iov[k];
                    relay[nr].msg_hdr.msg_iovlen = 1;
                    relay[nr].msg_hdr.msg_name = &peer->remote;
                    relay[nr].msg_hdr.msg_namelen = sizeof peer->remote;
                    nr++;
                }
                memset(&fork[k].msg_hdr, 0, sizeof fork[k].msg_hdr);
                fork[k].msg_hdr.msg_iov = &iov[k];
                fork[k].msg_hdr.msg_iovlen = 1;
                fork[k].msg_hdr.msg_name = &srs;
                fork[k].msg_hdr.msg_namelen = sizeof srs;
            }
            if (nr)
                sendmmsg(peer->fd, relay, (unsigned)nr, MSG_DONTWAIT);
            sendmmsg(me->fd, fork, (unsigned)got, MSG_DONTWAIT);
        }
    }
}
