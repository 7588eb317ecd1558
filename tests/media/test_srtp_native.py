"""native/srtp.c, native/dtmf.c and native/g711.c built on their own with AddressSanitizer and
UndefinedBehaviorSanitizer, driven by a C harness: memory errors, leaks and undefined behaviour
on the C API the engine calls (including hostile packets and payloads) fail the test."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[2] / "native"

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dtmf.h"
#include "g711.h"
#include "srtp.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d %s\n", __FILE__, __LINE__, #c); \
                                  exit(1); } } while (0)

static unsigned rnd_state = 12345;
static unsigned rnd(void) { rnd_state = rnd_state * 1103515245u + 12345u; return rnd_state >> 8; }

static void srtp_suite(sc_srtp_suite suite, size_t salt_len)
{
    uint8_t key[16], salt[14], pkt[400], copy[400];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)rnd();
    for (int i = 0; i < 14; i++) salt[i] = (uint8_t)rnd();
    sc_srtp *tx = sc_srtp_new(suite, key, 16, salt, salt_len);
    sc_srtp *rx = sc_srtp_new(suite, key, 16, salt, salt_len);
    CHECK(tx && rx);
    for (unsigned n = 65000; n < 66600; n++) {       /* across the ROC wrap, 3 SSRCs */
        size_t len = 12 + rnd() % 300;
        memset(pkt, 0, sizeof pkt);
        pkt[0] = 0x80; pkt[2] = (uint8_t)(n >> 8); pkt[3] = (uint8_t)n;
        pkt[11] = (uint8_t)(n % 3);
        for (size_t i = 12; i < len; i++) pkt[i] = (uint8_t)rnd();
        memcpy(copy, pkt, len);
        CHECK(sc_srtp_protect_rtp(tx, pkt, len, len + 3) == -1);   /* no room for the tag */
        int plen = sc_srtp_protect_rtp(tx, pkt, len, sizeof pkt);
        CHECK(plen > (int)len);
        if (n % 7 == 0) {                             /* tampering is caught */
            uint8_t bad[400];
            memcpy(bad, pkt, (size_t)plen);
            bad[rnd() % (unsigned)plen] ^= (uint8_t)(1 + rnd() % 255);
            CHECK(sc_srtp_unprotect_rtp(rx, bad, (size_t)plen) == -1);
        }
        CHECK(sc_srtp_unprotect_rtp(rx, pkt, (size_t)plen) == (int)len);
        CHECK(memcmp(pkt, copy, len) == 0);
        if (n % 50 == 0) {
            uint8_t rtcp[400] = {0x80, 200, 0, 6};
            size_t rlen = 8 + rnd() % 200;
            rtcp[7] = (uint8_t)(n % 3);
            int r = sc_srtp_protect_rtcp(tx, rtcp, rlen, sizeof rtcp);
            CHECK(r > (int)rlen);
            CHECK(sc_srtp_unprotect_rtcp(rx, rtcp, (size_t)r) == (int)rlen);
            CHECK(sc_srtp_unprotect_rtcp(rx, rtcp, (size_t)r) == -1);  /* not decrypted twice */
        }
    }
    for (int i = 0; i < 20000; i++) {                 /* garbage never crashes */
        size_t len = rnd() % 320;
        for (size_t j = 0; j < len; j++) pkt[j] = (uint8_t)rnd();
        if (i & 1) pkt[0] = (uint8_t)(0x80 | (pkt[0] & 0x3f));
        memcpy(copy, pkt, len);
        (void)sc_srtp_unprotect_rtp(rx, pkt, len);
        memcpy(pkt, copy, len);
        (void)sc_srtp_unprotect_rtcp(rx, pkt, len);
        memcpy(pkt, copy, len);
        (void)sc_srtp_protect_rtp(tx, pkt, len, len + SC_SRTP_MAX_TRAILER);
        memcpy(pkt, copy, len);
        (void)sc_srtp_protect_rtcp(tx, pkt, len, len + SC_SRTCP_MAX_TRAILER);
    }
    sc_srtp_free(tx);
    sc_srtp_free(rx);
}

int main(void)
{
    uint8_t key[16] = {0}, salt[14] = {0}, out[64];
    sc_srtp_suite suite;
    CHECK(sc_srtp_suite_from_name("AES_CM_128_HMAC_SHA1_32", &suite) == 0);
    CHECK(sc_srtp_suite_from_name("NULL_HMAC_SHA1_80", &suite) == -1);
    CHECK(sc_srtp_suite_from_name(NULL, &suite) == -1);
    CHECK(sc_srtp_new(SC_SRTP_AES_CM_128_HMAC_SHA1_80, key, 15, salt, 14) == NULL);
    CHECK(sc_srtp_new(SC_SRTP_AEAD_AES_128_GCM, key, 16, salt, 14) == NULL);
    CHECK(sc_srtp_new((sc_srtp_suite)7, key, 16, salt, 14) == NULL);
    CHECK(sc_srtp_kdf(key, 16, salt, 14, 0, out, sizeof out) == 0);
    CHECK(sc_srtp_unprotect_rtp(NULL, out, sizeof out) == -1);
    sc_srtp_free(NULL);
    srtp_suite(SC_SRTP_AES_CM_128_HMAC_SHA1_80, 14);
    srtp_suite(SC_SRTP_AES_CM_128_HMAC_SHA1_32, 14);
    srtp_suite(SC_SRTP_AEAD_AES_128_GCM, 12);

    static uint8_t payload[1200];
    for (int pt = -1; pt <= 8; pt++) {                /* every length, garbage and tones */
        sc_inband_dtmf st;
        sc_inband_dtmf_init(&st, pt);
        for (size_t len = 0; len <= sizeof payload; len += 1 + len / 8) {
            for (size_t i = 0; i < len; i++)
                payload[i] = (len & 1) ? (uint8_t)rnd()
                                       : (pt == 8 ? sc_alaw_encode : sc_ulaw_encode)(
                                             (int16_t)((int)(rnd() % 20000) - 10000));
            int hit = sc_inband_dtmf_filter(&st, payload, len);
            CHECK(hit == 0 || hit == 1);
            CHECK(!hit || pt == 0 || pt == 8);
        }
    }
    for (int s = -32768; s < 32768; s++) {            /* companding is idempotent */
        int16_t u = sc_ulaw_decode(sc_ulaw_encode((int16_t)s));
        int16_t a = sc_alaw_decode(sc_alaw_encode((int16_t)s));
        CHECK(sc_ulaw_decode(sc_ulaw_encode(u)) == u);
        CHECK(sc_alaw_decode(sc_alaw_encode(a)) == a);
        CHECK(abs(u - s) <= 1024 && abs(a - s) <= 1024);
    }
    puts("OK");
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("pkg-config") is None,
                    reason="needs gcc and pkg-config")
def test_c_api_under_asan_and_ubsan(tmp_path: Path) -> None:
    harness = tmp_path / "harness.c"
    harness.write_text(HARNESS)
    binary = tmp_path / "harness"
    libs = shlex.split(subprocess.run(["pkg-config", "--libs", "libcrypto"], check=True,
                                      capture_output=True, text=True).stdout)
    subprocess.run(
        ["gcc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
         f"-I{NATIVE}", str(harness), str(NATIVE / "srtp.c"), str(NATIVE / "dtmf.c"),
         str(NATIVE / "g711.c"), "-o", str(binary), *libs, "-lpthread"],
        check=True, capture_output=True, text=True,
    )
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60,
                         env={"ASAN_OPTIONS": "detect_leaks=1",
                              "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.strip() == "OK"
