"""Fixtures of the shipped-command tests: the bundled SRS, the daemon, a callee and a callback
receiver, all on loopback; every process is stopped (or killed) at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import CallbackSink, Serve, Srs

from src_client.callgen import Callee
from src_client.sip.endpoint import SipEndpoint


@dataclass
class Party:
    """A callee: our SIP endpoint answering every INVITE with its own RTP peer."""

    endpoint: SipEndpoint
    callee: Callee

    @property
    def uri(self) -> str:
        address = self.endpoint.transports.local_address("udp")
        assert address is not None
        return f"sip:callee@127.0.0.1:{address.port}"


@pytest.fixture
async def srs(tmp_path: Path) -> AsyncIterator[Srs]:
    server = Srs(tmp_path / "srs")
    yield server
    if server.command is not None:
        await server.command.kill()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    daemon = Serve(tmp_path / "daemon")
    yield daemon
    if daemon.command is not None and daemon.command.running:
        await daemon.command.stop()


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackSink]:
    sink = CallbackSink()
    await sink.start()
    yield sink
    await sink.close()


@pytest.fixture
async def callee() -> AsyncIterator[Party]:
    endpoint = await SipEndpoint.create()
    party = Party(endpoint, Callee(endpoint))
    yield party
    party.callee.peer.close()
    await endpoint.close()
