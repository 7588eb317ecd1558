/* Player: sends a G.711 buffer into a leg at real-time pace, 20 ms per packet, as a stream of
 * its own (random SSRC, sequence and timestamp bases; marker on the first packet, the start of
 * a talkspurt, RFC 3551 §4.1). Its packets go through the leg's outbound forks like relayed
 * ones, so a recording contains what the party heard. One player per leg; while it plays, the
 * relay toward the leg is muted. Runs with the worker lock held.
 */
#define _GNU_SOURCE 1 /* recvmmsg/sendmmsg */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define FRAME_BYTES 160 /* 20 ms of 8 kHz G.711, one octet per sample */
#define MAX_CATCH_UP 5  /* packets sent at once after a late wake-up before resynchronising */

sc_player *sc_player_new(sc_leg *leg, const uint8_t *audio, size_t len, uint8_t pt, int loops,
                         int64_t now)
{
    sc_player *p = calloc(1, sizeof *p);
    uint8_t *copy = malloc(len);
    if (!p || !copy) {
        free(p);
        free(copy);
        return NULL;
    }
    memcpy(copy, audio, len);
    if (leg->player)
        sc_player_stop(leg->player, false, now);
    sc_worker *w = leg->worker;
    p->id = sc_engine_new_id(w->eng);
    p->leg = leg;
    p->audio = copy;
    p->len = len;
    p->loops_left = loops;
    p->pt = pt;
    p->marker = true;
    p->seq = (uint16_t)sc_random32();
    p->ts = sc_random32();
    p->ssrc = sc_random32();
    p->next_due_ns = now;
    p->next = w->players;
    if (w->players)
        w->players->prev = p;
    w->players = p;
    leg->player = p;
    return p;
}

void sc_player_stop(sc_player *p, bool done_event, int64_t now)
{
    sc_leg *leg = p->leg;
    sc_worker *w = leg->worker;
    if (p->prev)
        p->prev->next = p->next;
    else
        w->players = p->next;
    if (p->next)
        p->next->prev = p->prev;
    leg->player = NULL;
    if (done_event)
        sc_emit(w->eng, SC_EV_PLAYER_DONE, leg->obj.id, 0, p->id, p->ssrc, 0, now);
    free(p->audio);
    free(p);
}

/* sends one packet; false when the buffer (with its loops) is exhausted */
static bool send_frame(sc_worker *w, sc_player *p, int64_t now)
{
    uint8_t pkt[SC_RTP_HEADER + FRAME_BYTES];
    size_t chunk = p->len - p->pos < FRAME_BYTES ? p->len - p->pos : FRAME_BYTES;
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)((p->marker ? 0x80 : 0) | p->pt);
    sc_wr16(pkt + 2, p->seq);
    sc_wr32(pkt + 4, p->ts);
    sc_wr32(pkt + 8, p->ssrc);
    memcpy(pkt + SC_RTP_HEADER, p->audio + p->pos, chunk);
    sc_rtp_info info = {.pt = p->pt, .marker = p->marker, .seq = p->seq, .ts = p->ts,
                        .ssrc = p->ssrc, .hdr_len = SC_RTP_HEADER, .payload_len = chunk};
    sc_leg_deliver_rtp(w, p->leg, pkt, SC_RTP_HEADER + chunk, &info, now, false);
    p->marker = false;
    p->seq++;
    p->ts += (uint32_t)chunk;
    p->pos += chunk;
    if (p->pos < p->len)
        return true;
    p->pos = 0;
    if (p->loops_left == 0) /* loop forever */
        return true;
    return --p->loops_left > 0;
}

int64_t sc_players_run(sc_worker *w, int64_t now)
{
    int64_t next = 0;
    sc_player *p = w->players;
    while (p) {
        sc_player *following = p->next;
        bool alive = true;
        for (int sent = 0; alive && p->next_due_ns <= now && sent < MAX_CATCH_UP; sent++) {
            alive = send_frame(w, p, now);
            p->next_due_ns += SC_PTIME_NS;
        }
        if (!alive) {
            sc_player_stop(p, true, now);
        } else {
            if (p->next_due_ns <= now) /* too far behind: keep the pace, skip the backlog */
                p->next_due_ns = now + SC_PTIME_NS;
            if (!next || p->next_due_ns < next)
                next = p->next_due_ns;
        }
        p = following;
    }
    return next;
}
