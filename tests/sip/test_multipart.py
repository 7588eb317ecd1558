"""multipart/mixed bodies (RFC 2046 §5.1) as SIPREC sends them (RFC 7866 §8)."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src_client.sip import BodyPart, Headers, SipParseError, build_multipart, parse_multipart

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
METADATA = b'<?xml version="1.0"?>\r\n<recording xmlns="urn:ietf:params:xml:ns:recording:1"/>'

WIRE = (
    b"This is a preamble, ignored.\r\n"
    b"--OSS-unique-boundary-42 \t\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n" + SDP + b"\r\n"
    b"--OSS-unique-boundary-42\r\n"
    b"content-type: application/rs-metadata+xml\r\n"
    b"Content-Disposition: recording-session\r\n"
    b"\r\n" + METADATA + b"\r\n"
    b"--OSS-unique-boundary-42--\r\n"
    b"and an epilogue, also ignored\r\n"
)


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/mixed;boundary=OSS-unique-boundary-42",
        'multipart/mixed; boundary="OSS-unique-boundary-42"',
        "Multipart/Mixed ; charset=x ; BOUNDARY=OSS-unique-boundary-42",
    ],
)
def test_parse(content_type: str) -> None:
    parts = parse_multipart(WIRE, content_type)
    assert [p.body for p in parts] == [SDP, METADATA]
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[1].headers.get("Content-Disposition") == "recording-session"


def test_boundary_at_start_and_no_epilogue() -> None:
    body = b"--b\r\n\r\nno headers\r\n--b\r\nX-A: 1\r\n\r\n\r\n--b--"
    parts = parse_multipart(body, "multipart/mixed;boundary=b")
    assert parts[0].body == b"no headers" and len(parts[0].headers) == 0
    assert parts[1].body == b"" and parts[1].headers.get("X-A") == "1"  # CRLF is the delimiter's


def test_boundary_prefix_inside_part_is_content() -> None:
    body = b"--b\r\n\r\nline\r\n--bb not a delimiter\r\n--b--\r\n"
    assert parse_multipart(body, "multipart/mixed;boundary=b")[0].body == (
        b"line\r\n--bb not a delimiter"
    )


def test_close_delimiter_needs_no_line_end() -> None:
    body = b"--b\r\n\r\nx\r\n--b--no CRLF, still epilogue"
    assert [p.body for p in parse_multipart(body, "multipart/mixed;boundary=b")] == [b"x"]


def test_empty_part() -> None:
    body = b"--b\r\n\r\n--b--\r\n"
    parts = parse_multipart(body, "multipart/mixed;boundary=b")
    assert len(parts) == 1 and parts[0].body == b"" and len(parts[0].headers) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (WIRE, "application/sdp"),
        (WIRE, "multipart/mixed"),
        (WIRE, "multipart/mixed;boundary="),
        (WIRE, 'multipart/mixed;boundary="unterminated'),
        (WIRE, "multipart/mixed;boundary=" + "x" * 71),
        (WIRE, "multipart/mixed;boundary=absent"),
        (WIRE.replace(b"--OSS-unique-boundary-42--", b"--OSS-unique-boundary-42"),
         "multipart/mixed;boundary=OSS-unique-boundary-42"),
        (b"--b--\r\n", "multipart/mixed;boundary=b"),
        (b"preamble\r\n--b--", "multipart/mixed;boundary=b"),
        (b"--b\r\nnot a header\r\n\r\nx\r\n--b--", "multipart/mixed;boundary=b"),
        (b"--b\r\n\xff: x\r\n\r\nx\r\n--b--", "multipart/mixed;boundary=b"),
    ],
)  # fmt: skip
def test_invalid(body: bytes, content_type: str) -> None:
    with pytest.raises(SipParseError):
        parse_multipart(body, content_type)


def test_build_round_trip_and_boundary() -> None:
    parts = [
        BodyPart(Headers([("Content-Type", "application/sdp")]), SDP),
        BodyPart(Headers([("Content-Type", "application/rs-metadata+xml"),
                          ("Content-Disposition", "recording-session")]), METADATA),
    ]  # fmt: skip
    body, content_type = build_multipart(parts)
    assert content_type.startswith("multipart/mixed;boundary=")
    assert parse_multipart(body, content_type) == parts
    fixed, fixed_type = build_multipart(parts, "unique-42")
    assert fixed_type == "multipart/mixed;boundary=unique-42"
    assert fixed.startswith(b"--unique-42\r\nContent-Type: application/sdp\r\n\r\n" + SDP)
    assert fixed.endswith(b"\r\n--unique-42--\r\n")
    spaced, spaced_type = build_multipart(parts, "with space")
    assert spaced_type == 'multipart/mixed;boundary="with space"'
    assert parse_multipart(spaced, spaced_type) == parts
    with pytest.raises(ValueError):
        build_multipart([BodyPart(Headers(), b"--unique-42")], "unique-42")


@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from(["Content-Type", "Content-ID", "X-Thing"]),
                               st.from_regex(r"[!-~]{1,20}", fullmatch=True)), max_size=3),
            st.binary(max_size=80) | st.sampled_from([b"\r\n", b"\r\n\r\n", b"--", b"-"]),
        ),
        min_size=1,
        max_size=4,
    )
)  # fmt: skip
def test_generated_parts_round_trip_byte_exact(
    raw: list[tuple[list[tuple[str, str]], bytes]],
) -> None:
    parts = [BodyPart(Headers(headers), body) for headers, body in raw]
    body, content_type = build_multipart(parts)
    assert parse_multipart(body, content_type) == parts


@given(st.binary(max_size=200), st.sampled_from(["b", '"b"', "x y"]))
def test_fuzz_only_parse_errors(body: bytes, boundary: str) -> None:
    with contextlib.suppress(SipParseError):
        parse_multipart(b"--b\r\n" + body, "multipart/mixed;boundary=" + boundary)
