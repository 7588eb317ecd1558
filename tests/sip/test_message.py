"""Message parsing, serialising, make_response and stream framing (RFC 3261 §7, §8.2.6, §18.3)."""

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from message_fuzz import exercise, mutate

from src_client.sip import (
    REASON_PHRASES,
    Headers,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    parse_uri,
    to_header,
    top_via,
)

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"
)
INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK0a1\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def test_parse_request() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri == parse_uri("sip:bob@biloxi.example.com")
    assert msg.body == SDP
    assert call_id(msg) == "3848276298220188511@atlanta.example.com"
    assert cseq(msg) == (1, "INVITE")
    assert top_via(msg).branch == "z9hG4bK74bf9"
    assert from_header(msg).tag == "9fxced76sl"
    assert to_header(msg).tag is None
    assert to_header(msg).display_name == "Bob"
    assert msg.to_bytes() == INVITE


def test_parse_response_and_empty_reason() -> None:
    data = (
        b"SIP/2.0 180 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 7 INVITE\r\n\r\n"
    )
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.body) == (180, "", b"")
    assert msg.to_bytes().startswith(b"SIP/2.0 180 \r\n")
    assert parse_message(data.replace(b"180 ", b"180", 1)).status == 180  # type: ignore[union-attr]


def test_content_length_counts_bytes_and_truncates_extra() -> None:
    body = "héllo".encode()
    data = INVITE.split(b"Content-Type")[0] + b"Content-Length: 6\r\n\r\n" + body + b"junk"
    msg = parse_message(data)
    assert msg.body == body
    assert b"Content-Length: 6\r\n" in msg.to_bytes()


def test_content_length_beyond_datagram_gets_partial() -> None:
    data = INVITE.replace(b"Content-Length: ", b"Content-Length: 9")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.reason == "Content-Length Mismatch"
    partial = info.value.partial
    assert partial is not None and partial.method == "INVITE"
    response = make_response(partial, 400, info.value.reason, to_tag="x")
    assert response.to_bytes().startswith(b"SIP/2.0 400 Content-Length Mismatch\r\n")


def test_missing_content_length_takes_rest_of_datagram() -> None:
    data = INVITE.replace(b"Content-Length: " + str(len(SDP)).encode() + b"\r\n", b"")
    assert parse_message(data).body == SDP


def test_lf_only_line_ends() -> None:
    data = INVITE.split(b"\r\n\r\n")[0].replace(b"\r\n", b"\n") + b"\n\n" + SDP
    msg = parse_message(data)
    assert msg.body == SDP and cseq(msg) == (1, "INVITE")


def test_leading_crlf_ignored() -> None:
    assert parse_message(b"\r\n\r\n" + INVITE).to_bytes() == INVITE


def test_limits() -> None:
    with pytest.raises(SipParseError, match="Message Too Large"):
        parse_message(INVITE, max_size=len(INVITE) - 1)
    assert parse_message(INVITE, max_size=len(INVITE)).body == SDP
    with pytest.raises(SipParseError, match="Too Many Headers"):
        parse_message(INVITE, max_headers=8)
    assert parse_message(INVITE, max_headers=10).body == SDP


@pytest.mark.parametrize(
    ("old", "new", "reason", "answerable"),
    [
        (b"CSeq: 1 INVITE", b"CSeq: 1 BYE", "CSeq Method Mismatch", True),
        (b"CSeq: 1 INVITE", b"CSeq: -1 INVITE", "Bad CSeq", False),
        (b"CSeq: 1 INVITE", b"CSeq: 2147483648 INVITE", "Bad CSeq", False),
        (b"Call-ID: ", b"X-Call-ID: ", "Missing Call-ID", False),
        (b"Max-Forwards: 70", b"Max-Forwards: seventy", "Bad Max-Forwards", True),
        (b"Content-Length: ", b"Content-Length: -", "Bad Content-Length", True),
        (b"To: Bob", b"To: <sip:x@y>\r\nTo: Bob", "Multiple To Headers", False),
        (b"Via: SIP/2.0/UDP 192.0.2.10:5060", b"Via: SIP/2.0/UDP 192.0.2.10:50x0",
         "Bad Via Header", False),
        (b'From: "Alice"', b'From: "Alice', "Bad From Header", False),
        (b"To: Bob <sip:bob@biloxi.example.com>", b"To: <sip:bob@>", "Bad To Header", False),
        (b"Max-Forwards: 70", b"Max-Forwards 70", "Malformed Header Line", True),
        (b"Max-Forwards: 70", b"Max Forwards: 70", "Bad Header Name", True),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69",
         "Multiple Max-Forwards Headers", True),
    ],
)  # fmt: skip
def test_semantic_errors(old: bytes, new: bytes, reason: str, answerable: bool) -> None:
    data = INVITE.replace(old, new, 1)
    assert data != INVITE
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.reason == reason
    assert (info.value.partial is not None) == answerable


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n",  # no empty line
        b"INVITE  sip:a@b SIP/2.0\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0 \r\n\r\n",
        b"INVITE sip:a@b SIP/3.0\r\n\r\n",
        b"INV<TE sip:a@b SIP/2.0\r\n\r\n",
        b"SIP/2.0 99 Weird\r\n\r\n",
        b"SIP/2.0 700 Weird\r\n\r\n",
        b"SIP/2.0 2000 Weird\r\n\r\n",
        b"SIP/1.0 200 OK\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\xff\xfe: x\r\n\r\n",
    ],
)
def test_unanswerable_garbage(data: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.partial is None
    assert info.value.reason and "\n" not in info.value.reason


def test_make_response() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    response = make_response(
        request, 200, to_tag="as83kd", headers=[("Contact", "<sip:bob@192.0.2.20>")],
        body=SDP, content_type="application/sdp",
    )  # fmt: skip
    assert response.reason == "OK"
    assert response.headers.get_all("Via") == request.headers.get_all("Via")
    assert response.headers.get("To") == "Bob <sip:bob@biloxi.example.com>;tag=as83kd"
    assert to_header(response).tag == "as83kd"
    for name in ("From", "Call-ID", "CSeq"):
        assert response.headers.get(name) == request.headers.get(name)
    assert "Max-Forwards" not in response.headers
    again = parse_message(response.to_bytes())
    again.headers.remove("Content-Length")
    assert again == response

    tagged = make_response(parse_message(response.to_bytes().replace(b"SIP/2.0 200 OK",
                                                                      b"BYE sip:b@h SIP/2.0")
                                         .replace(b"1 INVITE", b"1 BYE")),  # type: ignore[arg-type]
                           481, to_tag="other")  # fmt: skip
    assert to_header(tagged).tag == "as83kd"
    assert tagged.reason == "Call/Transaction Does Not Exist"
    assert make_response(request, 299).reason == "OK"
    assert make_response(request, 100).headers.get("To") == "Bob <sip:bob@biloxi.example.com>"


def test_reason_phrases() -> None:
    assert REASON_PHRASES[487] == "Request Terminated"
    assert all(100 <= code < 700 for code in REASON_PHRASES)


def test_stream_framer() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + INVITE + INVITE[:50]
    out: list[bytes] = []
    for i in range(0, len(stream), 37):
        out += framer.feed(stream[i : i + 37])
    assert out == [INVITE, INVITE]
    assert framer.feed(INVITE[50:]) == [INVITE]
    assert framer.feed(b"\r\n\r\n") == []


def test_stream_framer_errors() -> None:
    no_length = INVITE.replace(b"Content-Length", b"X-Length")
    with pytest.raises(SipParseError, match="Missing Content-Length"):
        StreamFramer().feed(no_length)
    with pytest.raises(SipParseError, match="Message Too Large"):
        StreamFramer(max_size=100).feed(b"X" * 101)
    with pytest.raises(SipParseError, match="Message Too Large"):
        StreamFramer(max_size=len(INVITE) - 1).feed(INVITE[:-5])
    with pytest.raises(SipParseError, match="Bad Content-Length"):
        StreamFramer().feed(INVITE.replace(b"Content-Length: ", b"l: x"))
    compact = StreamFramer().feed(INVITE.replace(b"Content-Length:", b"l :"))
    assert len(compact) == 1


def test_cseq_memo_serves_repeats_and_bounds_what_it_keeps() -> None:
    long_method = "X-" + "A" * 40  # longer than the memo keeps: parsed afresh every time
    for method in ("INVITE", long_method):
        data = INVITE.replace(b"INVITE", method.encode())
        for _ in range(2):
            assert cseq(parse_message(data)) == (1, method)
    bad = INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1x INVITE", 1)
    for _ in range(2):  # a refused value is refused again, not served from the memo
        with pytest.raises(SipParseError, match="Bad CSeq"):
            parse_message(bad)


_token = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.]{0,10}", fullmatch=True)
_value = st.from_regex(r"[!-~]([ !-~]{0,30}[!-~])?", fullmatch=True).filter(lambda v: "," not in v)


@st.composite
def _messages(draw: st.DrawFn) -> Request | Response:
    headers = Headers([
        ("Via", f"SIP/2.0/UDP {draw(_token)};branch=z9hG4bK{draw(_token)}"),
        ("From", f"<sip:{draw(_token)}@example.com>;tag={draw(_token)}"),
        ("To", f"<sip:{draw(_token)}@example.com>"),
        ("Call-ID", draw(_token)),
    ])  # fmt: skip
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "OPTIONS", "X-CUSTOM"]))
    headers.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    for name in draw(st.lists(st.sampled_from(["X-Extra", "Subject", "User-Agent", "Foo"]))):
        headers.add(name, draw(_value))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        status = draw(st.integers(100, 699))
        return Response(status, draw(_value), headers, body)
    return Request(method, draw(st.sampled_from([parse_uri("sip:a@[::1]:5060;lr"),
                                                 parse_uri("sips:b@example.com")])),
                   headers, body)  # fmt: skip


@given(_messages())
def test_generated_round_trip(msg: Request | Response) -> None:
    wire = msg.to_bytes()
    parsed = parse_message(wire)
    parsed.headers.remove("Content-Length")
    assert parsed == msg
    assert parse_message(wire).to_bytes() == wire


@given(st.integers(0, 2**32))
def test_fuzz_mutations_raise_only_parse_errors(seed: int) -> None:
    exercise(mutate(INVITE, random.Random(seed)))


@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    exercise(data)
    with contextlib.suppress(SipParseError):
        StreamFramer(max_size=200).feed(data)


def test_stream_framer_counts_keep_alive_pings() -> None:
    """RFC 5626 §3.5.1: CRLFCRLF is a ping (even split across reads), a lone CRLF is not."""
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [] and framer.take_pings() == 1
    assert framer.take_pings() == 0
    assert framer.feed(b"\r\n" + INVITE) == [INVITE] and framer.take_pings() == 0  # a pong
    assert framer.feed(b"\r\n\r") == [] and framer.take_pings() == 0
    assert framer.feed(b"\n" + INVITE) == [INVITE] and framer.take_pings() == 1  # split ping
    assert framer.feed(b"\r\n\r\n\r\n\r\n" + INVITE[:9]) == [] and framer.take_pings() == 2
    assert framer.feed(INVITE[9:] + b"\r\n") == [INVITE] and framer.take_pings() == 0


def test_stream_framer_byte_at_a_time() -> None:
    framer = StreamFramer()
    stream = INVITE + b"\r\n\r\n" + INVITE.replace(b"\r\n", b"\n", 3)
    out: list[bytes] = []
    for i in range(len(stream)):
        out += framer.feed(stream[i : i + 1])
    assert out[0] == INVITE
    assert parse_message(out[1]) == parse_message(INVITE)
    assert len(out) == 2


def test_keep_alive_datagram_is_named() -> None:
    with pytest.raises(SipParseError, match="Empty Message"):
        parse_message(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Inject", "a\r\nVia: evil"), ("X-Inject", "a\nb"), ("Bad Name", "v"), ("X:Y", "v")],
)
def test_header_injection_refused(name: str, value: str) -> None:
    headers = Headers()
    with pytest.raises(ValueError):
        headers.add(name, value)
    with pytest.raises(ValueError):
        headers.set(name, value)
    with pytest.raises(ValueError):
        Headers([(name, value)])
    assert len(headers) == 0
