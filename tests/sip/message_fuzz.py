"""Shared fuzzing helpers for the message tests: mutate wire bytes, then check that the
parser only ever raises SipParseError and that whatever it accepts is usable."""

import contextlib
import random

from src_client.sip import (
    SipParseError,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    parse_multipart,
    parse_name_addr,
    to_header,
    top_via,
)


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            del buf[pos : pos + rng.randint(1, 20)]
        elif op == 1:
            buf[pos:pos] = bytes(rng.choice(b'\r\n :;,<>"\\@[]=%\t\x00\xff0') for _ in range(3))
        elif op == 2 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        else:
            buf[pos:pos] = data[rng.randrange(len(data)) :][: rng.randint(1, 40)]
    return bytes(buf)


def exercise(data: bytes) -> None:
    try:
        msg = parse_message(data, max_size=4096, max_headers=40)
    except SipParseError as exc:
        assert exc.reason
        if exc.partial is not None:
            make_response(exc.partial, 400, exc.reason, to_tag="t").to_bytes()
        return
    for accessor in (top_via, from_header, to_header, cseq, call_id):
        accessor(msg)  # never raises once parse_message accepted the message
    for name in ("Contact", "Route", "Record-Route"):
        with contextlib.suppress(SipParseError):
            for value in msg.headers.get_all(name):
                parse_name_addr(value)
    content_type = msg.headers.get("Content-Type") or ""
    if content_type.lower().startswith("multipart/"):
        with contextlib.suppress(SipParseError):
            parse_multipart(msg.body, content_type)
    wire = msg.to_bytes()
    assert parse_message(wire).to_bytes() == wire
