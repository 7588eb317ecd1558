"""SIP requests and responses: parsing, serialising, framing (RFC 3261 §7, §8.2.6, §18.3).

Parsing validates what every layer relies on: start line, header syntax, Content-Length,
presence and uniqueness of From/To/Call-ID/CSeq, and the syntax of CSeq, From, To and the
top Via. Those four are parsed once and memoised in the Headers, so the accessor functions
the transaction and dialog layers call are dictionary look-ups and never raise for a message
parse_message returned. Other structured headers (Contact, Route, ...) are parsed only by
whoever needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from .errors import SipParseError
from .headers import Headers, header_key
from .syntax import is_token
from .uri import NameAddr, SipUri, Via, parse_name_addr, parse_uri, parse_via

REASON_PHRASES: Mapping[int, str] = MappingProxyType({
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 430: "Flow Failed",
    433: "Anonymity Disallowed", 436: "Bad Identity-Info", 437: "Unsupported Certificate",
    438: "Invalid Identity Header", 439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded", 469: "Bad Info Package", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
})  # fmt: skip

_NAMES = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq",
          "content-length": "Content-Length", "max-forwards": "Max-Forwards"}  # fmt: skip
# Via first: it may repeat; the others may appear once only (RFC 3261 §7.3.1).
_ESSENTIAL = ("via", "from", "to", "call-id", "cseq")
_STRUCTURED = (("Via", parse_via), ("From", parse_name_addr), ("To", parse_name_addr))
_CSEQ_MAX = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number is less than 2**31
_CSEQ_MEMO_MAX_TEXT = 32
_STATUS = re.compile(r"[1-6][0-9][0-9]")


@dataclass(slots=True)
class Request:
    method: str
    uri: SipUri
    headers: Headers
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return _serialise(f"{self.method} {self.uri} SIP/2.0", self.headers, self.body)


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return _serialise(f"SIP/2.0 {self.status} {self.reason}", self.headers, self.body)


Message = Request | Response


def _serialise(start_line: str, headers: Headers, body: bytes) -> bytes:
    head = headers.format(skip="content-length")
    return f"{start_line}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def _head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int]:
    """Index of the empty line ending the header block and its length in bytes.

    CRLF is what RFC 3261 §7 requires; bare LF line ends are accepted as well because
    deployed stacks emit them and every major implementation tolerates them.
    """
    crlf = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start, crlf if crlf >= 0 else len(data))
    if lf >= 0:
        return lf, 2
    return crlf, 4


def _split_lines(head: str) -> list[str]:
    """Split the header block into lines. A CR anywhere but before LF is refused: no SIP
    element may contain one (RFC 3261 §25.1), and copying it into a response would let the
    peer that sent it end a header line early."""
    lines = head.split("\r\n")
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        lines = [line.removesuffix("\r") for line in head.split("\n")]
        if any("\r" in line for line in lines):
            raise SipParseError("Bare CR")
    return lines


def _parse_cseq(value: str) -> tuple[int, str]:
    """Memoised: most peers start at a small CSeq and count up by one, so a few values recur.
    Long values (a long extension method) are not memoised, to bound the memo's size."""
    if len(value) <= _CSEQ_MEMO_MAX_TEXT:
        return _parse_cseq_memo(value)
    return _parse_cseq_text(value)


def _parse_cseq_text(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2:
        raise SipParseError("Bad CSeq")
    number, method = parts
    if not number.isdigit() or not number.isascii() or len(number) > 10:
        raise SipParseError("Bad CSeq")
    seq = int(number)
    if seq > _CSEQ_MAX or not is_token(method):
        raise SipParseError("Bad CSeq")
    return seq, method


_parse_cseq_memo = lru_cache(maxsize=256)(_parse_cseq_text)


def _content_length(value: str) -> int:
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise SipParseError("Bad Content-Length")
    return int(value)


def parse_message(data: bytes, *, max_size: int = 65535, max_headers: int = 128) -> Message:
    """Parse one datagram or one framed stream message.

    A Content-Length larger than the data is an error (RFC 3261 §18.3: the datagram was
    truncated); bytes beyond it are discarded. Without Content-Length the body runs to the
    end of the data, which is right for datagrams; stream users frame with StreamFramer.
    """
    if len(data) > max_size:
        raise SipParseError("Message Too Large")
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore leading empty lines
        start += 2
    if start == len(data):
        raise SipParseError("Empty Message")  # e.g. a CRLF keep-alive (RFC 5626 §4.4.1)
    end, sep = _head_end(data, start)
    if end < 0:
        raise SipParseError("Missing Empty Line")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("Bad Encoding") from None
    lines = _split_lines(head)
    first = lines[0]
    problems: list[str] = []
    msg: Message
    # RFC 3261 §7.1: the version string is case-insensitive (and a method cannot contain "/")
    if first[:4].upper() == "SIP/":
        parts = first.split(" ", 2)
        if parts[0].upper() != "SIP/2.0":
            raise SipParseError("Version Not Supported")
        if len(parts) < 2 or _STATUS.fullmatch(parts[1]) is None:
            raise SipParseError("Bad Status Line")
        headers = Headers.parse_lines(lines[1:], max_headers, problems)
        msg = Response(int(parts[1]), parts[2] if len(parts) == 3 else "", headers)
    else:
        parts = first.split(" ")
        if len(parts) != 3 or not is_token(parts[0]):
            raise SipParseError("Bad Request Line")
        method, uri_text, version = parts
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":
            raise SipParseError(
                "Version Not Supported"
                if version.upper().startswith("SIP/")
                else "Bad Request Line"
            )
        uri = parse_uri(uri_text)
        headers = Headers.parse_lines(lines[1:], max_headers, problems)
        msg = Request(method, uri, headers)

    keys = headers.keys()
    _check_essentials(headers, keys)
    body = data[end + sep :]
    try:
        if problems:
            raise SipParseError(problems[0])
        _check_rest(msg, headers, keys)
        content_length = headers.get("Content-Length")
        if content_length is not None:
            length = _content_length(content_length)
            if length > len(body):
                raise SipParseError("Content-Length Mismatch")
            body = body[:length]
    except SipParseError as exc:
        if isinstance(msg, Request):
            exc.partial = msg
        raise
    msg.body = body
    return msg


def _check_essentials(headers: Headers, keys: list[str]) -> None:
    """What any response needs (RFC 3261 §8.2.6.2, §18.2.2); failing here means the
    message cannot be answered."""
    for key in _ESSENTIAL:
        if key not in keys:
            raise SipParseError(f"Missing {_NAMES[key]}")
    for key in _ESSENTIAL[1:]:
        if keys.count(key) > 1:
            raise SipParseError(f"Multiple {_NAMES[key]} Headers")
    headers.parsed("CSeq", _parse_cseq)
    for name, parser in _STRUCTURED:
        try:
            headers.parsed(name, parser)
        except SipParseError:
            raise SipParseError(f"Bad {name} Header") from None


def _check_rest(msg: Message, headers: Headers, keys: list[str]) -> None:
    for key in ("content-length", "max-forwards"):
        if keys.count(key) > 1:
            raise SipParseError(f"Multiple {_NAMES[key]} Headers")
    if isinstance(msg, Request):
        if headers.parsed("CSeq", _parse_cseq)[1] != msg.method:
            raise SipParseError("CSeq Method Mismatch")
        max_forwards = headers.get("Max-Forwards")
        if max_forwards is not None and (
            not max_forwards.isdigit() or not max_forwards.isascii() or len(max_forwards) > 10
        ):
            raise SipParseError("Bad Max-Forwards")


def call_id(msg: Message) -> str:
    value = msg.headers.get("Call-ID")
    if value is None:
        raise SipParseError("Missing Call-ID")
    return value


def cseq(msg: Message) -> tuple[int, str]:
    return msg.headers.parsed("CSeq", _parse_cseq)


def top_via(msg: Message) -> Via:
    return msg.headers.parsed("Via", parse_via)


def from_header(msg: Message) -> NameAddr:
    return msg.headers.parsed("From", parse_name_addr)


def to_header(msg: Message) -> NameAddr:
    return msg.headers.parsed("To", parse_name_addr)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response per RFC 3261 §8.2.6.2: every Via, From, Call-ID and CSeq copied
    verbatim, To copied with ``to_tag`` appended when the request's To has no tag."""
    return build_response(request.headers, status, reason, to_tag=to_tag, headers=headers,
                          body=body, content_type=content_type)  # fmt: skip


def build_response(
    src: Headers,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """make_response() for a request known only by its headers: what is missing of From,
    To, Call-ID and CSeq is left out, because a request lacking some of them still
    deserves its 400 (RFC 4475 §3.1.2.18); a To that does not parse is copied as it is."""
    items = [("via", "Via", value) for name, value in src if name == "Via"]
    for key, name in _COPIED:
        copied = src.get(name)
        if copied is None:
            continue
        if key == "to" and to_tag is not None and _to_tag_missing(src):
            copied = f"{copied};tag={to_tag}"
        items.append((key, name, copied))
    out = Headers.canonical(items)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.set("Content-Type", content_type)
    if reason is None:
        reason = REASON_PHRASES.get(status, _CLASS_REASONS[status // 100])
    return Response(status, reason, out, body)


def _to_tag_missing(src: Headers) -> bool:
    try:
        return src.parsed("To", parse_name_addr).tag is None
    except SipParseError:
        return False  # a To we cannot read is copied as it is


@dataclass(frozen=True, slots=True)
class Salvaged:
    """What a refused request still tells: its method and the headers a response copies."""

    method: str
    headers: Headers


def salvage(data: bytes, max_size: int = 65535) -> Salvaged | None:
    """Read, leniently, what an error response to a message parse_message refused needs.

    None when no response can be formed: the message is a response (never answered,
    §8.1.3.3), its start line has no method, or it has no top Via that parses (nowhere to
    send an answer, and nothing the peer could match it with). Lines holding a bare CR are
    skipped rather than copied (they could end a header line early); undecodable bytes are
    replaced. Only the first ``max_size`` bytes are read.
    """
    head = data[:max_size].lstrip(b"\r\n")
    end = _head_end(head)[0]
    text = head[: end if end >= 0 else len(head)].decode("utf-8", "replace")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    method = lines[0].split(" ", 1)[0]
    if method.upper().startswith("SIP/") or not is_token(method):
        return None
    wanted: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key, canonical = header_key(name.strip())
        if not colon or "\r" in line or key not in _ESSENTIAL:
            continue
        if key == "via" or key not in seen:
            seen.add(key)
            wanted.append((canonical, value.strip()))
    try:
        headers = Headers(wanted)
        headers.parsed("Via", parse_via)
    except (SipParseError, ValueError):
        return None
    return Salvaged(method, headers)


_COPIED = (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))
_CLASS_REASONS = {1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error",
                  6: "Global Failure"}  # fmt: skip


class StreamFramer:
    """Cut a TCP/TLS byte stream into messages by Content-Length (RFC 3261 §18.3).

    Any framing error leaves the stream unsynchronised, so the caller must close the
    connection when feed() raises.

    Line ends between messages are skipped; each CRLFCRLF among them is a keep-alive ping
    (RFC 5626 §3.5.1) that the transport answers with a CRLF pong (§4.4.1): take_pings()
    says how many arrived since it was last called.
    """

    __slots__ = ("_buffer", "_gap", "_max_size", "_pings", "_searched", "_total")

    def __init__(self, max_size: int = 65535) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        # Progress on the message at the head of the buffer, kept between feeds so a peer
        # that trickles bytes costs linear, not quadratic, time.
        self._searched = 0  # bytes already searched for the end of the header block
        self._total = 0  # full length of the message once its header block is known
        self._gap = b""  # the end of the current run of line ends (a ping split by a read)
        self._pings = 0

    def take_pings(self) -> int:
        pings, self._pings = self._pings, 0
        return pings

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        messages: list[bytes] = []
        while buffer:
            if not self._total:
                if not self._searched and buffer[0] in (13, 10):
                    # CRLF keep-alives (RFC 5626 §3.5.1) and stray line ends between messages
                    skipped = len(buffer) - len(buffer.lstrip(b"\r\n"))
                    gap = self._gap + bytes(buffer[:skipped])
                    del buffer[:skipped]
                    pings = gap.count(b"\r\n\r\n")
                    self._pings += pings
                    self._gap = gap[gap.rfind(b"\r\n\r\n") + 4 :][-3:] if pings else gap[-3:]
                    continue
                self._gap = b""
                end, sep = _head_end(buffer, self._searched)
                if end < 0:
                    if len(buffer) > self._max_size:
                        raise SipParseError("Message Too Large")
                    self._searched = max(0, len(buffer) - 3)
                    break
                self._total = end + sep + _stream_content_length(bytes(buffer[:end]))
                if self._total > self._max_size:
                    raise SipParseError("Message Too Large")
            if len(buffer) < self._total:
                break
            messages.append(bytes(buffer[: self._total]))
            del buffer[: self._total]
            self._searched = self._total = 0
        return messages


def _stream_content_length(head: bytes) -> int:
    found: int | None = None
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            length = _content_length(value.strip().decode("ascii", "replace"))
            if found is not None and found != length:
                raise SipParseError("Multiple Content-Length Headers")
            found = length
    if found is None:
        raise SipParseError("Missing Content-Length")  # mandatory on streams, §20.14
    return found
