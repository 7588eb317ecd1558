"""SDP offer/answer of the B2BUA legs (sans-IO): what is chosen, what is refused, and that
answers mirror the offer's m-lines (RFC 3264 §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src_client.calls.negotiation import (
    LocalSdp,
    NegotiationError,
    answer_offer,
    check_answer,
    read_offer,
)
from src_client.sdp import Codec, Direction, parse_sdp


def sdp(media: str, *, connection: str = "198.51.100.7", session: str = "") -> bytes:
    text = (
        f"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 {connection}\r\nt=0 0\r\n"
        f"{session}{media}"
    )
    return text.encode()


AUDIO = (
    "m=audio 30000 RTP/AVP 9 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
)


def test_caller_preference_wins_among_g711_when_passthrough_is_off() -> None:
    offer = read_offer(sdp(AUDIO))
    assert [c.name for c in answer_offer(offer, allow_passthrough=False)] == [
        "PCMA",
        "telephone-event",
    ]
    assert offer.host == "198.51.100.7" and offer.port == 30000 and not offer.on_hold


def test_g722_is_carried_when_allowed() -> None:
    codecs = answer_offer(read_offer(sdp(AUDIO)), allow_passthrough=True)
    assert codecs[0] == Codec(9, "G722", 8000) and codecs[1].fmtp == "0-15"


def test_opus_gets_no_8khz_telephone_event() -> None:
    media = (
        "m=audio 30000 RTP/AVP 111 101\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    assert answer_offer(read_offer(sdp(media)), allow_passthrough=True) == (
        Codec(111, "opus", 48000, 2),
    )
    with pytest.raises(NegotiationError, match="no common audio codec"):
        answer_offer(read_offer(sdp(media)), allow_passthrough=False)


@pytest.mark.parametrize(
    ("media", "connection"),
    [
        (AUDIO + "a=sendonly\r\n", "198.51.100.7"),
        (AUDIO + "a=inactive\r\n", "198.51.100.7"),
        (AUDIO, "0.0.0.0"),  # RFC 2543 hold
    ],
)
def test_hold_forms(media: str, connection: str) -> None:
    offer = read_offer(sdp(media, connection=connection))
    assert offer.on_hold
    assert offer.host is None if connection == "0.0.0.0" else offer.host == connection


def test_session_level_direction_counts() -> None:
    assert read_offer(sdp(AUDIO, session="a=sendonly\r\n")).on_hold


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"v=0\r\nnonsense", "malformed SDP"),
        (sdp("m=audio 0 RTP/AVP 0\r\n"), "no RTP/AVP audio"),
        (sdp("m=audio 4000 RTP/SAVP 0\r\n"), "no RTP/AVP audio"),
        (sdp("m=video 4000 RTP/AVP 96\r\n"), "no RTP/AVP audio"),
    ],
)
def test_unusable_offers(body: bytes, reason: str) -> None:
    with pytest.raises(NegotiationError, match=reason):
        read_offer(body)


def test_answer_mirrors_every_offered_m_line() -> None:
    offer = read_offer(sdp("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n" + AUDIO))
    assert offer.index == 1
    local = LocalSdp("203.0.113.5", 41000, answer_offer(offer, allow_passthrough=False))
    answer = parse_sdp(
        local.render(offer.direction.reversed(), mirror=offer.sdp, audio_index=offer.index)
    )
    assert [(m.media, m.port) for m in answer.media] == [("video", 0), ("audio", 41000)]
    audio = answer.media[1]
    assert audio.payload_types == [8, 101] and audio.direction is Direction.SENDRECV
    assert answer.connection is not None and answer.connection.address == "203.0.113.5"


def test_origin_version_increases_with_each_description() -> None:
    local = LocalSdp("203.0.113.5", 41000, (Codec(0, "PCMU", 8000),))
    first = parse_sdp(local.render(Direction.SENDRECV)).origin
    second = parse_sdp(local.render(Direction.RECVONLY)).origin
    assert first.session_id == second.session_id
    assert second.session_version == first.session_version + 1


def test_callee_must_keep_our_codec_and_payload_type() -> None:
    ours = (Codec(0, "PCMU", 8000), Codec(101, "telephone-event", 8000))
    check_answer(read_offer(sdp("m=audio 4000 RTP/AVP 0\r\n")), ours)
    with pytest.raises(NegotiationError, match="not PCMU/0"):
        check_answer(read_offer(sdp("m=audio 4000 RTP/AVP 8\r\n")), ours)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        offer = read_offer(data)
    except NegotiationError:
        return
    assert offer.port > 0
