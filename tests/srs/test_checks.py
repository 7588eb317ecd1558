"""The bundled SRS's strict checks: each known SRC mistake is named with its RFC."""

from __future__ import annotations

from src_client.sip.message import Request, parse_message
from src_client.srs.checks import check_invite

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\na=label:1\r\n"
)
METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<recording xmlns="urn:ietf:params:xml:ns:recording:1">'
    "<datamode>complete</datamode>"
    '<session session_id="3h0Aa85RogmKJiIMoSUVMA=="><sipSessionID>x@y</sipSessionID></session>'
    '<participant participant_id="B4QxQBZ7fPFFGV0iTvQhUg=="><nameID aor="sip:a@b"/></participant>'
    '<stream stream_id="QUtLyUVtmtz4K4nyC9qYMA==" session_id="3h0Aa85RogmKJiIMoSUVMA==">'
    "<label>1</label></stream>"
    '<sessionrecordingassoc session_id="3h0Aa85RogmKJiIMoSUVMA=="/>'
    '<participantstreamassoc participant_id="B4QxQBZ7fPFFGV0iTvQhUg==">'
    "<send>QUtLyUVtmtz4K4nyC9qYMA==</send></participantstreamassoc>"
    "</recording>\n"
)


def _invite(*, require: str = "Require: siprec\r\n", contact: str = ";+sip.src",
            sdp: str = SDP, metadata_type: str = "application/rs-metadata+xml",
            disposition: str = "Content-Disposition: recording-session\r\n") -> Request:
    body = (
        "--b\r\nContent-Type: application/sdp\r\n\r\n" + sdp
        + f"\r\n--b\r\nContent-Type: {metadata_type}\r\n{disposition}\r\n" + METADATA
        + "\r\n--b--\r\n"
    ).encode()
    head = (
        "INVITE sip:srs@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n"
        "Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:src@127.0.0.1>{contact}\r\n{require}"
        "Content-Type: multipart/mixed;boundary=b\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    message = parse_message(head + body)
    assert isinstance(message, Request)
    return message


def _messages(request: Request) -> list[str]:
    return [str(v) for v in check_invite(request).violations]


def test_a_correct_invite_has_no_violation() -> None:
    checked = check_invite(_invite())
    assert checked.violations == []
    assert checked.sdp is not None and checked.metadata is not None


def test_missing_require_and_legacy_contact_tag_are_named() -> None:
    found = _messages(_invite(require="", contact=";src"))
    assert any("Require: siprec" in m and "RFC 7866" in m for m in found)
    assert any("legacy ';src'" in m for m in found)


def test_sdp_mistakes_are_named() -> None:
    bad = SDP.replace("a=sendonly\r\n", "").replace("RTP/AVP 0", "RTP/AVP 0 101")
    bad += "a=rtpmap:101 telephone-event/8000\r\n"
    found = _messages(_invite(sdp=bad))
    assert any("sendrecv, an SRC offers sendonly" in m for m in found)
    assert any("telephone-event" in m for m in found)


def test_metadata_packaging_mistakes_are_named() -> None:
    found = _messages(_invite(metadata_type="application/rs-metadata", disposition=""))
    assert any("legacy type" in m for m in found)
    assert any("recording-session" in m for m in found)
