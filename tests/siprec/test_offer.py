"""SIPREC offer/answer and the multipart body (RFC 7866 §8, RFC 3264, RFC 4568)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc7865_model import schema_errors

from src_client.sdes import generate_crypto
from src_client.sdp import Codec, Connection, Direction, Origin, parse_sdp
from src_client.sip.message import parse_message
from src_client.siprec.metadata import NameID, call_metadata, parse_metadata
from src_client.siprec.offer import (
    ForkSource,
    OfferError,
    SiprecBodyError,
    SiprecOffer,
    Track,
    UnusableAnswer,
    build_siprec_body,
    parse_answer,
    split_siprec_body,
)

CALL_CODECS = [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000),
               Codec(101, "telephone-event", 8000, 1, "0-16")]
BOTH = [ForkSource(Track.INBOUND, 40000), ForkSource(Track.OUTBOUND, 40002)]


def _offer(**kw: object) -> SiprecOffer:
    args: dict[str, object] = {"address": "192.0.2.1", "codecs": CALL_CODECS, "sources": BOTH,
                               "session_id": 1234}
    args.update(kw)
    return SiprecOffer(**args)  # type: ignore[arg-type]


def test_plain_offer_wire_form() -> None:
    text = str(_offer().sdp())
    assert text == (
        "v=0\r\n"
        "o=src-client 1234 0 IN IP4 192.0.2.1\r\n"
        "s=SIPREC\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 8\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtcp:40001\r\n"
        "a=sendonly\r\n"
        "a=label:1\r\n"
        "m=audio 40002 RTP/AVP 0 8\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtcp:40003\r\n"
        "a=sendonly\r\n"
        "a=label:2\r\n")
    assert "telephone-event" not in text


def test_single_track_ipv6_ptime_and_explicit_rtcp() -> None:
    offer = SiprecOffer(address="2001:db8::1", codecs=[Codec(9, "G722", 8000)],
                        sources=[ForkSource(Track.OUTBOUND, 5000, 6000)], ptime=20)
    sdp = offer.sdp()
    assert sdp.origin.addrtype == "IP6" and str(sdp.connection) == "IN IP6 2001:db8::1"
    [media] = sdp.media
    assert media.label == "2" and media.attribute("ptime") == "20"
    assert media.rtcp is not None and media.rtcp.port == 6000


def test_secure_offer_has_savp_and_fresh_keys_per_track() -> None:
    offer = _offer(secure=True, crypto_suites=("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"))
    sdp = parse_sdp(offer.sdp().to_bytes())
    for media, track in zip(sdp.media, Track, strict=True):
        assert media.proto == "RTP/SAVP"
        crypto = media.crypto()
        assert [(c.tag, c.suite) for c in crypto] == [(1, "AES_CM_128_HMAC_SHA1_80"),
                                                       (2, "AEAD_AES_128_GCM")]
        assert crypto == offer.local_crypto(track)
    assert sdp.media[0].crypto()[0].keys != sdp.media[1].crypto()[0].keys
    # keys stay the same across re-offers (no forced re-key on the SRS)
    assert parse_sdp(offer.sdp(paused=True).to_bytes()).media[0].crypto() == sdp.media[0].crypto()
    key = base64.b64encode(offer.local_crypto(Track.INBOUND)[0].keys[0].key_salt).decode()
    assert key in str(offer.sdp()) and key not in repr(offer.sdp())


def test_version_bumps_only_on_change() -> None:
    offer = _offer()
    assert offer.sdp().origin.session_version == 0
    assert offer.sdp().origin.session_version == 0        # refresh: same SDP, same version
    paused = offer.sdp(paused=True)
    assert paused.origin.session_version == 1
    assert [m.direction for m in paused.media] == [Direction.INACTIVE, Direction.INACTIVE]
    assert offer.sdp().origin.session_version == 2        # resume
    assert offer.version == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"codecs": [Codec(101, "telephone-event", 8000)]}, "no audio codec"),
        ({"sources": []}, "nothing to fork"),
        ({"sources": [ForkSource(Track.INBOUND, 1), ForkSource(Track.INBOUND, 3)]}, "once"),
        ({"secure": True, "crypto_suites": ()}, "crypto suite"),
    ],
)
def test_offer_errors(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(OfferError, match=fragment):
        _offer(**kwargs)


def _answer(*media: str, session: str = "c=IN IP4 203.0.113.9\r\n") -> str:
    return ("v=0\r\no=SRS 99 1 IN IP4 203.0.113.9\r\ns=-\r\n" + session + "t=0 0\r\n"
            + "".join(media))


M1 = "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\na=label:1\r\n"
M2 = "m=audio 30002 RTP/AVP 8\r\na=recvonly\r\na=label:2\r\n"


def test_answer_destinations() -> None:
    offer = _offer().sdp()
    destinations = parse_answer(offer, _answer(M1, M2).encode())
    first, second = destinations["1"], destinations["2"]
    assert (first.track, first.host, first.rtp_port, first.rtcp_port) == (
        Track.INBOUND, "203.0.113.9", 30000, 30001)
    assert first.direction is Direction.RECVONLY and first.active
    assert first.codec == Codec(0, "PCMU", 8000)
    assert second.track is Track.OUTBOUND and second.codec == Codec(8, "PCMA", 8000)
    assert first.local_crypto is None and first.remote_crypto is None


def test_answer_inactive_is_a_paused_fork_and_rtcp_attribute_is_used() -> None:
    offer = _offer().sdp()
    m2 = ("m=audio 30002 RTP/AVP 8\r\nc=IN IP4 203.0.113.10\r\na=rtcp:31000 IN IP4 "
          "203.0.113.11\r\na=inactive\r\n")      # no label: position decides
    destinations = parse_answer(offer, _answer(M1, m2))
    paused = destinations["2"]
    assert paused.direction is Direction.INACTIVE and not paused.active
    assert paused.host == "203.0.113.10" and paused.rtcp_port == 31000


def test_answer_with_rejected_stream_and_sendrecv_and_hold_address() -> None:
    offer = _offer().sdp()
    rejected = "m=audio 0 RTP/AVP 0\r\na=label:2\r\n"
    sendrecv = "m=audio 30000 RTP/AVP 0\r\na=label:1\r\n"   # no direction = sendrecv
    destinations = parse_answer(offer, _answer(sendrecv, rejected))
    assert list(destinations) == ["1"] and destinations["1"].direction is Direction.RECVONLY
    held = parse_answer(offer, _answer(M1, M2, session="c=IN IP4 0.0.0.0\r\n"))
    assert all(d.direction is Direction.INACTIVE for d in held.values())


def test_answer_to_paused_offer_is_inactive() -> None:
    offer = _offer()
    offer.sdp()
    paused = offer.sdp(paused=True)
    destinations = parse_answer(paused, _answer(M1, M2))   # SRS said recvonly anyway
    assert not any(d.active for d in destinations.values())


def test_answer_codec_matched_by_name_uses_our_payload_type() -> None:
    offer = SiprecOffer(address="192.0.2.1", sources=BOTH[:1],
                        codecs=[Codec(96, "opus", 48000, 2, "useinbandfec=1")]).sdp()
    answer = _answer("m=audio 30000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=recvonly\r\n")
    assert parse_answer(offer, answer)["1"].codec == Codec(96, "opus", 48000, 2, "useinbandfec=1")


def test_secure_answer_selects_crypto() -> None:
    offer = _offer(secure=True, crypto_suites=("AES_CM_128_HMAC_SHA1_80",
                                               "AES_CM_128_HMAC_SHA1_32"))
    sdp = offer.sdp()
    srs_key = generate_crypto(2, "AES_CM_128_HMAC_SHA1_32")
    media = (f"m=audio 30000 RTP/SAVP 0\r\na=crypto:{srs_key.to_value()}\r\na=recvonly\r\n"
             f"a=label:1\r\n")
    destinations = parse_answer(sdp, _answer(media, "m=audio 0 RTP/SAVP 0\r\n"))
    chosen = destinations["1"]
    assert chosen.local_crypto == offer.local_crypto(Track.INBOUND)[1]
    assert chosen.remote_crypto == srs_key


@pytest.mark.parametrize(
    ("secure", "answer", "fragment"),
    [
        (False, _answer(M1), "1 m-lines for the 2 offered"),
        (False, _answer(M1.replace("30000", "0"), M2.replace("30002", "0")), "rejected every"),
        (False, _answer(M1, M2.replace("label:2", "label:1")), "does not match offered label"),
        (False, _answer(M1, M2.replace("RTP/AVP 8", "RTP/SAVP 8")), "does not match offer"),
        (False, _answer(M1, M2.replace("recvonly", "sendonly")), "answered sendonly"),
        (False, _answer(M1, M2, session=""), "no c= address"),
        (False, _answer(M1, M2.replace("RTP/AVP 8", "RTP/AVP 18")), "no codec in common"),
        (False, _answer(M1, M2.replace("RTP/AVP 8", "RTP/AVP 0\r\na=rtpmap:0 G729/8000")),
         "no codec in common"),
        (False, "v=0\r\ngarbage\r\n", "malformed answer SDP"),
        (False, _answer(M1, M2 + "a=rtcp:x\r\n"), "malformed answer SDP"),
        (True, _answer(M1.replace("AVP", "SAVP"), M2.replace("AVP", "SAVP")),
         "no acceptable a=crypto"),
        (True, _answer(M1.replace("AVP", "SAVP") + "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:"
                       + base64.b64encode(bytes(30)).decode() + "\r\n",
                       M2.replace("AVP", "SAVP")), "no acceptable a=crypto"),
    ],
)
def test_unusable_answers(secure: bool, answer: str, fragment: str) -> None:
    offer = _offer(secure=secure).sdp()
    with pytest.raises(UnusableAnswer) as info:
        parse_answer(offer, answer)
    assert fragment in info.value.reason
    assert "inline:AAAA" not in str(info.value)


def test_body_round_trip_through_a_sip_message() -> None:
    offer = _offer().sdp()
    meta = call_metadata(sip_call_id="abc@host", remote=NameID("sip:+1555@carrier"),
                         local=NameID("sip:+1666@src"), inbound_label="1", outbound_label="2",
                         start_time=datetime(2026, 11, 24, tzinfo=UTC))
    body, content_type = build_siprec_body(offer, meta)
    assert content_type.startswith("multipart/mixed;boundary=")
    message = (f"INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
               f"From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: x\r\n"
               f"CSeq: 1 INVITE\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    request = parse_message(message)
    parts = split_siprec_body(request.body, request.headers.get("Content-Type"))
    assert parts.sdp == offer.to_bytes()
    assert parts.metadata == meta.to_xml()
    assert parts.metadata_content_type == "application/rs-metadata+xml"
    assert parts.metadata_disposition == "recording-session"
    assert parts.sdp is not None and parts.metadata is not None
    labels = {m.label for m in parse_sdp(parts.sdp).media if m.label}
    assert parse_metadata(parts.metadata, sdp_labels=labels)[1] == []
    assert schema_errors(parts.metadata) == []


def test_split_accepts_legacy_type_and_single_parts() -> None:
    xml = b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'/>"
    body = (b"--b\r\nContent-Type: application/rs-metadata\r\n\r\n" + xml + b"\r\n"
            b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b--\r\n")
    parts = split_siprec_body(body, "multipart/mixed; boundary=b")
    assert parts.metadata == xml and parts.metadata_content_type == "application/rs-metadata"
    assert parts.metadata_disposition is None and parts.sdp == b"v=0\r\n"
    assert split_siprec_body(b"v=0\r\n", "application/sdp").sdp == b"v=0\r\n"
    assert split_siprec_body(xml, "application/rs-metadata+xml").metadata == xml
    assert split_siprec_body(b"", None).sdp is None


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"x", "text/plain", "unsupported body type text/plain"),
        (b"x", None, "unsupported body type (none)"),
        (b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0", "multipart/mixed;boundary=b",
         "bad multipart"),
        (b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\nContent-Type: "
         b"application/sdp\r\n\r\nv=0\r\n--b--", "multipart/mixed;boundary=b", "two SDP"),
    ],
)
def test_split_errors(body: bytes, content_type: str | None, fragment: str) -> None:
    with pytest.raises(SiprecBodyError) as info:
        split_siprec_body(body, content_type)
    assert fragment in str(info.value)


def _srs_answer(offer_sdp: bytes, address: str = "198.51.100.20") -> bytes:
    """What a conforming SRS answers: every stream accepted, reversed direction, first codec."""
    answer = parse_sdp(offer_sdp)
    answer.origin = Origin("SRS", 1, 1, "IN", "IP4", address)
    answer.connection = Connection("IN", "IP4", address)
    for index, media in enumerate(answer.media):
        media.port = 50000 + 2 * index
        media.set_codecs(media.codecs()[:1])
        media.remove_attribute("rtcp")
        direction = answer.media_direction(media)
        media.direction = direction.reversed()
        media.remove_attribute("crypto")
        if media.proto == "RTP/SAVP":
            media.add_attribute("crypto", generate_crypto(1).to_value())
    return answer.to_bytes()


def test_cube_style_offer_parsed_by_an_srs_and_answered() -> None:
    cube = (b"v=0\r\no=CiscoSystemsSIP-GW-UserAgent 4870 2468 IN IP4 192.0.2.10\r\ns=SIP Call\r\n"
            b"c=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            b"m=audio 16434 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
            b"a=sendonly\r\na=label:1\r\n")
    offer = parse_sdp(cube)
    destinations = parse_answer(offer, _srs_answer(cube))
    assert destinations["1"].codec == Codec(0, "PCMU", 8000)
    assert destinations["1"].direction is Direction.RECVONLY


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000),
                                 Codec(9, "G722", 8000), Codec(96, "opus", 48000, 2),
                                 Codec(101, "telephone-event", 8000, 1, "0-15")]),
                min_size=1, max_size=4, unique=True).filter(
                    lambda cs: any(c.name != "telephone-event" for c in cs)),
       st.sampled_from([[Track.INBOUND], [Track.OUTBOUND], list(Track)]),
       st.booleans(), st.booleans())
def test_offer_answer_property(codecs: list[Codec], tracks: list[Track], secure: bool,
                               paused: bool) -> None:
    offer = SiprecOffer(address="192.0.2.1", codecs=codecs, secure=secure,
                        sources=[ForkSource(t, 40000 + 2 * i) for i, t in enumerate(tracks)])
    sdp = offer.sdp(paused=paused)
    destinations = parse_answer(sdp, _srs_answer(sdp.to_bytes()))
    assert sorted(destinations) == sorted(t.label for t in tracks)
    first = next(c for c in codecs if c.name != "telephone-event")
    for track in tracks:
        destination = destinations[track.label]
        assert destination.track is track and destination.codec == first
        assert destination.active is not paused
        assert (destination.local_crypto is not None) is secure
