/* RTP/RTCP validation and RTCP writers: see rtp.h. */
#include "rtp.h"

#include <string.h>

int sc_rtp_parse(const uint8_t *pkt, size_t len, sc_rtp_info *out)
{
    if (len < SC_RTP_HEADER || (pkt[0] >> 6) != 2 || sc_rtcp_octet(pkt[1]))
        return -1;
    size_t hdr = SC_RTP_HEADER + 4u * (pkt[0] & 0x0f);
    if (hdr > len)
        return -1;
    if (pkt[0] & 0x10) { /* RFC 3550 §5.3.1: 16-bit profile, 16-bit length in words */
        if (hdr + 4 > len)
            return -1;
        hdr += 4 + 4u * sc_rd16(pkt + hdr + 2);
        if (hdr > len)
            return -1;
    }
    size_t pad = 0;
    if (pkt[0] & 0x20) { /* last octet counts the padding, itself included (§5.1) */
        pad = pkt[len - 1];
        if (pad == 0 || pad > len - hdr)
            return -1;
    }
    out->pt = pkt[1] & 0x7f;
    out->marker = (pkt[1] & 0x80) != 0;
    out->seq = sc_rd16(pkt + 2);
    out->ts = sc_rd32(pkt + 4);
    out->ssrc = sc_rd32(pkt + 8);
    out->hdr_len = hdr;
    out->payload_len = len - hdr - pad;
    return 0;
}

bool sc_rtcp_valid(const uint8_t *pkt, size_t len)
{
    if (len < 8 || (pkt[0] >> 6) != 2 || !sc_rtcp_octet(pkt[1]))
        return false;
    size_t first = ((size_t)sc_rd16(pkt + 2) + 1) * 4;
    if (first > len)
        return false;
    if ((pkt[0] & 0x20) && first == len) { /* padding only on the last packet (A.2) */
        uint8_t pad = pkt[len - 1];
        if (pad == 0 || pad > len - 8)
            return false;
    }
    return true;
}

static void rtcp_header(uint8_t *buf, uint8_t count, uint8_t pt, size_t len)
{
    buf[0] = (uint8_t)(0x80 | count);
    buf[1] = pt;
    sc_wr16(buf + 2, (uint16_t)(len / 4 - 1));
}

size_t sc_rtcp_write_sr(uint8_t *buf, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                        uint32_t packets, uint32_t octets)
{
    rtcp_header(buf, 0, 200, SC_RTCP_SR_LEN);
    sc_wr32(buf + 4, ssrc);
    sc_wr32(buf + 8, (uint32_t)(ntp >> 32));
    sc_wr32(buf + 12, (uint32_t)ntp);
    sc_wr32(buf + 16, rtp_ts);
    sc_wr32(buf + 20, packets);
    sc_wr32(buf + 24, octets);
    return SC_RTCP_SR_LEN;
}

size_t sc_rtcp_write_rr(uint8_t *buf, uint32_t ssrc)
{
    rtcp_header(buf, 0, 201, SC_RTCP_RR_LEN);
    sc_wr32(buf + 4, ssrc);
    return SC_RTCP_RR_LEN;
}

size_t sc_rtcp_write_sdes_cname(uint8_t *buf, uint32_t ssrc, const char *cname, size_t len)
{
    if (len > SC_RTCP_CNAME_MAX)
        len = SC_RTCP_CNAME_MAX;
    /* chunk: SSRC, CNAME item (type 1, length, text), then at least one null octet ending the
     * item list, padded to a 32-bit boundary (RFC 3550 §6.5) */
    size_t chunk = 4 + 2 + len + 1;
    chunk = (chunk + 3) & ~(size_t)3;
    size_t total = 4 + chunk;
    memset(buf, 0, total);
    rtcp_header(buf, 1, 202, total);
    sc_wr32(buf + 4, ssrc);
    buf[8] = 1;
    buf[9] = (uint8_t)len;
    memcpy(buf + 10, cname, len);
    return total;
}

size_t sc_rtcp_write_bye(uint8_t *buf, uint32_t ssrc)
{
    rtcp_header(buf, 1, 203, SC_RTCP_BYE_LEN);
    sc_wr32(buf + 4, ssrc);
    return SC_RTCP_BYE_LEN;
}
