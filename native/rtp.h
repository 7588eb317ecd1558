/* RTP/RTCP header validation (RFC 3550 §5.1, appendix A.1/A.2; RFC 5761 §4 demultiplexing)
 * and the few RTCP packets the engine writes itself (SR, RR, SDES CNAME, BYE).
 *
 * Everything here is pure: byte strings in, verdicts or bytes out, no allocation. The parser is
 * the engine's only defence against hostile input, so every length is checked before it is used.
 */
#ifndef SC_RTP_H
#define SC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SC_RTP_HEADER 12

typedef struct sc_rtp_info {
    uint8_t pt;
    bool marker;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    size_t hdr_len;     /* fixed header + CSRC list + extension */
    size_t payload_len; /* without padding */
} sc_rtp_info;

/* RFC 5761 §4: a second octet in 192..223 is RTCP (SR 200 .. PSFB 206, and room around). */
static inline bool sc_rtcp_octet(uint8_t second) { return second >= 192 && second <= 223; }

static inline uint16_t sc_rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sc_rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void sc_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void sc_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* 0 and *out filled when pkt is a well-formed RTP packet, -1 otherwise. */
int sc_rtp_parse(const uint8_t *pkt, size_t len, sc_rtp_info *out);
/* true when pkt starts with a plausible RTCP packet: only the first header is checked because
 * SRTCP encrypts everything after it; RTCP from legs is relayed, never forked. */
bool sc_rtcp_valid(const uint8_t *pkt, size_t len);

/* Writers return the number of bytes written; buffers must be large enough (see sizes). */
#define SC_RTCP_SR_LEN 28
#define SC_RTCP_RR_LEN 8
#define SC_RTCP_BYE_LEN 8
#define SC_RTCP_CNAME_MAX 64
#define SC_RTCP_SDES_MAX (8 + 2 + SC_RTCP_CNAME_MAX + 4)
size_t sc_rtcp_write_sr(uint8_t *buf, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                        uint32_t packets, uint32_t octets);
size_t sc_rtcp_write_rr(uint8_t *buf, uint32_t ssrc);
size_t sc_rtcp_write_sdes_cname(uint8_t *buf, uint32_t ssrc, const char *cname, size_t len);
size_t sc_rtcp_write_bye(uint8_t *buf, uint32_t ssrc);

#endif
