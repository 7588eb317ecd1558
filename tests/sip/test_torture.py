"""Tortuous messages in the spirit of RFC 4475, written for this project.

Each message is parsed from the wire form below (``\\n`` becomes CRLF unless the case is about
line ends) and checked against what a careful UAS must conclude: the values it reads from the
odd syntax, or the error it reports and whether a 400 can still be sent.
"""

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from message_fuzz import exercise, mutate

from src_client.sip import (
    Message,
    Request,
    Response,
    SipParseError,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    parse_multipart,
    parse_name_addr,
    parse_via,
    to_header,
    top_via,
)
from src_client.sip.endpoint import ServerTransaction, SipEndpoint
from src_client.sip.guard import label


def wire(text: str, body: bytes = b"") -> bytes:
    return text.replace("\n", "\r\n").encode() + body


# --- messages that are valid, however odd they look -------------------------------------

WHITESPACE_AND_FOLDING = wire(
    "OPTIONS sip:recorder@srs.example.net;transport=udp;oddparam SIP/2.0\n"
    "tO   :\n"
    "   <sip:recorder@srs.example.net> ;  tag   = 8841abc\n"
    'FROM:"Ann \\"the \\\\ Agent\\" O\'Neil"   <sip:ann@pbx.example.org>\n'
    " ;\n"
    " tag = 77xq\n"
    "mAx-FoRwArDs: 0070\n"
    "i: ws-fold-01@192.0.2.50\n"
    "cseq  :   0042\n"
    "   OPTIONS\n"
    "Via\t:  SIP\t/ 2.0\n"
    "  /  udp\n"
    "\t  192.0.2.50 ; branch = z9hG4bKws01 ;rport\n"
    "v: SIP/2.0/TCP relay.example.org:5070;branch=z9hG4bKws00 ,"
    " SIP / 2.0 / UDP [2001:db8::7];branch=z9hG4bKws02\n"
    "X-Vendor-Thing:   first part\n"
    "   second part\n"
    "X-Odd-Value: ;;,,;=;,\n"
    "s:\n"
    "L: 0\n"
    "\n"
)


def check_whitespace_and_folding(msg: Message) -> None:
    assert isinstance(msg, Request) and msg.method == "OPTIONS"
    assert msg.uri.has_param("oddparam") and msg.uri.transport == "udp"
    assert cseq(msg) == (42, "OPTIONS")
    assert call_id(msg) == "ws-fold-01@192.0.2.50"
    assert to_header(msg).tag == "8841abc"
    assert from_header(msg).display_name == 'Ann "the \\ Agent" O\'Neil'
    assert from_header(msg).tag == "77xq"
    assert msg.headers.get("Max-Forwards") == "0070"
    vias = [parse_via(v) for v in msg.headers.get_all("Via")]
    assert [(v.transport, v.host, v.port, v.branch) for v in vias] == [
        ("UDP", "192.0.2.50", None, "z9hG4bKws01"),
        ("TCP", "relay.example.org", 5070, "z9hG4bKws00"),
        ("UDP", "2001:db8::7", None, "z9hG4bKws02"),
    ]
    assert top_via(msg).has_param("rport")
    assert msg.headers.get("X-Vendor-Thing") == "first part second part"
    assert msg.headers.get("X-Odd-Value") == ";;,,;=;,"
    assert msg.headers.get("Subject") == ""
    assert msg.body == b""


ESCAPES_AND_IPV6 = wire(
    "INVITE sip:sip%3Arec%40srs.example.net@gw.example.net;transport=tcp;x-note=%20sp SIP/2.0\n"
    "To: <sip:%72ec;version=2@srs.example.net;Transport=TCP>\n"
    "From: <sip:caller@[2001:db8:0:0:0:0:0:1]:5090>;tag=esc01\n"
    "Call-ID: esc-01@[2001:db8::1]\n"
    "CSeq: 1 INVITE\n"
    "Max-Forwards: 70\n"
    "Via: SIP/2.0/TLS [2001:db8::1]:5091;branch=z9hG4bKesc01;received=2001:db8::1\n"
    "Contact: <sips:caller@[2001:db8::1]:5091;transport=tls>"
    ';+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"\n'
    "Content-Length: 0\n"
    "\n"
)


def check_escapes_and_ipv6(msg: Message) -> None:
    assert isinstance(msg, Request)
    assert msg.uri.user == "sip%3Arec%40srs.example.net"
    assert msg.uri.param("x-note") == "%20sp"
    to = to_header(msg)
    assert (to.uri.user, to.uri.host, to.uri.transport) == ("%72ec;version=2", "srs.example.net",
                                                            "tcp")  # fmt: skip
    assert from_header(msg).uri.host == "2001:db8:0:0:0:0:0:1"
    assert from_header(msg).uri.port == 5090
    via = top_via(msg)
    assert (via.transport, via.host, via.port) == ("TLS", "2001:db8::1", 5091)
    assert via.param("received") == "2001:db8::1"
    contact = parse_name_addr(msg.headers.get_all("Contact")[0])
    assert contact.uri.scheme == "sips" and contact.uri.host == "2001:db8::1"
    assert contact.param("+sip.instance") == '"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"'
    assert str(contact.uri) == "sips:caller@[2001:db8::1]:5091;transport=tls"


UNKNOWN_METHOD_AND_SCHEME = wire(
    "!odd.Meth%0d*_+`'~ urn:x-recording:session;p=1 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKodd\n"
    "To: <sip:srs@example.net>\n"
    "From: <tel:+1-555-0100;phone-context=example.net>;tag=t1\n"
    "Call-ID: odd-method\n"
    "CSeq: 3 !odd.Meth%0d*_+`'~\n"
    "Max-Forwards: 1\n"
    "P-Unheard-Of: <weird://thing>, 'single quotes'\n"
    "Content-Length: 0\n"
    "\n"
)


def check_unknown_method_and_scheme(msg: Message) -> None:
    assert isinstance(msg, Request) and msg.method == "!odd.Meth%0d*_+`'~"
    assert msg.uri.scheme == "urn"  # a UAS answers 416, RFC 3261 §8.2.2.1
    assert cseq(msg) == (3, "!odd.Meth%0d*_+`'~")
    sender = from_header(msg)
    assert (sender.uri.scheme, sender.uri.host) == ("tel", "+1-555-0100")
    assert sender.uri.param("phone-context") == "example.net"
    assert msg.headers.get("p-unheard-of") == "<weird://thing>, 'single quotes'"


UTF8_BODY = "v=0\r\ns=Réunion — ☎\r\n\r\nblank line above is body\r\n".encode()
RESPONSE_UTF8_AND_LISTS = wire(
    "Sip/2.0 183 Séance en cours\n"
    "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,SIP/2.0/UDP b.example.com;branch=z9hG4bK2\n"
    "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3\n"
    "Record-Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\n"
    'Record-Route: <sip:p3.example.com;lr>;x="a,b"\n'
    'From: "Doe, Jane" <sip:jane@example.com>;tag=f\n'
    "To: <sip:rec@example.net>;tag=t\n"
    "Call-ID: utf8\n"
    "CSeq: 2147483647 INVITE\n"
    "Content-Type: application/sdp\n"
    f"Content-Length: {len(UTF8_BODY)}\n"
    "\n",
    UTF8_BODY,
)


def check_response_utf8_and_lists(msg: Message) -> None:
    assert isinstance(msg, Response) and (msg.status, msg.reason) == (183, "Séance en cours")
    assert [parse_via(v).host for v in msg.headers.get_all("Via")] == [
        "a.example.com", "b.example.com", "c.example.com",
    ]  # fmt: skip
    routes = [parse_name_addr(v) for v in msg.headers.get_all("Record-Route")]
    assert [r.uri.host for r in routes] == ["p1.example.com", "p2.example.com", "p3.example.com"]
    assert routes[2].param("x") == '"a,b"'
    assert from_header(msg).display_name == "Doe, Jane"
    assert cseq(msg) == (2**31 - 1, "INVITE")
    assert msg.body == UTF8_BODY


REGISTER_STAR_COMPACT = wire(
    "REGISTER sip:registrar.example.com sip/2.0\n"
    "v: SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bKstar\n"
    "t: sip:user@example.com\n"
    "f: sip:user@example.com;tag=s1\n"
    "i: star@192.0.2.4\n"
    "CSeq: 9 REGISTER\n"
    "m: *\n"
    "Expires: 0\n"
    "k: path, outbound\n"
    "x: 1800;refresher=uac\n"
    "Max-Forwards: 0\n"
    "\n"
)


def check_register_star_compact(msg: Message) -> None:
    assert to_header(msg).tag is None and from_header(msg).tag == "s1"
    assert msg.headers.get_all("Contact") == ["*"]
    assert msg.headers.get_all("Supported") == ["path", "outbound"]
    assert msg.headers.get("Session-Expires") == "1800;refresher=uac"
    assert msg.headers.get("Max-Forwards") == "0"  # accepted: the core answers 483


SIPREC_BODY = (
    b"--srs-boundary\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"
    b"\r\n--srs-boundary\r\n"
    b"Content-Type: application/rs-metadata+xml\r\n"
    b"Content-Disposition: recording-session\r\n"
    b"\r\n"
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
    b"</recording>\r\n"
    b"--srs-boundary--\r\n"
)
SIPREC_INVITE = wire(
    "INVITE sip:srs.example.com;secure=true&edge=ashburn SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKrec\n"
    "From: <sip:src@example.com>;tag=r1\n"
    "To: <sip:srs.example.com;secure=true&edge=ashburn>\n"
    "Call-ID: siprec-1\n"
    "CSeq: 1 INVITE\n"
    "Max-Forwards: 70\n"
    "Require: siprec\n"
    "Contact: <sip:src@192.0.2.1>;+sip.src\n"
    'Content-Type: multipart/mixed;boundary="srs-boundary"\n'
    f"Content-Length: {len(SIPREC_BODY)}\n"
    "\n",
    SIPREC_BODY,
)


def check_siprec_invite(msg: Message) -> None:
    assert isinstance(msg, Request)
    assert (msg.uri.param("secure"), msg.uri.param("edge")) == ("true", "ashburn")
    parts = parse_multipart(msg.body, msg.headers.get("Content-Type") or "")
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[0].body.endswith(b"a=sendonly\r\n")
    assert parts[1].body.endswith(b"</recording>")
    assert parse_name_addr(msg.headers.get("Contact") or "").has_param("+sip.src")


LF_ONLY_NO_LENGTH = (
    b"\r\n\r\nBYE sip:bob@192.0.2.20 SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKlf\n"
    b"From: <sip:a@example.com>;tag=1\n"
    b"To: <sip:b@example.com>;tag=2\n"
    b"Call-ID: lf-only\n"
    b"CSeq: 2 BYE\n"
    b"\n"
    b"trailing datagram bytes"
)


def check_lf_only_no_length(msg: Message) -> None:
    assert isinstance(msg, Request) and msg.method == "BYE"
    assert msg.body == b"trailing datagram bytes"  # no Content-Length on UDP: rest of datagram


VALID: list[tuple[str, bytes, Callable[[Message], None]]] = [
    ("whitespace-and-folding", WHITESPACE_AND_FOLDING, check_whitespace_and_folding),
    ("escapes-and-ipv6", ESCAPES_AND_IPV6, check_escapes_and_ipv6),
    ("unknown-method-and-scheme", UNKNOWN_METHOD_AND_SCHEME, check_unknown_method_and_scheme),
    ("response-utf8-and-lists", RESPONSE_UTF8_AND_LISTS, check_response_utf8_and_lists),
    ("register-star-compact", REGISTER_STAR_COMPACT, check_register_star_compact),
    ("siprec-invite", SIPREC_INVITE, check_siprec_invite),
    ("lf-only-no-length", LF_ONLY_NO_LENGTH, check_lf_only_no_length),
]


@pytest.mark.parametrize(("data", "check"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid(data: bytes, check: Callable[[Message], None]) -> None:
    msg = parse_message(data)
    check(msg)
    # Serialising canonicalises once, then is stable, and keeps every value.
    out = msg.to_bytes()
    again = parse_message(out)
    check(again)
    assert again.to_bytes() == out
    if isinstance(msg, Request):
        make_response(msg, 200, to_tag="x").to_bytes()


@given(st.sampled_from([v[1] for v in VALID]), st.integers(0, 2**32))
def test_fuzz_mutated_torture_messages(data: bytes, seed: int) -> None:
    exercise(mutate(data, random.Random(seed)))


# --- messages that must be refused ------------------------------------------------------

GOOD = (
    "INVITE sip:bob@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbad\n"
    "From: <sip:alice@example.com>;tag=a\n"
    "To: <sip:bob@example.com>\n"
    "Call-ID: bad-1\n"
    "CSeq: 5 INVITE\n"
    "Max-Forwards: 70\n"
    "Content-Length: 4\n"
    "\n"
    "body"
)


def bad(old: str, new: str) -> bytes:
    assert old in GOOD
    return wire(GOOD.replace(old, new, 1))


A, D = 400, None  # on the wire: answered 400 (RFC 4475 §3.1.2), or dropped (nothing to answer)

INVALID: list[tuple[str, bytes, str, bool, int | None]] = [
    # (name, data, reason, the parser returns the request, the answer on the wire)
    ("content-length-beyond-datagram", bad("Content-Length: 4", "Content-Length: 40"),
     "Content-Length Mismatch", True, A),
    ("content-length-not-number", bad("Length: 4", "Length: 4a"), "Bad Content-Length", True, A),
    ("content-length-negative", bad("Length: 4", "Length: -4"), "Bad Content-Length", True, A),
    ("content-length-twice", bad("Content-Length: 4", "Content-Length: 4\nl: 3"),
     "Multiple Content-Length Headers", True, A),
    ("missing-empty-line", wire(GOOD.split("\n\n")[0] + "\n"), "Missing Empty Line", False, A),
    ("cseq-negative", bad("CSeq: 5", "CSeq: -5"), "Bad CSeq", False, A),
    ("cseq-too-big", bad("CSeq: 5", "CSeq: 2147483648"), "Bad CSeq", False, A),
    ("cseq-no-method", bad("CSeq: 5 INVITE", "CSeq: 5"), "Bad CSeq", False, A),
    ("cseq-method-mismatch", bad("CSeq: 5 INVITE", "CSeq: 5 ACK"), "CSeq Method Mismatch", True,
     A),
    ("cseq-twice", bad("CSeq: 5 INVITE", "CSeq: 5 INVITE\nCSeq: 6 INVITE"),
     "Multiple CSeq Headers", False, A),
    ("huge-header-count", bad("Max-Forwards: 70", "X-H: v\n" * 200 + "Max-Forwards: 70"),
     "Too Many Headers", False, A),
    ("unterminated-quote-from", bad("From: <", 'From: "Alice <'), "Bad From Header", False, A),
    ("unclosed-angle-to", bad("To: <sip:bob@example.com>", "To: <sip:bob@example.com"),
     "Bad To Header", False, A),
    ("call-id-twice", bad("Call-ID: bad-1", "Call-ID: bad-1\ni: bad-2"),
     "Multiple Call-ID Headers", False, A),
    ("from-twice", bad("From: <sip:alice@example.com>;tag=a", "From: <sip:alice@example.com>;"
     "tag=a\nf: <sip:eve@example.com>;tag=e"), "Multiple From Headers", False, A),
    ("missing-via", bad("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbad\n", ""), "Missing Via",
     False, D),
    ("missing-from", bad("From: <sip:alice@example.com>;tag=a\n", ""), "Missing From", False, A),
    ("missing-to", bad("To: <sip:bob@example.com>\n", ""), "Missing To", False, A),
    ("missing-call-id", bad("Call-ID: bad-1\n", ""), "Missing Call-ID", False, A),
    ("missing-cseq", bad("CSeq: 5 INVITE\n", ""), "Missing CSeq", False, A),
    ("via-version", bad("SIP/2.0/UDP 192", "SIP/3.0/UDP 192"), "Bad Via Header", False, D),
    ("via-port", bad("192.0.2.1;branch", "192.0.2.1:70000;branch"), "Bad Via Header", False, D),
    ("request-line-spaces", bad("INVITE sip:", "INVITE  sip:"), "Bad Request Line", False, A),
    ("request-line-trailing-space", bad("SIP/2.0\nVia", "SIP/2.0 \nVia"), "Bad Request Line",
     False, A),
    ("version-7", bad("bob@example.com SIP/2.0", "bob@example.com SIP/7.0"),
     "Version Not Supported", False, 505),
    ("version-3", bad("bob@example.com SIP/2.0", "bob@example.com SIP/3.0"),
     "Version Not Supported", False, 505),
    ("ruri-unbracketed-ipv6", bad("sip:bob@example.com SIP", "sip:bob@2001:db8::1 SIP"),
     "Bad Port", False, A),
    ("ruri-angle-brackets", bad("sip:bob@example.com SIP", "<sip:bob@example.com> SIP"),
     "Bad URI Scheme", False, A),
    ("header-without-colon", bad("Max-Forwards: 70", "Max-Forwards 70"), "Malformed Header Line",
     True, A),
    ("header-name-space", bad("Max-Forwards: 70", "Max Forwards: 70"), "Bad Header Name", True,
     A),
    ("max-forwards-word", bad("Max-Forwards: 70", "Max-Forwards: many"), "Bad Max-Forwards",
     True, A),
    ("status-four-digits", wire("SIP/2.0 2000 OK\n" + GOOD.split("\n", 1)[1]),
     "Bad Status Line", False, D),
    ("bare-cr", bad("Call-ID: bad-1", "Call-ID: bad-1\rVia: SIP/2.0/UDP evil"), "Bare CR", False,
     A),
    ("not-utf8", bad("Call-ID: bad-1", "Call-ID: bad-").replace(b"bad-\r", b"bad-\xff\r"),
     "Bad Encoding", False, A),
    ("ack-missing-call-id", bad("CSeq: 5 INVITE", "CSeq: 5 ACK").replace(b"INVITE sip", b"ACK sip")
     .replace(b"Call-ID: bad-1\r\n", b""), "Missing Call-ID", False, D),  # ACK: never answered
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "reason", "answerable"), [v[1:4] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_invalid(data: bytes, reason: str, answerable: bool) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data, max_headers=100)
    assert info.value.reason == reason
    assert (info.value.partial is not None) == answerable
    if info.value.partial is not None:
        response = make_response(info.value.partial, 400, reason, to_tag="err")
        assert response.to_bytes().startswith(f"SIP/2.0 400 {reason}\r\n".encode())
        assert to_header(response).tag == "err"


@pytest.fixture
async def udp_endpoint() -> AsyncIterator[tuple[SipEndpoint, socket.socket]]:
    """Our endpoint on UDP loopback and a client socket to talk to it."""
    endpoint = await SipEndpoint.create()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.connect(("127.0.0.1", endpoint.core.local_addresses["udp"].port))
    yield endpoint, sock
    sock.close()
    await endpoint.close()


async def exchange(sock: socket.socket, data: bytes, wait: float = 1.0) -> bytes | None:
    """Send one datagram; the first datagram that comes back within ``wait``, or None."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, data)
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), wait)
    except TimeoutError:
        return None


@pytest.mark.parametrize(
    ("data", "reason", "status"), [(v[1], v[2], v[4]) for v in INVALID],
    ids=[v[0] for v in INVALID],
)  # fmt: skip
async def test_invalid_on_the_wire(udp_endpoint: tuple[SipEndpoint, socket.socket],
                                   data: bytes, reason: str, status: int | None) -> None:
    """What a peer sees: the 400/505 RFC 3261 §8.2 asks for wherever a response can be
    formed (matched by the Via branch), silence otherwise; every case counted by reason."""
    endpoint, sock = udp_endpoint
    data = data.replace(b";branch=z9hG4bKbad", b";rport;branch=z9hG4bKbad")  # answer our port
    answer = await exchange(sock, data, wait=1.0 if status is not None else 0.3)
    counts = endpoint.core.refusals.counts
    if status is None:
        assert answer is None
        assert counts == {(label(reason), "none"): 1}
        return
    assert answer is not None
    # read as bytes: the answer copies the offending header verbatim (a CSeq of -5, say)
    assert answer.startswith(f"SIP/2.0 {status} {reason}\r\n".encode())
    assert answer.count(b"\r\nVia: SIP/2.0/UDP 192.0.2.1;rport=") == 1
    assert b";branch=z9hG4bKbad" in answer
    assert counts == {(label(reason), str(status)): 1}


async def test_lf_only_request_is_answered(
        udp_endpoint: tuple[SipEndpoint, socket.socket]) -> None:
    """Bare LF line ends are tolerated (RFC 4475 §3.1.1.x peers): the BYE gets its 481."""
    _, sock = udp_endpoint
    data = LF_ONLY_NO_LENGTH.replace(b"192.0.2.10;branch", b"192.0.2.10;rport;branch")
    answer = await exchange(sock, data)
    assert answer is not None and answer.startswith(b"SIP/2.0 481 ")


async def test_options_allow_once(udp_endpoint: tuple[SipEndpoint, socket.socket]) -> None:
    endpoint, sock = udp_endpoint

    async def handler(txn: ServerTransaction) -> None:  # what the B2BUA answers
        await txn.respond(200, headers=[("Allow", "INVITE, ACK, BYE"), ("Accept", "text/plain")])

    endpoint.on_request = handler
    options = GOOD.replace("INVITE", "OPTIONS").replace("UDP 192.0.2.1;", "UDP 192.0.2.1;rport;")
    answer = await exchange(sock, wire(options))
    assert answer is not None
    response = parse_message(answer)
    assert response.headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert len(response.headers.get_all("Supported")) == 1


def test_oversized_datagram() -> None:
    with pytest.raises(SipParseError, match="Message Too Large"):
        parse_message(wire(GOOD), max_size=100)


def test_unterminated_quote_in_contact_is_found_on_use() -> None:
    """Contact is not needed to answer, so it is checked by whoever reads it."""
    msg = parse_message(bad("Max-Forwards: 70", 'Max-Forwards: 70\nContact: "open <sip:a@b>'))
    with pytest.raises(SipParseError, match="Unterminated"):
        parse_name_addr(msg.headers.get_all("Contact")[0])
    msg.headers.set("Contact", '"open <sip:a@b>, <sip:c@d>')
    with pytest.raises(SipParseError, match="Unterminated"):
        msg.headers.get_all("Contact")


async def test_malformed_later_via_is_copied_not_split(
        udp_endpoint: tuple[SipEndpoint, socket.socket]) -> None:
    """Found by test_daemon_fuzz: the top Via is fine, a later one has an open ``<``. The
    request is answered and the later Via copied as written (it used to raise)."""
    _, sock = udp_endpoint
    options = GOOD.replace("INVITE", "OPTIONS").replace(
        ";branch=z9hG4bKbad", ";rport;branch=z9hG4bKbad, SIP/2.0/UDP <broken")
    for data, status in ((options, b"200 OK"), (options.replace("CSeq: 5", "CSeq: -5"),
                                                 b"400 Bad CSeq")):  # fmt: skip
        answer = await exchange(sock, wire(data))
        assert answer is not None and answer.startswith(b"SIP/2.0 " + status + b"\r\n")
        assert b";received=127.0.0.1, SIP/2.0/UDP <broken\r\n" in answer
