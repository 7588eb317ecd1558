"""SDP model: parse/serialise round trips, strictness, helpers (RFC 8866, 3605, 4574)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src_client.sdp import (
    Codec,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    parse_sdp,
)

# A SIPREC offer in the style of a Cisco CUBE forking both directions of a call.
CUBE_OFFER = (
    "v=0\r\n"
    "o=CiscoSystemsSIP-GW-UserAgent 4870 2468 IN IP4 192.0.2.10\r\n"
    "s=SIP Call\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 16434 RTP/AVP 0 101\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendonly\r\n"
    "a=label:1\r\n"
    "m=audio 16436 RTP/AVP 0 101\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendonly\r\n"
    "a=label:2\r\n"
)

# AudioCodes-like: SRTP, session-level c=, a=rtcp with an address, an unknown attribute.
AUDIOCODES_OFFER = (
    "v=0\r\n"
    "o=AudiocodesGW 1942 1823 IN IP4 198.51.100.7\r\n"
    "s=Phone-Call\r\n"
    "c=IN IP4 198.51.100.7\r\n"
    "t=0 0\r\n"
    "m=audio 6010 RTP/SAVP 8 18 96\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=rtcp:6011 IN IP4 198.51.100.8\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\r\n"
    "a=X-vendor-thing:opaque value\r\n"
    "a=sendonly\r\n"
    "a=label:1\r\n"
)

# An SRS answer deferring one stream and accepting the other, LF line ends.
SRS_ANSWER = (
    "v=0\n"
    "o=SRS 1 1 IN IP6 2001:db8::5\n"
    "s=-\n"
    "c=IN IP6 2001:db8::5\n"
    "t=0 0\n"
    "a=recvonly\n"
    "m=audio 30000 RTP/AVP 0\n"
    "a=label:1\n"
    "m=audio 30002 RTP/AVP 0\n"
    "a=inactive\n"
    "a=label:2\n"
)


def test_parse_cube_offer() -> None:
    sdp = parse_sdp(CUBE_OFFER.encode())
    assert sdp.origin == Origin("CiscoSystemsSIP-GW-UserAgent", 4870, 2468, "IN", "IP4",
                                "192.0.2.10")
    assert [m.label for m in sdp.media] == ["1", "2"]
    first = sdp.media[0]
    assert first.port == 16434 and first.proto == "RTP/AVP" and first.formats == ["0", "101"]
    assert first.codecs() == [Codec(0, "PCMU", 8000),
                              Codec(101, "telephone-event", 8000, 1, "0-16")]
    assert sdp.media_direction(first) is Direction.SENDONLY
    assert first.rtcp is None and not first.rtcp_mux
    assert sdp.to_bytes() == CUBE_OFFER.encode()


def test_parse_audiocodes_offer_keeps_unknown_attributes_and_order() -> None:
    sdp = parse_sdp(AUDIOCODES_OFFER)
    media = sdp.media[0]
    assert sdp.media_connection(media) == Connection("IN", "IP4", "198.51.100.7")
    rtcp = media.rtcp
    assert rtcp is not None and rtcp.port == 6011
    assert rtcp.connection == Connection("IN", "IP4", "198.51.100.8")
    assert media.attribute("X-vendor-thing") == "opaque value"
    assert media.codec(18) == Codec(18, "G729", 8000, 1, "annexb=no")
    [crypto] = media.crypto()
    assert crypto.tag == 1 and crypto.keys[0].lifetime == 2**31
    assert str(sdp) == AUDIOCODES_OFFER
    # the crypto key never shows in a repr of the model
    assert "WVNfX19zZW1j" not in repr(sdp)


def test_session_level_direction_and_media_override() -> None:
    sdp = parse_sdp(SRS_ANSWER)
    assert sdp.direction is Direction.RECVONLY
    assert sdp.media_direction(sdp.media[0]) is Direction.RECVONLY
    assert sdp.media_direction(sdp.media[1]) is Direction.INACTIVE
    assert sdp.media_connection(sdp.media[1]) == Connection("IN", "IP6", "2001:db8::5")
    # serialisation always writes CRLF
    assert str(sdp) == SRS_ANSWER.replace("\n", "\r\n")


def test_answer_direction_reverses_offer() -> None:
    assert [d.reversed() for d in Direction] == [
        Direction.SENDRECV, Direction.RECVONLY, Direction.SENDONLY, Direction.INACTIVE]


def test_direction_setter_replaces_in_place() -> None:
    media = parse_sdp(CUBE_OFFER).media[0]
    names = [a.name for a in media.attributes]
    media.direction = Direction.INACTIVE
    assert [a.name for a in media.attributes] == [
        "inactive" if n == "sendonly" else n for n in names]
    media.direction = None
    assert media.direction is None
    media.direction = Direction.SENDONLY
    assert media.attributes[-1].name == "sendonly"


def test_set_codecs_rewrites_rtpmap_and_fmtp() -> None:
    media = parse_sdp(CUBE_OFFER).media[0]
    media.set_codecs([Codec(8, "PCMA", 8000), Codec(9, "G722", 8000)])
    assert media.formats == ["8", "9"]
    assert media.attribute_values("fmtp") == []
    assert media.codecs() == [Codec(8, "PCMA", 8000), Codec(9, "G722", 8000)]


def test_static_payload_without_rtpmap() -> None:
    sdp = parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 18\r\n")
    assert [c.name for c in sdp.media[0].codecs()] == ["PCMU", "PCMA", "G729"]


def test_rtcp_port_only_and_mux() -> None:
    media = parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
                      "m=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\na=rtcp-mux\r\n").media[0]
    assert media.rtcp is not None and media.rtcp.port == 4001 and media.rtcp.connection is None
    assert media.rtcp_mux


def test_trailing_blanks_on_structured_lines_are_tolerated() -> None:
    sdp = parse_sdp("v=0 \r\no=- 1 2 IN IP4 h \r\ns=x \r\nc=IN IP4 h\t\r\nt=0 0 \r\n"
                    "m=audio 4000 RTP/AVP 0 \r\n\r\n")
    assert sdp.session_name == "x " and sdp.origin.address == "h"
    assert sdp.media[0].formats == ["0"]


def test_repeat_times_and_multiple_timings() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=10 20\r\nr=7d 1h 0 25h\r\nt=30 40\r\n"
            "z=2882844526 -1h\r\nk=prompt\r\na=tool:x\r\n")
    sdp = parse_sdp(text)
    assert [(t.start, t.stop, t.repeats) for t in sdp.timings] == [
        (10, 20, ["7d 1h 0 25h"]), (30, 40, [])]
    assert str(sdp) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("o=- 1 1 IN IP4 h\r\n", "start with v="),
        ("v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "version"),
        ("v=0\r\ns=-\r\nt=0 0\r\n", "missing mandatory 'o='"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", "missing mandatory 't='"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\ns=-\r\n", "out of order"),
        ("v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "o= must be"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ns=-\r\nt=0 0\r\n", "duplicate 's='"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/AVP\r\n", "m= must be"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\ns=x\r\n",
         "not allowed at media level"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nx=1\r\n", "not allowed at session level"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nbad line\r\n", "not a '<type>=<value>'"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nr=1 2 3\r\nt=0 0\r\n", "r= without"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\nt=0 0\r\n", "c= must be"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=:x\r\n", "attribute name"),
    ],
)
def test_malformed_sdp_is_a_typed_error(text: str, fragment: str) -> None:
    with pytest.raises(SdpError) as info:
        parse_sdp(text)
    assert fragment in str(info.value)
    assert len(info.value.reason) < 100


def test_non_utf8_is_an_sdp_error() -> None:
    with pytest.raises(SdpError, match="UTF-8"):
        parse_sdp(b"v=0\r\no=\xff 1 1 IN IP4 h\r\n")


def test_malformed_helper_attributes_raise_sdp_error() -> None:
    media = parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 96\r\n"
                      "a=rtpmap:96 opus\r\na=rtcp:abc\r\na=crypto:1 X\r\n").media[0]
    with pytest.raises(SdpError, match="rtpmap"):
        media.codecs()
    with pytest.raises(SdpError, match="rtcp"):
        _ = media.rtcp
    with pytest.raises(SdpError, match="crypto"):
        media.crypto()


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.", min_size=1,
                 max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                        blacklist_characters="\x7f"), max_size=30)


@st.composite
def _media(draw: st.DrawFn) -> MediaDescription:
    media = MediaDescription(
        media=draw(st.sampled_from(["audio", "video", "application"])),
        port=draw(st.integers(0, 65535)),
        proto=draw(st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF"])),
        formats=[str(x) for x in draw(st.lists(st.integers(0, 127), min_size=1, max_size=5))],
        port_count=draw(st.none() | st.integers(1, 9)),
        title=draw(st.none() | _value),
    )
    for _ in range(draw(st.integers(0, 2))):
        media.connections.append(Connection("IN", "IP4", draw(_token)))
    for name in draw(st.lists(_token, max_size=5)):
        media.add_attribute(name, draw(st.none() | _value))
    return media


@st.composite
def _session(draw: st.DrawFn) -> SessionDescription:
    sdp = SessionDescription(
        origin=Origin(draw(_token), draw(st.integers(0, 2**63)), draw(st.integers(0, 2**63)),
                      "IN", draw(st.sampled_from(["IP4", "IP6"])), draw(_token)),
        session_name=draw(_value),
        information=draw(st.none() | _value),
        uri=draw(st.none() | _token),
        emails=draw(st.lists(_token, max_size=2)),
        connection=draw(st.none() | st.builds(Connection, st.just("IN"), st.just("IP4"), _token)),
    )
    for name in draw(st.lists(_token, max_size=4)):
        sdp.add_attribute(name, draw(st.none() | _value))
    sdp.media = draw(st.lists(_media(), max_size=4))
    return sdp


@settings(max_examples=150, deadline=None)
@given(_session())
def test_round_trip(sdp: SessionDescription) -> None:
    text = sdp.to_bytes()
    again = parse_sdp(text)
    assert again == sdp
    assert again.to_bytes() == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_never_crashes(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n"
                        + data)
        for media in sdp.media:   # the helpers fail the same typed way
            media.codecs()
            _ = media.rtcp
            media.crypto()
