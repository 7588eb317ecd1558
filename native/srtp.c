/* SRTP/SRTCP per RFC 3711 (AES-CM + HMAC-SHA1) and RFC 7714 (AEAD_AES_128_GCM) over OpenSSL EVP.
 *
 * Hot-path rules: every EVP context is keyed once in sc_srtp_new; per packet the AES-CM
 * keystream comes from an ECB context, GCM is only re-IV'd and HMAC re-initialised from its
 * stored key, so protect/unprotect allocate nothing of their own (OpenSSL 3.0's HMAC re-init
 * duplicates its digest state internally). Authentication is checked before decryption for
 * AES-CM (RFC 3711 §3.3 step 5 before step 6) and stream state (ROC, highest index, replay
 * window) only changes after a packet has authenticated, so forged packets cannot move a
 * receiver's state. Protect does not refuse a repeated sequence number (libsrtp's
 * allow_repeat_tx): the engine numbers fork packets itself and never repeats one.
 */
#include "srtp.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define MASTER_KEY_LEN 16
#define CM_SALT_LEN 14   /* RFC 3711 §8.2: n_s = 112 */
#define GCM_SALT_LEN 12  /* RFC 7714 §12 */
#define AUTH_KEY_LEN 20  /* RFC 3711 §8.2: n_a = 160 */
#define GCM_TAG_LEN 16
#define SRTCP_CM_TAG_LEN 10 /* SRTCP keeps the 80-bit tag for both AES-CM suites (RFC 4568 §6.2) */
#define SSRC_SLOTS 8
#define REPLAY_WINDOW 64 /* RFC 3711 §3.3.2: at least 64 */
#define SRTCP_E_BIT 0x80000000u

enum { LABEL_RTP_ENC, LABEL_RTP_AUTH, LABEL_RTP_SALT, LABEL_RTCP_ENC, LABEL_RTCP_AUTH,
       LABEL_RTCP_SALT };

struct rtp_rx {
    uint64_t top;    /* highest authenticated index (ROC << 16 | SEQ) */
    uint64_t window; /* bit i = index top - i was received */
};

struct ssrc_state {
    uint32_t ssrc;
    uint8_t used, tx_valid, rx_valid, rtcp_rx_valid;
    uint64_t last_use;
    uint64_t tx_top;          /* highest index sent */
    struct rtp_rx rx;
    uint32_t rtcp_tx_index;   /* next SRTCP index to send (RFC 3711 §3.4: starts at 0) */
    uint32_t rtcp_rx_top;
    uint64_t rtcp_rx_window;
};

struct direction_keys {
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac; /* NULL for GCM */
    uint8_t salt[CM_SALT_LEN];
};

struct sc_srtp {
    sc_srtp_suite suite;
    size_t rtp_tag_len;
    size_t rtcp_tag_len;
    EVP_MAC *hmac;
    struct direction_keys rtp, rtcp;
    uint64_t tick;
    struct ssrc_state slots[SSRC_SLOTS];
};

/* ---------- helpers ---------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* RTP header length including CSRCs and extension (RFC 3550 §5.1, §5.3.1), or -1 if the
 * header does not fit in len bytes or is not version 2. */
static long rtp_header_len(const uint8_t *pkt, size_t len)
{
    if (len < 12 || (pkt[0] >> 6) != 2)
        return -1;
    size_t h = 12 + 4 * (size_t)(pkt[0] & 0x0F);
    if (pkt[0] & 0x10) {
        if (h + 4 > len)
            return -1;
        h += 4 + 4 * (size_t)rd16(pkt + h + 2);
    }
    return h <= len ? (long)h : -1;
}

/* AES counter mode (RFC 3711 §4.1.1) as an ECB keystream over consecutive counter blocks:
 * one EVP call per 512 bytes on a context keyed once, where re-IVing an EVP CTR context costs
 * more than the encryption of a voice packet itself. */
static int aes_cm_crypt(EVP_CIPHER_CTX *ecb, const uint8_t iv[16], uint8_t *buf, size_t len)
{
    uint8_t counter[16], blocks[512], stream[512];
    memcpy(counter, iv, 16);
    while (len > 0) {
        size_t chunk = len < sizeof blocks ? len : sizeof blocks;
        size_t nblocks = (chunk + 15) / 16;
        for (size_t b = 0; b < nblocks; b++) {
            memcpy(blocks + 16 * b, counter, 16);
            for (int i = 15; i >= 0; i--)
                if (++counter[i] != 0)
                    break;
        }
        int outl;
        if (EVP_CipherUpdate(ecb, stream, &outl, blocks, (int)(nblocks * 16)) != 1 ||
            (size_t)outl != nblocks * 16)
            return -1;
        for (size_t i = 0; i < chunk; i++)
            buf[i] ^= stream[i];
        buf += chunk;
        len -= chunk;
    }
    return 0;
}

static int init_ecb(EVP_CIPHER_CTX *c, const uint8_t *key)
{
    return EVP_CipherInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL, 1) == 1 &&
                   EVP_CIPHER_CTX_set_padding(c, 0) == 1
               ? 0
               : -1;
}

static int hmac_sha1(EVP_MAC_CTX *m, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[AUTH_KEY_LEN])
{
    size_t outl;
    /* a NULL key re-initialises with the key set in sc_srtp_new */
    if (EVP_MAC_init(m, NULL, 0, NULL) != 1 || EVP_MAC_update(m, a, alen) != 1 ||
        (blen && EVP_MAC_update(m, b, blen) != 1) || EVP_MAC_final(m, out, &outl, AUTH_KEY_LEN) != 1)
        return -1;
    return outl == AUTH_KEY_LEN ? 0 : -1;
}

static int gcm_run(EVP_CIPHER_CTX *c, int enc, const uint8_t iv[12], const uint8_t *aad1,
                   size_t aad1_len, const uint8_t *aad2, size_t aad2_len, uint8_t *buf,
                   size_t len, uint8_t tag[GCM_TAG_LEN])
{
    int outl;
    if (EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, enc) != 1)
        return -1;
    if (EVP_CipherUpdate(c, NULL, &outl, aad1, (int)aad1_len) != 1)
        return -1;
    if (aad2_len && EVP_CipherUpdate(c, NULL, &outl, aad2, (int)aad2_len) != 1)
        return -1;
    if (len && EVP_CipherUpdate(c, buf, &outl, buf, (int)len) != 1)
        return -1;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_LEN, tag) != 1)
        return -1;
    if (EVP_CipherFinal_ex(c, buf + len, &outl) != 1)
        return -1; /* on decrypt: authentication failure */
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_LEN, tag) != 1)
        return -1;
    return 0;
}

/* ---------- key derivation (RFC 3711 §4.3) ---------- */

static int kdf_with(EVP_CIPHER_CTX *prf, const uint8_t *salt, size_t salt_len, uint8_t label,
                    uint8_t *out, size_t out_len)
{
    uint8_t iv[16] = {0};
    memcpy(iv, salt, salt_len);
    iv[7] ^= label; /* key_id = label || r (r = 0 for kdr 0), right-aligned in the 112-bit salt */
    memset(out, 0, out_len);
    return aes_cm_crypt(prf, iv, out, out_len);
}

int sc_srtp_kdf(const uint8_t *master_key, size_t key_len, const uint8_t *master_salt,
                size_t salt_len, uint8_t label, uint8_t *out, size_t out_len)
{
    if (key_len != MASTER_KEY_LEN || salt_len > CM_SALT_LEN || out_len > (1u << 24))
        return -1;
    EVP_CIPHER_CTX *prf = EVP_CIPHER_CTX_new();
    if (!prf)
        return -1;
    int rc = -1;
    if (init_ecb(prf, master_key) == 0)
        rc = kdf_with(prf, master_salt, salt_len, label, out, out_len);
    EVP_CIPHER_CTX_free(prf);
    return rc;
}

static int init_direction(sc_srtp *s, EVP_CIPHER_CTX *prf, const uint8_t *salt, size_t salt_len,
                          uint8_t label_base, struct direction_keys *d)
{
    uint8_t key[MASTER_KEY_LEN], auth[AUTH_KEY_LEN];
    int rc = -1;
    int gcm = s->suite == SC_SRTP_AEAD_AES_128_GCM;
    size_t session_salt_len = gcm ? GCM_SALT_LEN : CM_SALT_LEN;

    d->cipher = EVP_CIPHER_CTX_new();
    if (!d->cipher)
        goto out;
    if (kdf_with(prf, salt, salt_len, label_base, key, sizeof key) ||
        kdf_with(prf, salt, salt_len, label_base + 2, d->salt, session_salt_len))
        goto out;
    if (gcm ? EVP_CipherInit_ex(d->cipher, EVP_aes_128_gcm(), NULL, key, NULL, 1) != 1
            : init_ecb(d->cipher, key) != 0)
        goto out;
    if (!gcm) {
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA1", 0),
            OSSL_PARAM_construct_end(),
        };
        if (kdf_with(prf, salt, salt_len, label_base + 1, auth, sizeof auth))
            goto out;
        d->mac = EVP_MAC_CTX_new(s->hmac);
        if (!d->mac || EVP_MAC_init(d->mac, auth, sizeof auth, params) != 1)
            goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(auth, sizeof auth);
    return rc;
}

sc_srtp *sc_srtp_new(sc_srtp_suite suite, const uint8_t *key, size_t key_len,
                     const uint8_t *salt, size_t salt_len)
{
    size_t want_salt;
    switch (suite) {
    case SC_SRTP_AES_CM_128_HMAC_SHA1_80:
    case SC_SRTP_AES_CM_128_HMAC_SHA1_32:
        want_salt = CM_SALT_LEN;
        break;
    case SC_SRTP_AEAD_AES_128_GCM:
        want_salt = GCM_SALT_LEN;
        break;
    default:
        return NULL;
    }
    if (!key || !salt || key_len != MASTER_KEY_LEN || salt_len != want_salt)
        return NULL;

    sc_srtp *s = OPENSSL_zalloc(sizeof *s);
    if (!s)
        return NULL;
    s->suite = suite;
    s->rtp_tag_len = suite == SC_SRTP_AES_CM_128_HMAC_SHA1_80   ? 10
                     : suite == SC_SRTP_AES_CM_128_HMAC_SHA1_32 ? 4
                                                                : GCM_TAG_LEN;
    s->rtcp_tag_len = suite == SC_SRTP_AEAD_AES_128_GCM ? GCM_TAG_LEN : SRTCP_CM_TAG_LEN;

    EVP_CIPHER_CTX *prf = EVP_CIPHER_CTX_new();
    int ok = prf && init_ecb(prf, key) == 0;
    if (ok && suite != SC_SRTP_AEAD_AES_128_GCM) {
        s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        ok = s->hmac != NULL;
    }
    ok = ok && init_direction(s, prf, salt, salt_len, LABEL_RTP_ENC, &s->rtp) == 0 &&
         init_direction(s, prf, salt, salt_len, LABEL_RTCP_ENC, &s->rtcp) == 0;
    EVP_CIPHER_CTX_free(prf);
    if (!ok) {
        sc_srtp_free(s);
        return NULL;
    }
    return s;
}

void sc_srtp_free(sc_srtp *s)
{
    if (!s)
        return;
    EVP_CIPHER_CTX_free(s->rtp.cipher);
    EVP_CIPHER_CTX_free(s->rtcp.cipher);
    EVP_MAC_CTX_free(s->rtp.mac);
    EVP_MAC_CTX_free(s->rtcp.mac);
    EVP_MAC_free(s->hmac);
    OPENSSL_clear_free(s, sizeof *s);
}

int sc_srtp_suite_from_name(const char *name, sc_srtp_suite *out)
{
    static const struct {
        const char *name;
        sc_srtp_suite suite;
    } names[] = {
        {"AES_CM_128_HMAC_SHA1_80", SC_SRTP_AES_CM_128_HMAC_SHA1_80},
        {"AES_CM_128_HMAC_SHA1_32", SC_SRTP_AES_CM_128_HMAC_SHA1_32},
        {"AEAD_AES_128_GCM", SC_SRTP_AEAD_AES_128_GCM},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].suite;
            return 0;
        }
    }
    return -1;
}

/* ---------- per-SSRC state ---------- */

static struct ssrc_state *find_ssrc(sc_srtp *s, uint32_t ssrc)
{
    for (int i = 0; i < SSRC_SLOTS; i++)
        if (s->slots[i].used && s->slots[i].ssrc == ssrc) {
            s->slots[i].last_use = ++s->tick;
            return &s->slots[i];
        }
    return NULL;
}

/* Finds or creates the state of an SSRC, recycling the least recently used slot when full.
 * Receivers call it only once a packet has authenticated. */
static struct ssrc_state *get_ssrc(sc_srtp *s, uint32_t ssrc)
{
    struct ssrc_state *st = find_ssrc(s, ssrc);
    if (st)
        return st;
    st = &s->slots[0];
    for (int i = 0; i < SSRC_SLOTS; i++) {
        if (!s->slots[i].used) {
            st = &s->slots[i];
            break;
        }
        if (s->slots[i].last_use < st->last_use)
            st = &s->slots[i];
    }
    memset(st, 0, sizeof *st);
    st->used = 1;
    st->ssrc = ssrc;
    st->last_use = ++s->tick;
    return st;
}

/* RFC 3711 Appendix A: the index of a packet with sequence number seq given the highest index
 * seen so far (ROC || s_l). Returns -1 when the guess would be before index 0. */
static int64_t estimate_index(uint64_t top, uint16_t seq)
{
    int64_t roc = (int64_t)(top >> 16);
    uint16_t s_l = (uint16_t)top;
    int64_t v;
    if (s_l < 32768)
        v = (seq - s_l > 32768) ? roc - 1 : roc;
    else
        v = (s_l - 32768 > seq) ? roc + 1 : roc;
    if (v < 0 || v > 0xFFFFFFFFll)
        return -1;
    return v << 16 | seq;
}

/* replay check against a sliding window (RFC 3711 §3.3.2); 0 = fresh */
static int replay_check(uint64_t top, uint64_t window, uint64_t index)
{
    if (index > top)
        return 0;
    uint64_t behind = top - index;
    if (behind >= REPLAY_WINDOW)
        return -1;
    return (window >> behind) & 1 ? -1 : 0;
}

static void replay_add(uint64_t *top, uint64_t *window, uint64_t index)
{
    if (index > *top) {
        uint64_t shift = index - *top;
        *window = shift >= REPLAY_WINDOW ? 1 : (*window << shift) | 1;
        *top = index;
    } else {
        *window |= 1ull << (*top - index);
    }
}

/* ---------- SRTP ---------- */

static void cm_iv(uint8_t iv[16], const uint8_t salt[CM_SALT_LEN], uint32_t ssrc, uint64_t index)
{
    /* RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16) */
    memcpy(iv, salt, CM_SALT_LEN);
    iv[14] = iv[15] = 0;
    for (int i = 0; i < 4; i++)
        iv[4 + i] ^= (uint8_t)(ssrc >> (24 - 8 * i));
    for (int i = 0; i < 6; i++)
        iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
}

static void gcm_rtp_iv(uint8_t iv[12], const uint8_t salt[GCM_SALT_LEN], uint32_t ssrc,
                       uint64_t index)
{
    /* RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt */
    uint8_t b[12] = {0};
    wr32(b + 2, ssrc);
    wr32(b + 6, (uint32_t)(index >> 16));
    b[10] = (uint8_t)(index >> 8);
    b[11] = (uint8_t)index;
    for (int i = 0; i < 12; i++)
        iv[i] = b[i] ^ salt[i];
}

static int rtp_transform(sc_srtp *s, int enc, uint8_t *pkt, size_t h, size_t body_len,
                         uint32_t ssrc, uint64_t index, uint8_t *tag)
{
    if (s->suite == SC_SRTP_AEAD_AES_128_GCM) {
        uint8_t iv[12];
        gcm_rtp_iv(iv, s->rtp.salt, ssrc, index);
        return gcm_run(s->rtp.cipher, enc, iv, pkt, h, NULL, 0, pkt + h, body_len, tag);
    }
    uint8_t iv[16], roc[4], mac[AUTH_KEY_LEN];
    cm_iv(iv, s->rtp.salt, ssrc, index);
    wr32(roc, (uint32_t)(index >> 16));
    if (enc) {
        if (aes_cm_crypt(s->rtp.cipher, iv, pkt + h, body_len) ||
            hmac_sha1(s->rtp.mac, pkt, h + body_len, roc, 4, mac))
            return -1;
        memcpy(tag, mac, s->rtp_tag_len);
        return 0;
    }
    /* RFC 3711 §3.3 authentication tag M = packet || ROC */
    if (hmac_sha1(s->rtp.mac, pkt, h + body_len, roc, 4, mac) ||
        CRYPTO_memcmp(mac, tag, s->rtp_tag_len) != 0)
        return -1;
    return aes_cm_crypt(s->rtp.cipher, iv, pkt + h, body_len);
}

int sc_srtp_protect_rtp(sc_srtp *s, uint8_t *pkt, size_t len, size_t cap)
{
    long h = rtp_header_len(pkt, len);
    if (!s || h < 0 || len > (size_t)INT32_MAX - SC_SRTP_MAX_TRAILER ||
        cap < len + s->rtp_tag_len)
        return -1;
    uint32_t ssrc = rd32(pkt + 8);
    uint16_t seq = rd16(pkt + 2);
    struct ssrc_state *st = get_ssrc(s, ssrc);
    int64_t index;
    if (!st->tx_valid) {
        index = seq; /* RFC 3711 §3.3.1: ROC starts at 0 */
    } else {
        index = estimate_index(st->tx_top, seq);
        if (index < 0)
            return -1;
    }
    if (rtp_transform(s, 1, pkt, (size_t)h, len - (size_t)h, ssrc, (uint64_t)index, pkt + len))
        return -1;
    if (!st->tx_valid || (uint64_t)index > st->tx_top)
        st->tx_top = (uint64_t)index;
    st->tx_valid = 1;
    return (int)(len + s->rtp_tag_len);
}

int sc_srtp_unprotect_rtp(sc_srtp *s, uint8_t *pkt, size_t len)
{
    if (!s || len < 12 + s->rtp_tag_len || len > INT32_MAX)
        return -1;
    size_t body_end = len - s->rtp_tag_len;
    long h = rtp_header_len(pkt, body_end);
    if (h < 0)
        return -1;
    uint32_t ssrc = rd32(pkt + 8);
    uint16_t seq = rd16(pkt + 2);
    struct ssrc_state *st = find_ssrc(s, ssrc);
    int64_t index;
    if (st && st->rx_valid) {
        index = estimate_index(st->rx.top, seq);
        if (index < 0 || replay_check(st->rx.top, st->rx.window, (uint64_t)index))
            return -1;
    } else {
        index = seq; /* first packet of this SSRC: ROC 0, s_l = SEQ (RFC 3711 §3.3.1) */
    }
    uint8_t tag[SC_SRTP_MAX_TRAILER];
    memcpy(tag, pkt + body_end, s->rtp_tag_len);
    if (rtp_transform(s, 0, pkt, (size_t)h, body_end - (size_t)h, ssrc, (uint64_t)index, tag))
        return -1;
    if (!st)
        st = get_ssrc(s, ssrc);
    if (!st->rx_valid) {
        st->rx.top = (uint64_t)index;
        st->rx.window = 1;
        st->rx_valid = 1;
    } else {
        replay_add(&st->rx.top, &st->rx.window, (uint64_t)index);
    }
    return (int)body_end;
}

/* ---------- SRTCP ---------- */

static int rtcp_header_ok(const uint8_t *pkt, size_t len)
{
    return len >= 8 && (pkt[0] >> 6) == 2;
}

int sc_srtp_protect_rtcp(sc_srtp *s, uint8_t *pkt, size_t len, size_t cap)
{
    if (!s || !rtcp_header_ok(pkt, len) || len > (size_t)INT32_MAX - SC_SRTCP_MAX_TRAILER ||
        cap < len + 4 + s->rtcp_tag_len)
        return -1;
    uint32_t ssrc = rd32(pkt + 4);
    struct ssrc_state *st = get_ssrc(s, ssrc);
    uint32_t index = st->rtcp_tx_index;
    uint8_t eword[4];
    wr32(eword, SRTCP_E_BIT | index);

    if (s->suite == SC_SRTP_AEAD_AES_128_GCM) {
        /* RFC 7714 §9.1: IV = 00 00 || SSRC || 00 00 || 0 || index, XOR salt;
         * AAD = first 8 octets || E|index; output = header || ciphertext || tag || E|index */
        uint8_t b[12] = {0}, iv[12];
        wr32(b + 2, ssrc);
        wr32(b + 8, index);
        for (int i = 0; i < 12; i++)
            iv[i] = b[i] ^ s->rtcp.salt[i];
        if (gcm_run(s->rtcp.cipher, 1, iv, pkt, 8, eword, 4, pkt + 8, len - 8, pkt + len))
            return -1;
        memcpy(pkt + len + GCM_TAG_LEN, eword, 4);
    } else {
        /* RFC 3711 §3.4: header || encrypted portion || E|index || tag(M = up to E|index) */
        uint8_t iv[16], mac[AUTH_KEY_LEN];
        cm_iv(iv, s->rtcp.salt, ssrc, index);
        if (aes_cm_crypt(s->rtcp.cipher, iv, pkt + 8, len - 8))
            return -1;
        memcpy(pkt + len, eword, 4);
        if (hmac_sha1(s->rtcp.mac, pkt, len + 4, NULL, 0, mac))
            return -1;
        memcpy(pkt + len + 4, mac, s->rtcp_tag_len);
    }
    st->rtcp_tx_index = (index + 1) & 0x7FFFFFFF;
    return (int)(len + 4 + s->rtcp_tag_len);
}

int sc_srtp_unprotect_rtcp(sc_srtp *s, uint8_t *pkt, size_t len)
{
    if (!s || len > INT32_MAX || len < 8 + 4 + s->rtcp_tag_len)
        return -1;
    size_t body_end = len - 4 - s->rtcp_tag_len;
    if (!rtcp_header_ok(pkt, body_end))
        return -1;
    uint32_t ssrc = rd32(pkt + 4);
    int gcm = s->suite == SC_SRTP_AEAD_AES_128_GCM;
    const uint8_t *eword = gcm ? pkt + len - 4 : pkt + body_end;
    uint32_t e_index = rd32(eword);
    uint32_t index = e_index & 0x7FFFFFFF;
    int encrypted = (e_index & SRTCP_E_BIT) != 0;

    struct ssrc_state *st = find_ssrc(s, ssrc);
    if (st && st->rtcp_rx_valid && replay_check(st->rtcp_rx_top, st->rtcp_rx_window, index))
        return -1;

    if (gcm) {
        uint8_t b[12] = {0}, iv[12], tag[GCM_TAG_LEN], ew[4];
        memcpy(tag, pkt + body_end, GCM_TAG_LEN);
        memcpy(ew, eword, 4);
        wr32(b + 2, ssrc);
        wr32(b + 8, index);
        for (int i = 0; i < 12; i++)
            iv[i] = b[i] ^ s->rtcp.salt[i];
        /* RFC 7714 §9.2: with E = 0 the whole packet is AAD and only the tag is checked */
        int rc = encrypted
                     ? gcm_run(s->rtcp.cipher, 0, iv, pkt, 8, ew, 4, pkt + 8, body_end - 8, tag)
                     : gcm_run(s->rtcp.cipher, 0, iv, pkt, body_end, ew, 4, pkt + body_end, 0,
                               tag);
        if (rc)
            return -1;
    } else {
        uint8_t iv[16], mac[AUTH_KEY_LEN];
        if (hmac_sha1(s->rtcp.mac, pkt, body_end + 4, NULL, 0, mac) ||
            CRYPTO_memcmp(mac, pkt + body_end + 4, s->rtcp_tag_len) != 0)
            return -1;
        cm_iv(iv, s->rtcp.salt, ssrc, index);
        if (encrypted && aes_cm_crypt(s->rtcp.cipher, iv, pkt + 8, body_end - 8))
            return -1;
    }
    if (!st)
        st = get_ssrc(s, ssrc);
    if (!st->rtcp_rx_valid) {
        uint64_t top = index, window = 1;
        st->rtcp_rx_top = (uint32_t)top;
        st->rtcp_rx_window = window;
        st->rtcp_rx_valid = 1;
    } else {
        uint64_t top = st->rtcp_rx_top;
        replay_add(&top, &st->rtcp_rx_window, index);
        st->rtcp_rx_top = (uint32_t)top;
    }
    return (int)body_end;
}
