"""SRTP/SRTCP of the media engine (native/srtp.c) through its Python type SrtpContext.

Correctness is pinned three ways: the RFC 3711 Appendix B vectors for the key derivation PRF,
an independent packet construction (``cryptography`` + ``hmac``) whose own correctness is pinned
by the RFC 7714 §16 vectors, and interoperability both ways with libsrtp (pylibsrtp).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

import pylibsrtp
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from src_client._engine import SrtpContext, _srtp_kdf

AES_CM_80 = "AES_CM_128_HMAC_SHA1_80"
AES_CM_32 = "AES_CM_128_HMAC_SHA1_32"
AEAD_GCM = "AEAD_AES_128_GCM"
SUITES = (AES_CM_80, AES_CM_32, AEAD_GCM)
SALT_LEN = {AES_CM_80: 14, AES_CM_32: 14, AEAD_GCM: 12}
RTP_TAG_LEN = {AES_CM_80: 10, AES_CM_32: 4, AEAD_GCM: 16}
PROFILE = {
    AES_CM_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    AES_CM_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    AEAD_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}


def rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"", extra_header: bytes = b"",
        first_byte: int = 0x80) -> bytes:
    body = payload or bytes((seq + i) & 0xFF for i in range(160))
    return struct.pack("!BBHII", first_byte, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                       ssrc) + extra_header + body


def rtcp_sr(ssrc: int = 0x11223344, packets: int = 7) -> bytes:
    """A compound packet: SR without report blocks + SDES CNAME."""
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 0xE1234567, 0x89ABCDEF, 160 * packets,
                     packets, 172 * packets)
    cname = b"fork@src-client"
    item = bytes([1, len(cname)]) + cname
    chunk = struct.pack("!I", ssrc) + item + b"\x00" * (4 - (4 + len(item)) % 4)
    sdes = struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk
    return sr + sdes


def hexb(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def libsrtp_session(suite: str, key: bytes, salt: bytes, inbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=key + salt,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound
        else pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILE[suite],
    )
    return pylibsrtp.Session(policy)


# ---------------------------------------------------------------- RFC 3711 Appendix B


def test_rfc3711_b2_aes_cm_keystream() -> None:
    """B.2: the PRF with label 0 over salt F0..FD is the AES-CM keystream for IV F0..FD0000."""
    key = hexb("2B7E151628AED2A6ABF7158809CF4F3C")
    salt = hexb("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
    stream = _srtp_kdf(key, salt, 0, 0xFF02 * 16)
    block = {i: stream[16 * i:16 * (i + 1)] for i in (0, 1, 2, 0xFEFF, 0xFF00, 0xFF01)}
    assert block[0] == hexb("E03EAD0935C95E80E166B16DD92B4EB4")
    assert block[1] == hexb("D23513162B02D0F72A43A2FE4A5F97AB")
    assert block[2] == hexb("41E95B3BB0A2E8DD477901E4FCA894C0")
    assert block[0xFEFF] == hexb("EC8CDF7398607CB0F2D21675EA9EA1E4")
    assert block[0xFF00] == hexb("362B7C3C6773516318A077D7FC5073AE")
    assert block[0xFF01] == hexb("6A2CC3787889374FBEB4C81B17BA6C44")


B3_MASTER_KEY = hexb("E1F97A0D3E018BE0D64FA32C06DE4139")
B3_MASTER_SALT = hexb("0EC675AD498AFEEBB6960B3AABE6")


def test_rfc3711_b3_key_derivation() -> None:
    assert _srtp_kdf(B3_MASTER_KEY, B3_MASTER_SALT, 0, 16) == hexb(
        "C61E7A93744F39EE10734AFE3FF7A087")
    assert _srtp_kdf(B3_MASTER_KEY, B3_MASTER_SALT, 2, 14) == hexb(
        "30CBBC08863D8C85D49DB34A9AE1")
    assert _srtp_kdf(B3_MASTER_KEY, B3_MASTER_SALT, 1, 20) == hexb(
        "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")


def test_kdf_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError):
        _srtp_kdf(bytes(15), bytes(14), 0, 16)
    with pytest.raises(ValueError):
        _srtp_kdf(bytes(16), bytes(15), 0, 16)


# ---------------------------------------------------- independent reference construction


@dataclass(frozen=True)
class SessionKeys:
    """RFC 3711 §4.3 session keys of one direction (RTP labels 0-2, RTCP labels 3-5)."""

    enc: bytes
    auth: bytes
    salt: bytes

    @classmethod
    def derive(cls, suite: str, key: bytes, salt: bytes, rtcp: bool) -> SessionKeys:
        base = 3 if rtcp else 0
        return cls(_srtp_kdf(key, salt, base, 16), _srtp_kdf(key, salt, base + 1, 20),
                   _srtp_kdf(key, salt, base + 2, SALT_LEN[suite]))


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def ref_protect_rtp(suite: str, k: SessionKeys, packet: bytes, roc: int) -> bytes:
    header, payload = packet[:12], packet[12:]
    ssrc, seq = struct.unpack("!I", packet[8:12])[0], struct.unpack("!H", packet[2:4])[0]
    if suite == AEAD_GCM:
        # RFC 7714 §8.1
        iv = xor(k.salt, b"\0\0" + packet[8:12] + struct.pack("!IH", roc, seq))
        return header + AESGCM(k.enc).encrypt(iv, payload, header)
    # RFC 3711 §4.1.1 and §4.2
    iv = xor(k.salt + b"\0\0", bytes(4) + struct.pack("!IIH", ssrc, roc, seq) + b"\0\0")
    body = header + aes_ctr(k.enc, iv, payload)
    tag = hmac.new(k.auth, body + struct.pack("!I", roc), hashlib.sha1).digest()
    return body + tag[:RTP_TAG_LEN[suite]]


def ref_protect_rtcp(suite: str, k: SessionKeys, packet: bytes, index: int,
                     encrypt: bool = True) -> bytes:
    ssrc = struct.unpack("!I", packet[4:8])[0]
    eword = struct.pack("!I", (0x80000000 if encrypt else 0) | index)
    if suite == AEAD_GCM:
        # RFC 7714 §9: AAD = first 8 octets || E|index (or, with E = 0, the whole packet
        # || E|index and nothing encrypted); the tag comes before the E|index word
        iv = xor(k.salt, b"\0\0" + packet[4:8] + b"\0\0" + struct.pack("!I", index))
        if not encrypt:
            return packet + AESGCM(k.enc).encrypt(iv, b"", packet + eword) + eword
        return packet[:8] + AESGCM(k.enc).encrypt(iv, packet[8:], packet[:8] + eword) + eword
    iv = xor(k.salt + b"\0\0", bytes(4) + struct.pack("!IHI", ssrc, 0, index) + b"\0\0")
    rest = aes_ctr(k.enc, iv, packet[8:]) if encrypt else packet[8:]
    body = packet[:8] + rest + eword
    return body + hmac.new(k.auth, body, hashlib.sha1).digest()[:10]


# RFC 7714 §16 (session key and salt given directly, "Quid pro quo")
GCM_KEYS = SessionKeys(hexb("000102030405060708090a0b0c0d0e0f"), b"",
                       hexb("517569642070726f2071756f"))


def test_reference_matches_rfc7714_rtp_vector() -> None:
    """§16.1: so the GCM reference below is the RFC's construction, not a copy of ours."""
    plain = hexb("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973"
                 "20646976 69736120 696e2070 61727465 73207472 6573")
    expected = hexb("8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca"
                    "be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1"
                    "6a9152cf 765ee439 0cce")
    assert ref_protect_rtp(AEAD_GCM, GCM_KEYS, plain, roc=0) == expected


def test_reference_matches_rfc7714_rtcp_vector() -> None:
    """§16.2: SRTCP with index 0x5d4."""
    plain = hexb("81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61"
                 "deadbeef deadbeef deadbeef deadbeef deadbeef")
    expected = hexb("81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7"
                    "6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458"
                    "96cf4d2f c5abf872 45d9eade 800005d4")
    assert ref_protect_rtcp(AEAD_GCM, GCM_KEYS, plain, 0x5D4) == expected


@pytest.mark.parametrize("suite", SUITES)
def test_protect_matches_reference_across_rollover(suite: str) -> None:
    key, salt = B3_MASTER_KEY, B3_MASTER_SALT[:SALT_LEN[suite]]
    ours = SrtpContext(suite, key, salt)
    rtp_keys = SessionKeys.derive(suite, key, salt, rtcp=False)
    for n in range(65530, 65545):  # ROC goes 0 -> 1 at the wrap (RFC 3711 §3.3.1)
        packet = rtp(n)
        assert ours.protect_rtp(packet) == ref_protect_rtp(suite, rtp_keys, packet, n >> 16)
    rtcp_keys = SessionKeys.derive(suite, key, salt, rtcp=True)
    for index in range(3):  # the SRTCP index starts at 0 (RFC 3711 §3.4)
        packet = rtcp_sr(packets=index)
        assert ours.protect_rtcp(packet) == ref_protect_rtcp(suite, rtcp_keys, packet, index)


@pytest.mark.parametrize("suite", SUITES)
def test_unprotect_accepts_unencrypted_srtcp(suite: str) -> None:
    """E = 0: authenticated only (RFC 3711 §3.4, RFC 7714 §9.2)."""
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    packet = rtcp_sr()
    wire = ref_protect_rtcp(suite, SessionKeys.derive(suite, key, salt, rtcp=True), packet, 9,
                            encrypt=False)
    assert wire[8:len(packet)] == packet[8:]
    assert SrtpContext(suite, key, salt).unprotect_rtcp(wire) == packet


# ------------------------------------------------------------------ libsrtp interop


@pytest.mark.parametrize("suite", SUITES)
def test_ours_to_libsrtp_and_back_across_rollover(suite: str) -> None:
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    ours_tx, ours_rx = SrtpContext(suite, key, salt), SrtpContext(suite, key, salt)
    theirs_tx = libsrtp_session(suite, key, salt, inbound=False)
    theirs_rx = libsrtp_session(suite, key, salt, inbound=True)
    for n in range(65500, 65500 + 100):
        packet = rtp(n, payload=os.urandom(160))
        protected = ours_tx.protect_rtp(packet)
        assert len(protected) == len(packet) + RTP_TAG_LEN[suite]
        assert theirs_rx.unprotect(protected) == packet
        assert ours_rx.unprotect_rtp(theirs_tx.protect(packet)) == packet
    for n in range(5):
        packet = rtcp_sr(packets=n)
        assert theirs_rx.unprotect_rtcp(ours_tx.protect_rtcp(packet)) == packet
        assert ours_rx.unprotect_rtcp(theirs_tx.protect_rtcp(packet)) == packet


@pytest.mark.parametrize("suite", SUITES)
def test_csrc_and_header_extension_stay_in_clear(suite: str) -> None:
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    packet = rtp(7, first_byte=0x80 | 0x10 | 2, extra_header=b"CSR1CSR2" + extension)
    protected = SrtpContext(suite, key, salt).protect_rtp(packet)
    assert protected[:12 + 8 + 8] == packet[:12 + 8 + 8]
    assert libsrtp_session(suite, key, salt, inbound=True).unprotect(protected) == packet


@pytest.mark.parametrize("suite", SUITES)
def test_late_packet_from_before_the_wrap(suite: str) -> None:
    """Index estimation (RFC 3711 Appendix A) guesses ROC - 1 for a late pre-wrap packet."""
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    theirs = libsrtp_session(suite, key, salt, inbound=False)
    wire = {n: theirs.protect(rtp(n)) for n in (65533, 65534, 65535, 65536, 65537)}
    ours = SrtpContext(suite, key, salt)
    for n in (65533, 65534, 65536, 65537, 65535):
        assert ours.unprotect_rtp(wire[n]) == rtp(n)


@pytest.mark.parametrize("suite", SUITES)
def test_several_ssrcs_share_one_context(suite: str) -> None:
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    theirs = libsrtp_session(suite, key, salt, inbound=False)
    ours = SrtpContext(suite, key, salt)
    starts = {0xA: 65530, 0xB: 10, 0xC: 40000}
    for i in range(20):
        for ssrc, start in starts.items():
            packet = rtp(start + i, ssrc=ssrc)
            assert ours.unprotect_rtp(theirs.protect(packet)) == packet


# -------------------------------------------------------- authentication and replay


@pytest.mark.parametrize("suite", SUITES)
def test_tampered_packets_rejected(suite: str) -> None:
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    tx = SrtpContext(suite, key, salt)
    protected = tx.protect_rtp(rtp(100))
    protected_rtcp = tx.protect_rtcp(rtcp_sr())
    for wire, unprotect in ((protected, "unprotect_rtp"), (protected_rtcp, "unprotect_rtcp")):
        for offset in (1, 9, 20, len(wire) - 1):  # header, SSRC, payload, tag
            tampered = bytearray(wire)
            tampered[offset] ^= 0x01
            with pytest.raises(ValueError):
                getattr(SrtpContext(suite, key, salt), unprotect)(bytes(tampered))
        with pytest.raises(ValueError):
            getattr(SrtpContext(suite, os.urandom(16), salt), unprotect)(wire)
        with pytest.raises(ValueError):
            getattr(SrtpContext(suite, key, salt), unprotect)(wire[:-1])
    # a rejected forgery does not disturb the stream: the genuine packet still passes
    rx = SrtpContext(suite, key, salt)
    with pytest.raises(ValueError):
        rx.unprotect_rtp(protected[:-1] + bytes([protected[-1] ^ 1]))
    assert rx.unprotect_rtp(protected) == rtp(100)


@pytest.mark.parametrize("suite", SUITES)
def test_replays_rejected(suite: str) -> None:
    key, salt = os.urandom(16), os.urandom(SALT_LEN[suite])
    tx, rx = SrtpContext(suite, key, salt), SrtpContext(suite, key, salt)
    wire = [tx.protect_rtp(rtp(n)) for n in range(1000, 1200)]
    assert rx.unprotect_rtp(wire[100]) == rtp(1100)
    with pytest.raises(ValueError):
        rx.unprotect_rtp(wire[100])  # exact replay
    assert rx.unprotect_rtp(wire[90]) == rtp(1090)  # late but inside the 64-packet window
    with pytest.raises(ValueError):
        rx.unprotect_rtp(wire[90])
    with pytest.raises(ValueError):
        rx.unprotect_rtp(wire[10])  # behind the window
    assert rx.unprotect_rtp(wire[199]) == rtp(1199)
    rtcp = tx.protect_rtcp(rtcp_sr())
    assert rx.unprotect_rtcp(rtcp) == rtcp_sr()
    with pytest.raises(ValueError):
        rx.unprotect_rtcp(rtcp)


# -------------------------------------------------------------------- bad input


def test_bad_parameters_raise_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        SrtpContext("F8_128_HMAC_SHA1_80", bytes(16), bytes(14))
    with pytest.raises(ValueError):
        SrtpContext(AES_CM_80, bytes(15), bytes(14))
    with pytest.raises(ValueError):
        SrtpContext(AEAD_GCM, bytes(16), bytes(14))  # GCM takes a 12-byte salt
    with pytest.raises(TypeError):
        SrtpContext(AES_CM_80, "key", bytes(14))  # type: ignore[arg-type]


def test_repr_and_errors_hide_key_material() -> None:
    key, salt = b"K" * 16, b"S" * 14
    ctx = SrtpContext(AES_CM_80, key, salt)
    assert repr(ctx) == f"<SrtpContext {AES_CM_80}>"
    assert ctx.suite == AES_CM_80
    with pytest.raises(ValueError) as info:
        ctx.unprotect_rtp(b"\x80" + bytes(40))
    assert "KKKK" not in str(info.value) and "SSSS" not in str(info.value)


@pytest.mark.parametrize(
    "packet",
    [b"", b"\x80", bytes(11), b"\x40" + bytes(30), b"\x8f" + bytes(20),  # CSRCs past the end
     b"\x90" + bytes(11) + b"\xbe\xde\xff\xff" + bytes(20)],  # extension past the end
)
def test_malformed_rtp_rejected(packet: bytes) -> None:
    for suite in SUITES:
        ctx = SrtpContext(suite, bytes(16), bytes(SALT_LEN[suite]))
        with pytest.raises(ValueError):
            ctx.protect_rtp(packet)
        with pytest.raises(ValueError):
            ctx.unprotect_rtp(packet)
        if len(packet) < 8 or packet[0] >> 6 != 2:
            with pytest.raises(ValueError):
                ctx.protect_rtcp(packet)
        with pytest.raises(ValueError):
            ctx.unprotect_rtcp(packet)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), suite=st.sampled_from(SUITES))
def test_arbitrary_bytes_never_crash_or_authenticate(data: bytes, suite: str) -> None:
    ctx = SrtpContext(suite, bytes(16), bytes(SALT_LEN[suite]))
    for unprotect in (ctx.unprotect_rtp, ctx.unprotect_rtcp):
        with pytest.raises(ValueError):
            unprotect(data)
