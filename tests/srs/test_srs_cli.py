"""`src-client srs` as users run it: a separate process recording our SRC's session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.siprec.connectors import Connector, ConnectorRegistry
from src_client.siprec.resource import SiprecStatus
from src_client.siprec.service import SiprecService
from src_client.siprec.session import RecordedCall, SessionContext
from src_client.webhooks import WebhookSender


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_for_line(process: asyncio.subprocess.Process, needle: str) -> None:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        assert line, "srs exited early"
        if needle in line.decode():
            return


async def test_srs_command_records_a_session_and_reports_violations(tmp_path: Path) -> None:
    port = _free_udp_port()
    out = tmp_path / "rec"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "src_client.cli", "srs", "--listen", f"udp:127.0.0.1:{port}",
        "--out", str(out), "--log-format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    endpoint = await SipEndpoint.create()
    engine = Engine("127.0.0.1", 9300, 9399, media_timeout=0)
    try:
        await _wait_for_line(process, "srs listening")
        leg = engine.allocate_leg()
        source = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        source.bind(("127.0.0.1", 0))
        leg.set_remote("127.0.0.1", source.getsockname()[1])
        call = RecordedCall(
            new_sid(SidPrefix.CALL), new_sid(SidPrefix.ACCOUNT), "cli@test",
            parse_name_addr("<sip:alice@example.com>"), parse_name_addr("<sip:bob@example.com>"),
            (Codec(8, "PCMA", 8000),), frozenset(), leg,
        )
        service = SiprecService(
            SessionContext(endpoint, engine, "127.0.0.1", answer_timeout=5),
            ConnectorRegistry([Connector("srs", parse_uri(f"sip:srs@127.0.0.1:{port}"))]),
            WebhookSender(), lambda account: "token",
        )
        resource = service.create(call, connector_name="srs", name="cli")
        for _ in range(100):
            if service.counters.started:
                break
            await asyncio.sleep(0.05)
        for seq in range(25):
            packet = struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 7) + bytes([0xD5]) * 160
            source.sendto(packet, leg.local_address)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        await service.stop(call.sid, "cli")
        assert resource.status is SiprecStatus.STOPPED and resource.error_code is None
        await _wait_for_line(process, "recording written")
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        await endpoint.close()
        engine.close()
    [folder] = list(out.iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["violations"] == []
    assert summary["labels"]["1"]["packets"] == 25
    assert {p.name for p in folder.iterdir()} == {"metadata.xml", "label-1.wav", "summary.json"}
