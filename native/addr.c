/* Socket address helpers: see addr.h. */
#define _GNU_SOURCE 1
#include "addr.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

_Static_assert(offsetof(struct sockaddr_in, sin_port) == offsetof(struct sockaddr_in6, sin6_port),
               "sc_addr_equal compares ports through v4");

int sc_addr_parse(const char *host, int port, sc_addr *out)
{
    if (port < 1 || port > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, host, &out->v4.sin_addr) == 1) {
        out->v4.sin_family = AF_INET;
        out->v4.sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &out->v6.sin6_addr) == 1) {
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_port = htons((uint16_t)port);
        return 0;
    }
    memset(out, 0, sizeof *out);
    return -1;
}

bool sc_addr_equal(const sc_addr *a, const sc_addr *b)
{
    /* sin_port and sin6_port share their offset, so this compares either family's port */
    return a->v4.sin_port == b->v4.sin_port && sc_addr_same_host(a, b);
}

bool sc_addr_same_host(const sc_addr *a, const sc_addr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return false;
    if (a->sa.sa_family == AF_INET)
        return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
    if (a->sa.sa_family == AF_INET6)
        return memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof a->v6.sin6_addr) == 0;
    return false;
}

socklen_t sc_addr_len(const sc_addr *a)
{
    return a->sa.sa_family == AF_INET6 ? sizeof a->v6 : sizeof a->v4;
}

int sc_addr_port(const sc_addr *a)
{
    if (a->sa.sa_family == AF_INET6)
        return ntohs(a->v6.sin6_port);
    if (a->sa.sa_family == AF_INET)
        return ntohs(a->v4.sin_port);
    return 0;
}
