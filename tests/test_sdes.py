"""SDES a=crypto (RFC 4568, RFC 7714 §12): parse, generate, never leak keys."""

from __future__ import annotations

import base64
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src_client.sdes import (
    SUITES,
    CryptoAttribute,
    KeyParams,
    SdesError,
    generate_crypto,
    parse_crypto,
)

# RFC 4568 §9.1 example value
RFC_EXAMPLE = ("1 AES_CM_128_HMAC_SHA1_80 "
               "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4")


def test_parse_rfc_example() -> None:
    attr = parse_crypto(RFC_EXAMPLE)
    assert attr.tag == 1 and attr.suite == "AES_CM_128_HMAC_SHA1_80"
    [key] = attr.keys
    assert key.lifetime == 2**20 and key.mki == (1, 4)
    assert len(attr.master_key) == 16 and len(attr.master_salt) == 14
    assert attr.master_key + attr.master_salt == base64.b64decode(
        "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert attr.to_value() == RFC_EXAMPLE


def test_decimal_lifetime_and_session_params_round_trip() -> None:
    value = ("2 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(bytes(30)).decode()
             + "|1048575 KDR=1 UNENCRYPTED_SRTCP")
    attr = parse_crypto(value)
    assert attr.keys[0].lifetime == 1048575
    assert attr.session_params == ("KDR=1", "UNENCRYPTED_SRTCP")
    assert attr.to_value() == value


def test_gcm_key_and_salt_lengths() -> None:
    attr = generate_crypto(3, "AEAD_AES_128_GCM")
    assert len(attr.master_key) == 16 and len(attr.master_salt) == 12
    assert parse_crypto(attr.to_value()) == attr


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_generated_keys_are_fresh(suite: str) -> None:
    first, second = generate_crypto(1, suite), generate_crypto(1, suite)
    assert first.keys[0].key_salt != second.keys[0].key_salt
    assert parse_crypto(first.to_value()) == first


def test_unknown_suite_parses_but_cannot_be_split_or_generated() -> None:
    attr = parse_crypto("1 F8_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode())
    assert attr.suite_info is None
    with pytest.raises(SdesError, match="not supported"):
        _ = attr.master_key
    with pytest.raises(SdesError, match="unknown crypto suite"):
        generate_crypto(1, "F8_128_HMAC_SHA1_80")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80", "needs"),
        ("x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "tag"),
        ("1 AES-CM inline:AAAA", "suite name"),
        ("1 AES_CM_128_HMAC_SHA1_80 uri:AAAA", "inline"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "16+14 bytes"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + "|2^60",
         "maximum"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + "|1:0",
         "MKI length"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode()
         + "|1:1|2^20", "before the MKI"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + "|a|b|c",
         "too many"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + ";inline:"
         + base64.b64encode(bytes(30)).decode(), "MKI each"),
    ],
)
def test_malformed_crypto(value: str, fragment: str) -> None:
    with pytest.raises(SdesError) as info:
        parse_crypto(value)
    assert fragment in str(info.value)


def test_no_key_material_in_repr_str_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    attr = generate_crypto(1)
    secret_b64 = base64.b64encode(attr.keys[0].key_salt).decode()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("offer crypto %s %r %s", attr, attr, attr.keys[0])
    for text in (repr(attr), str(attr), repr(attr.keys), f"{attr}", caplog.text):
        assert secret_b64 not in text
        assert secret_b64[:8] not in text
    bad = "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(29)).decode()
    with pytest.raises(SdesError) as info:
        parse_crypto(bad)
    assert base64.b64encode(bytes(29)).decode() not in str(info.value)


@given(st.integers(0, 999_999_999), st.sampled_from(sorted(SUITES)),
       st.none() | st.integers(1, 48), st.none() | st.tuples(st.integers(0, 255),
                                                              st.integers(1, 4)))
def test_round_trip(tag: int, suite: str, power: int | None, mki: tuple[int, int] | None) -> None:
    base = generate_crypto(tag, suite)
    key = KeyParams(base.keys[0].key_salt, None if power is None else 2**power, mki)
    attr = CryptoAttribute(tag, suite, (key,))
    assert parse_crypto(attr.to_value()) == attr


_LIBSRTP_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": "SRTP_PROFILE_AES128_CM_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32": "SRTP_PROFILE_AES128_CM_SHA1_32",
    "AEAD_AES_128_GCM": "SRTP_PROFILE_AEAD_AES_128_GCM",
}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_generated_keys_work_in_libsrtp(suite: str) -> None:
    """A real SRTP stack accepts the key||salt we put on the wire for each suite."""
    pylibsrtp = pytest.importorskip("pylibsrtp")
    offered = parse_crypto(generate_crypto(1, suite).to_value())   # as the SRS reads it
    profile = getattr(pylibsrtp.Policy, _LIBSRTP_PROFILES[suite])

    def session(ssrc_type: int) -> object:
        policy = pylibsrtp.Policy(key=offered.master_key + offered.master_salt,
                                  ssrc_type=ssrc_type, srtp_profile=profile)
        return pylibsrtp.Session(policy=policy)

    sender = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    receiver = session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    rtp = bytes.fromhex("8000000100000a0012345678") + bytes(160)
    protected = sender.protect(rtp)  # type: ignore[attr-defined]
    assert protected != rtp
    assert receiver.unprotect(protected) == rtp  # type: ignore[attr-defined]
