/* SRTP/SRTCP (RFC 3711) with AES_CM_128_HMAC_SHA1_80/_32 and AEAD_AES_128_GCM (RFC 7714),
 * built on OpenSSL EVP primitives only.
 *
 * Every symbol is prefixed sc_: libsrtp (loaded by pylibsrtp in the same process in tests) uses
 * srtp_. A context is one direction of one crypto context (one master key/salt); it tracks ROC,
 * highest sequence number and a replay window per SSRC, for a small number of SSRCs.
 * A context is not thread-safe: use it from one thread at a time.
 */
#ifndef SC_SRTP_H
#define SC_SRTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct _object PyObject;

typedef enum {
    SC_SRTP_AES_CM_128_HMAC_SHA1_80,
    SC_SRTP_AES_CM_128_HMAC_SHA1_32,
    SC_SRTP_AEAD_AES_128_GCM
} sc_srtp_suite;

typedef struct sc_srtp sc_srtp; /* one direction of one SSRC stream set (RFC 3711 crypto ctx) */

#define SC_SRTP_MAX_TRAILER 16        /* auth tag / GCM tag */
#define SC_SRTCP_MAX_TRAILER (4 + 16) /* E|index + tag */

/* key: 16 bytes master key; salt: 14 bytes (AES-CM) or 12 bytes (GCM). NULL on bad input. */
sc_srtp *sc_srtp_new(sc_srtp_suite suite, const uint8_t *key, size_t key_len,
                     const uint8_t *salt, size_t salt_len);
void sc_srtp_free(sc_srtp *ctx);
/* SDES crypto-suite names (RFC 4568 / RFC 7714 §14.2), 0 = ok, -1 = unknown */
int sc_srtp_suite_from_name(const char *name, sc_srtp_suite *out);

/* Return the new length, or -1 (bad packet / auth failure / replay / no room); cap = buffer
 * capacity, which must leave room for SC_SRTP_MAX_TRAILER / SC_SRTCP_MAX_TRAILER bytes. */
int sc_srtp_protect_rtp(sc_srtp *ctx, uint8_t *pkt, size_t len, size_t cap);
int sc_srtp_unprotect_rtp(sc_srtp *ctx, uint8_t *pkt, size_t len);
int sc_srtp_protect_rtcp(sc_srtp *ctx, uint8_t *pkt, size_t len, size_t cap);
int sc_srtp_unprotect_rtcp(sc_srtp *ctx, uint8_t *pkt, size_t len);

/* RFC 3711 §4.3.1 key derivation PRF with key_derivation_rate 0: out = AES-CM keystream under
 * master_key (16 bytes) with IV (master_salt XOR label << 48) * 2^16; a master salt shorter than
 * 14 bytes (GCM: 12) is zero-padded on the right. Exposed so tests can check RFC 3711 B.2/B.3.
 * 0 = ok, -1 = bad input. */
int sc_srtp_kdf(const uint8_t *master_key, size_t key_len, const uint8_t *master_salt,
                size_t salt_len, uint8_t label, uint8_t *out, size_t out_len);

/* Adds type SrtpContext(suite: str, key: bytes, salt: bytes) with
 * protect_rtp/unprotect_rtp/protect_rtcp/unprotect_rtcp(bytes) -> bytes (ValueError on failure).
 * 0 = ok, -1 = Python exception set. */
int sc_srtp_register_type(PyObject *module);

#endif
