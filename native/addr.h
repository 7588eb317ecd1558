/* Socket addresses for IPv4 and IPv6 media, parsed from numeric strings only: the engine never
 * resolves names (SDP carries addresses, and a DNS lookup must not block a worker). */
#ifndef SC_ADDR_H
#define SC_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

typedef union sc_addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} sc_addr;

/* 0 = ok, -1 = not a numeric IPv4/IPv6 address or port out of range */
int sc_addr_parse(const char *host, int port, sc_addr *out);
bool sc_addr_equal(const sc_addr *a, const sc_addr *b);
bool sc_addr_same_host(const sc_addr *a, const sc_addr *b); /* the IP only; false if unset */
socklen_t sc_addr_len(const sc_addr *a);
int sc_addr_port(const sc_addr *a);
static inline bool sc_addr_set(const sc_addr *a) { return a->sa.sa_family != AF_UNSPEC; }

#endif
