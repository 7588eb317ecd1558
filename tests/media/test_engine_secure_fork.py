"""SRTP forks end to end: libsrtp itself (pylibsrtp) decrypts what the engine sends, RTP back
to the exact input payloads and SRTCP (SR, BYE) under the same master key."""

from __future__ import annotations

import itertools
import os
import time

import pylibsrtp
import pytest
from media_helpers import engine, parse_rtp, peers, rtcp_packets, rtp

from src_client.media import SrtpParams

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 14),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 14),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 12),
}


@pytest.mark.parametrize("suite", sorted(PROFILES))
def test_srtp_fork_decrypts_with_libsrtp(suite: str) -> None:
    profile, salt_len = PROFILES[suite]
    params = SrtpParams(suite, os.urandom(16), os.urandom(salt_len))
    assert params.key.hex() not in repr(params) and params.salt.hex() not in repr(params)
    srs_session = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=params.key + params.salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=profile,
        )
    )
    with engine(media_timeout=0, rtcp_interval=0.3) as eng, peers(4) as (pa, pb, srs, rtcp):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        fork = eng.add_fork(
            a,
            "inbound",
            destination=srs.address,
            rtcp_destination=rtcp.address,
            srtp=params,
            drop_payload_types=[101],
        )
        sent = [os.urandom(160) for _ in range(20)]
        for i, data in enumerate(sent):
            pa.send(rtp(i, i * 160, 0xABC, data, pt=8), a.local_address)
            if i == 10:
                pa.send(rtp(100, i * 160, 0xABC, b"\x01\x0a\x00\xa0", pt=101), a.local_address)
            time.sleep(0.002)
        got = srs.collect(20)
        plain = [parse_rtp(srs_session.unprotect(d)) for _, d in got]
        assert [p.payload for p in plain] == sent  # random audio: in-band filter leaves it
        assert {p.ssrc for p in plain} == {fork.ssrc}
        assert all((q.seq - p.seq) % 65536 == 1 for p, q in itertools.pairwise(plain))
        report = rtcp.recv(3)
        assert report is not None
        parts = rtcp_packets(srs_session.unprotect_rtcp(report))
        assert [pt for pt, _ in parts] == [200, 202]
        fork.remove()
        last = None
        while (datagram := rtcp.recv(0.5)) is not None:
            last = datagram
        assert last is not None
        assert [pt for pt, _ in rtcp_packets(srs_session.unprotect_rtcp(last))][-1] == 203


def test_srtp_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        SrtpParams("AES_CM_128_HMAC_SHA1_80", b"k" * 16, b"s" * 12)
    with pytest.raises(ValueError):
        SrtpParams("NULL_CIPHER", b"k" * 16, b"s" * 14)
    params = SrtpParams.from_inline(
        "AES_CM_128_HMAC_SHA1_80", "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32"
    )
    assert len(params.key) == 16 and len(params.salt) == 14
    with pytest.raises(ValueError):
        SrtpParams.from_inline("AES_CM_128_HMAC_SHA1_80", "not base64!")
