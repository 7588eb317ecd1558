"""Wireshark's SIP and multipart dissectors (an independent parser) read what we serialise
the way we do: same method/status, Call-ID, CSeq, tags, Via branches, Content-Length and
body parts, and no malformed-packet errors."""

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from test_torture import VALID

from src_client.sip import (
    BodyPart,
    Headers,
    Message,
    Request,
    Response,
    SipParseError,
    build_multipart,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    parse_multipart,
    parse_uri,
    parse_via,
    to_header,
)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

FIELDS = (
    "sip.Method", "sip.Status-Code", "sip.Call-ID", "sip.CSeq.seq", "sip.from.tag",
    "sip.to.tag", "sip.Via.branch", "sip.Content-Length", "mime_multipart.header.content-type",
    "_ws.expert.severity", "_ws.expert.message",
)  # fmt: skip
EXPERT_ERROR = 0x00800000  # PI_ERROR in epan/proto.h
SDP = b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"


def _pcap(payloads: list[bytes]) -> bytes:
    """A classic pcap of UDP datagrams 192.0.2.1:5060 -> 192.0.2.2:5060 (LINKTYPE_RAW)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for i, payload in enumerate(payloads):
        udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes((192, 0, 2, 1)), bytes((192, 0, 2, 2))) + udp  # fmt: skip
        out.append(struct.pack("<IIII", i, 0, len(ip), len(ip)) + ip)
    return b"".join(out)


def _ours(msg: Message) -> list[str]:
    """What our parser reads, in FIELDS order (without the expert columns)."""
    content_type = msg.headers.get("Content-Type") or ""
    parts = parse_multipart(msg.body, content_type) if content_type.startswith("multipart/") else []
    return [
        msg.method if isinstance(msg, Request) else "",
        str(msg.status) if isinstance(msg, Response) else "",
        call_id(msg),
        str(cseq(msg)[0]),
        from_header(msg).tag or "",
        to_header(msg).tag or "",
        "|".join(parse_via(v).branch or "" for v in msg.headers.get_all("Via")),
        str(len(msg.body)),
        "|".join(p.content_type or "" for p in parts),
    ]


def _messages() -> list[bytes]:
    # Every torture message as we re-serialise it, except two that are valid but beyond
    # Wireshark 4.0: LWS around "=" in Via and tag parameters (RFC 3261 §25.1 EQUAL), and a
    # method using the rarer token characters, after which it stops decoding header fields.
    skip = {"whitespace-and-folding", "unknown-method-and-scheme"}
    wires = [parse_message(data).to_bytes() for name, data, _ in VALID if name not in skip]
    body, content_type = build_multipart([
        BodyPart(Headers([("Content-Type", "application/sdp")]), SDP),
        BodyPart(Headers([("Content-Type", "application/rs-metadata+xml"),
                          ("Content-Disposition", "recording-session")]), b"<recording/>"),
    ])  # fmt: skip
    invite = Request("INVITE", parse_uri("sip:srs.example.com;secure=true&edge=ashburn"), Headers([
        ("Via", "SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKours1;rport"),
        ("Max-Forwards", "70"),
        ("From", '"Src \\"Client\\"" <sip:src@example.com>;tag=ft1'),
        ("To", "<sip:srs@srs.example.com>"),
        ("Call-ID", "ours-1@2001:db8::1"),
        ("CSeq", "314159 INVITE"),
        ("Contact", "<sip:src@[2001:db8::1]:5062>;+sip.src"),
        ("Require", "siprec"),
        ("Content-Type", content_type),
    ]), body)  # fmt: skip
    wires.append(invite.to_bytes())
    wires.append(make_response(invite, 200, to_tag="tt9", body=SDP,
                               content_type="application/sdp").to_bytes())  # fmt: skip
    with pytest.raises(SipParseError) as info:
        parse_message(invite.to_bytes().replace(b"Max-Forwards: 70", b"Max-Forwards: x"))
    assert info.value.partial is not None
    wires.append(make_response(info.value.partial, 400, info.value.reason, to_tag="e").to_bytes())
    return wires


def test_wireshark_reads_what_we_read(tmp_path: Path) -> None:
    wires = _messages()
    capture = tmp_path / "ours.pcap"
    capture.write_bytes(_pcap(wires))
    args = ["tshark", "-n", "-r", str(capture), "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=|", "-E", "separator=/t"]  # fmt: skip
    for field in FIELDS:
        args += ["-e", field]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == len(wires)
    for wire, row in zip(wires, rows, strict=True):
        theirs, severities, messages = row[:-2], row[-2], row[-1]
        assert theirs == _ours(parse_message(wire)), wire.decode(errors="replace")
        assert all(int(s) < EXPERT_ERROR for s in severities.split("|") if s), messages
        assert "Malformed" not in messages
