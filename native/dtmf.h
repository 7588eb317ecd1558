/* In-band DTMF detection and suppression on G.711 RTP payloads.
 *
 * Each payload is decoded to linear PCM and the eight DTMF frequencies are measured with the
 * Goertzel algorithm; a frame is a tone when one row and one column dominate with acceptable twist
 * (ITU-T Q.24 style). Tone frames, and a short hangover after a tone, are overwritten with G.711
 * silence so a recording never carries the digits (PCI DSS); the call itself is not touched.
 */
#ifndef SC_DTMF_H
#define SC_DTMF_H

#include <stddef.h>
#include <stdint.h>

typedef struct _object PyObject;

/* fixed-size state, embeddable in a fork struct; initialise with sc_inband_dtmf_init */
typedef struct sc_inband_dtmf {
    int payload_type; /* 0 = PCMU, 8 = PCMA; anything else: the filter passes payloads through */
    int hangover;     /* frames still to be silenced after the last tone frame */
    int last_digit;   /* index 0..15 of the digit seen in the previous frame, -1 = none */
    uint32_t frames_suppressed;
} sc_inband_dtmf;

void sc_inband_dtmf_init(sc_inband_dtmf *st, int payload_type /* 0 = PCMU, 8 = PCMA */);
/* Examines one RTP payload; if a DTMF tone is present (or within the hangover after one) the
 * payload is overwritten in place with G.711 silence of the same length and 1 is returned,
 * else 0. */
int sc_inband_dtmf_filter(sc_inband_dtmf *st, uint8_t *payload, size_t len);

/* Adds type InbandDtmfFilter(payload_type: int) with filter(bytes) -> tuple[bytes, bool].
 * 0 = ok, -1 = Python exception set. */
int sc_dtmf_register_type(PyObject *module);

#endif
