/* Forks: a copy of one direction of a leg, sent to the SRS as a stream of its own.
 *
 * The output is a new RTP source (RFC 3550 §5.1, §8): own random SSRC, a sequence number that
 * advances only for packets actually sent (dropped telephone-event packets, RFC 4733, leave no
 * gap), and timestamps mapped from the input by a constant offset so they keep the input's
 * clock; when the input SSRC changes (transfer, re-INVITE) the offset is recomputed so the
 * output clock continues from where it was plus the wall time elapsed. Only RTP is forked: the
 * call's RTCP describes the call's sources, the fork writes its own SR/SDES (and BYE).
 *
 * All functions run with the leg's worker lock held.
 */
#define _GNU_SOURCE 1 /* recvmmsg/sendmmsg */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"

/* The RTP socket of a fork only sends (the SRS's RTCP arrives on the RTCP socket), so it is
 * connected to the SRS: a send on a connected UDP socket without an address skips the kernel's
 * route lookup, ~0.3 us of the ~4.4 us a loopback datagram costs here. Not with a shared
 * RTP/RTCP socket (a donor leg with rtcp-mux), which must still hear the SRS's RTCP from any
 * port. An ICMP error from the SRS then fails the next send once (that datagram is dropped and
 * counted, like any failed send); the SRS was not listening anyway. */
static void connect_rtp(sc_fork *f)
{
    bool was = f->connected;
    f->connected = f->rtcp.fd >= 0 &&
                   connect(f->rtp.fd, &f->dest_rtp.sa, sc_addr_len(&f->dest_rtp)) == 0;
    if (was && !f->connected) { /* dissolve the old association: back to explicit addresses */
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        connect(f->rtp.fd, &unspec, sizeof unspec);
    }
}

sc_fork *sc_fork_new(sc_leg *leg, const sc_fork_config *cfg, int rtp_fd, int rtcp_fd, int port)
{
    sc_fork *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    sc_engine *eng = leg->worker->eng;
    f->obj.id = sc_engine_new_id(eng);
    f->obj.type = SC_OBJ_FORK;
    f->leg = leg;
    f->direction = cfg->direction;
    f->rtp = (sc_sock){.fd = rtp_fd, .role = SC_SOCK_RTP, .owner = &f->obj};
    f->rtcp = (sc_sock){.fd = rtcp_fd, .role = SC_SOCK_RTCP, .owner = &f->obj};
    f->local_port = port;
    f->have_dest = cfg->have_dest;
    f->dest_rtp = cfg->dest_rtp;
    f->dest_rtcp = cfg->dest_rtcp;
    memcpy(f->drop_pt, cfg->drop_pt, sizeof f->drop_pt);
    f->clock_rate = cfg->clock_rate;
    f->ssrc = cfg->have_ssrc ? cfg->ssrc : sc_random32();
    f->seq = (uint16_t)sc_random32();
    f->last_out_ts = sc_random32(); /* first packet's timestamp: random base (§5.1) */
    if (cfg->cname)
        snprintf(f->cname, sizeof f->cname, "%s", cfg->cname);
    else
        snprintf(f->cname, sizeof f->cname, "src-client-%08x", f->ssrc);
    if (f->have_dest)
        connect_rtp(f);
    f->inband = cfg->inband;
    f->inband_pt = -1;
    if (sc_idmap_put(&eng->forks, f->obj.id, f) < 0) {
        free(f);
        return NULL;
    }
    f->srtp = cfg->srtp;
    sc_worker_watch(leg->worker, &f->rtp);
    sc_worker_watch(leg->worker, &f->rtcp);
    f->next = leg->forks[f->direction];
    leg->forks[f->direction] = f;
    return f;
}

void sc_fork_set_destination(sc_fork *f, const sc_addr *rtp, const sc_addr *rtcp)
{
    f->dest_rtp = *rtp;
    f->dest_rtcp = *rtcp;
    f->have_dest = true;
    connect_rtp(f);
}

void sc_fork_set_paused(sc_fork *f, bool paused)
{
    /* the timestamp offset is kept: after a resume the output clock still tracks wall time, so
     * the SRS can place the audio and keep both tracks of the call aligned */
    f->paused = paused;
}

static uint32_t samples_since(const sc_fork *f, int64_t now)
{
    int64_t us = (now - f->last_out_ns) / 1000;
    if (us < 0)
        us = 0;
    return (uint32_t)((uint64_t)us * f->clock_rate / 1000000u);
}

void sc_fork_feed(sc_worker *w, sc_fork *f, const uint8_t *pkt, const sc_rtp_info *in,
                  int64_t now)
{
    if (f->paused || !f->have_dest)
        return;
    if (f->drop_pt[in->pt >> 6] & (1ULL << (in->pt & 63))) {
        f->c.dtmf_dropped++;
        return;
    }
    if (!f->started || in->ssrc != f->in_ssrc) {
        uint32_t base = f->started ? f->last_out_ts + samples_since(f, now) : f->last_out_ts;
        f->ts_offset = base - in->ts;
        f->in_ssrc = in->ssrc;
    }
    sc_lane *lane;
    uint8_t *out = sc_tx_slot(w, f->rtp.fd, &lane);
    uint32_t ts = in->ts + f->ts_offset;
    /* a clean 12-octet header: the call's CSRCs, extensions and padding mean nothing to the SRS */
    out[0] = 0x80;
    out[1] = (uint8_t)((in->marker ? 0x80 : 0) | in->pt);
    sc_wr16(out + 2, f->seq);
    sc_wr32(out + 4, ts);
    sc_wr32(out + 8, f->ssrc);
    uint8_t *payload = out + SC_RTP_HEADER;
    memcpy(payload, pkt + in->hdr_len, in->payload_len);
    if (f->inband && (in->pt == 0 || in->pt == 8)) {
        if (f->inband_pt != in->pt) {
            sc_inband_dtmf_init(&f->dtmf, in->pt);
            f->inband_pt = in->pt;
        }
        if (sc_inband_dtmf_filter(&f->dtmf, payload, in->payload_len))
            f->c.inband_dtmf_frames++;
    }
    size_t len = SC_RTP_HEADER + in->payload_len;
    if (f->srtp) {
        int r = sc_srtp_protect_rtp(f->srtp, out, len, SC_TX_SLOT);
        if (r < 0) {
            f->c.srtp_errors++;
            return;
        }
        len = (size_t)r;
    }
    sc_tx_commit(lane, f->connected ? NULL : &f->dest_rtp, out, len);
    if (!f->started) {
        f->started = true;
        f->next_rtcp_ns = now + SC_FIRST_RTCP_NS;
    }
    f->seq++;
    f->last_out_ts = ts;
    f->last_out_ns = now;
    f->sr_packets++;
    f->sr_octets += (uint32_t)in->payload_len; /* SR octet count: payload only (§6.4.1) */
    f->c.packets_out++;
    f->c.bytes_out += len;
    f->c.last_packet_ns = now;
}

void sc_fork_rx(sc_fork *f, uint8_t *pkt, size_t len)
{
    /* an SRS is receive-only: its RTCP receiver reports are counted, nothing else is used */
    if (sc_rtcp_valid(pkt, len))
        f->c.rtcp_in++;
    else
        f->c.malformed++;
}

/* SR (or RR when we have not sent since the report before last, RFC 3550 §6.4), SDES CNAME,
 * then optionally BYE; SRTCP-protected when the fork is secure. */
static void send_report(sc_fork *f, int64_t now, bool bye)
{
    if (!f->have_dest || !sc_addr_set(&f->dest_rtcp))
        return;
    uint8_t buf[SC_RTCP_SR_LEN + SC_RTCP_SDES_MAX + SC_RTCP_BYE_LEN + SC_SRTCP_MAX_TRAILER];
    size_t len;
    bool sender = f->started && f->sr_packets != f->packets_at_report[1];
    f->packets_at_report[1] = f->packets_at_report[0];
    f->packets_at_report[0] = f->sr_packets;
    if (sender) {
        uint64_t ntp = sc_ntp_now();
        uint32_t rtp_ts = f->last_out_ts + samples_since(f, now);
        len = sc_rtcp_write_sr(buf, f->ssrc, ntp, rtp_ts, f->sr_packets, f->sr_octets);
    } else {
        len = sc_rtcp_write_rr(buf, f->ssrc);
    }
    len += sc_rtcp_write_sdes_cname(buf + len, f->ssrc, f->cname, strlen(f->cname));
    if (bye)
        len += sc_rtcp_write_bye(buf + len, f->ssrc);
    if (f->srtp) {
        int r = sc_srtp_protect_rtcp(f->srtp, buf, len, sizeof buf);
        if (r < 0) {
            f->c.srtp_errors++;
            return;
        }
        len = (size_t)r;
    }
    int fd = f->rtcp.fd >= 0 ? f->rtcp.fd : f->rtp.fd;
    if (sendto(fd, buf, len, MSG_DONTWAIT, &f->dest_rtcp.sa, sc_addr_len(&f->dest_rtcp)) >= 0)
        f->c.rtcp_out++;
}

void sc_fork_housekeeping(sc_fork *f, int64_t now)
{
    if (!f->next_rtcp_ns || now < f->next_rtcp_ns)
        return;
    send_report(f, now, false);
    /* RFC 3550 §6.3.1: randomise the interval (here 0.75..1.25 of it) so that the forks started
     * together do not report in lockstep */
    int64_t interval = f->leg->worker->eng->rtcp_interval_ns;
    f->next_rtcp_ns = now + interval * 3 / 4 + (int64_t)(sc_random32() % 1024) * interval / 2048;
}

void sc_fork_remove(sc_fork *f)
{
    sc_leg *leg = f->leg;
    sc_worker *w = leg->worker;
    if (f->started)
        send_report(f, sc_mono_ns(), true);
    sc_worker_unwatch(w, &f->rtp);
    sc_worker_unwatch(w, &f->rtcp);
    for (sc_fork **pp = &leg->forks[f->direction]; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    f->next = NULL;
    sc_idmap_remove(&w->eng->forks, f->obj.id);
    sc_worker_bury(w, &f->obj);
}

void sc_fork_destroy(sc_fork *f)
{
    if (f->rtp.fd >= 0)
        close(f->rtp.fd);
    if (f->rtcp.fd >= 0)
        close(f->rtcp.fd);
    if (f->srtp)
        sc_srtp_free(f->srtp);
    free(f);
}
