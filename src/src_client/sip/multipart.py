"""multipart/mixed bodies (RFC 2046 §5.1), as SIPREC uses them for SDP + recording
metadata (RFC 7866 §8).

The CRLF before each boundary belongs to the delimiter (RFC 2046 §5.1.1), so part bodies
come out byte-for-byte as they went in; the part headers are kept as received.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SipParseError
from .headers import Headers
from .syntax import is_token, parse_params, quote, read_quoted

_MAX_PART_HEADERS = 32
_BCHARS = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")


@dataclass(slots=True)
class BodyPart:
    headers: Headers
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")


def _boundary(content_type: str) -> str:
    media, semi, rest = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise SipParseError("Not Multipart")
    value = dict(parse_params(semi + rest)).get("boundary")
    if value is None:
        raise SipParseError("Missing Boundary")
    if value.startswith('"'):
        unquoted, end = read_quoted(value, 0)
        if end != len(value):
            raise SipParseError("Bad Boundary")
        value = unquoted
    if not 1 <= len(value) <= 70 or not set(value.encode()) <= _BCHARS or value.endswith(" "):
        raise SipParseError("Bad Boundary")
    return value


def _after_delimiter(body: bytes, pos: int) -> tuple[int, bool] | None:
    """At ``pos`` just past ``--boundary``: return (start of next part, is_close) if this
    is a real delimiter line, None if the boundary text merely prefixes other text."""
    if body.startswith(b"--", pos):
        return len(body), True  # whatever follows the close delimiter is epilogue
    end = len(body)
    while pos < end and body[pos] in (32, 9):  # transport-padding
        pos += 1
    if body.startswith(b"\r\n", pos):
        return pos + 2, False
    return None


def _find_delimiter(body: bytes, dash: bytes, pos: int) -> tuple[int, int, bool]:
    """Find the next delimiter at or after ``pos``; return (content end, next start, close)."""
    needle = b"\r\n" + dash
    while True:
        hit = body.find(needle, pos)
        if hit < 0:
            raise SipParseError("Unterminated Multipart")
        after = _after_delimiter(body, hit + len(needle))
        if after is not None:
            return hit, after[0], after[1]
        pos = hit + 1


def _parse_part(raw: bytes) -> BodyPart:
    if not raw:
        return BodyPart(Headers(), b"")
    if raw.startswith(b"\r\n"):
        return BodyPart(Headers(), raw[2:])
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[:end], raw[end + 4 :])
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("Bad Part Encoding") from None
    return BodyPart(Headers.parse_lines(text.split("\r\n"), _MAX_PART_HEADERS), body)


def parse_multipart(body: bytes, content_type: str) -> list[BodyPart]:
    """Split a multipart body; the preamble and epilogue are ignored (RFC 2046 §5.1.1)."""
    dash = b"--" + _boundary(content_type).encode()
    if body.startswith(dash) and (first := _after_delimiter(body, len(dash))) is not None:
        start, is_close = first
    else:
        _, start, is_close = _find_delimiter(body, dash, 0)
    if is_close:
        raise SipParseError("Empty Multipart")  # at least one body-part, RFC 2046 §5.1.1
    parts: list[BodyPart] = []
    while not is_close:
        end, next_start, is_close = _find_delimiter(body, dash, start)
        parts.append(_parse_part(body[start:end]))
        start = next_start
    return parts


def build_multipart(parts: Sequence[BodyPart], boundary: str | None = None) -> tuple[bytes, str]:
    """Serialise parts; return (body, Content-Type value). A generated boundary is checked
    against every part so it cannot occur inside one (RFC 2046 §5.1.1)."""
    encoded = [
        b"".join([f"{name}: {value}\r\n".encode() for name, value in part.headers])
        + b"\r\n"
        + part.body
        for part in parts
    ]
    if boundary is None:
        boundary = secrets.token_hex(16)
        while any(boundary.encode() in chunk for chunk in encoded):
            boundary = secrets.token_hex(16)
    elif any(b"--" + boundary.encode() in chunk for chunk in encoded):
        raise ValueError("boundary occurs inside a body part")
    dash = b"--" + boundary.encode()
    out = bytearray()
    for chunk in encoded:
        out += dash + b"\r\n" + chunk + b"\r\n"
    out += dash + b"--\r\n"
    shown = boundary if is_token(boundary) else quote(boundary)
    return bytes(out), f"multipart/mixed;boundary={shown}"
