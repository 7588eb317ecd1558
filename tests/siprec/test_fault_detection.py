"""The logic behind SRS fault detection: ICMP errors attributed to the datagram's destination,
the INVITE answer timeout from T1, the keep-alive setting. The faults themselves, against the
shipped daemon and the bundled SRS, are in tests/shipped/test_srs_faults.py (the fault suite)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from src_client.media import Engine
from src_client.sip.endpoint import SipConfig, SipEndpoint, SipUnreachable
from src_client.sip.transport import Address, TransportLayer
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.siprec.connectors import (
    DEFAULT_KEEPALIVE_INTERVAL,
    Connector,
    ConnectorError,
    ConnectorRegistry,
)
from src_client.siprec.session import SessionContext


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_icmp_port_unreachable_is_attributed_to_the_destination() -> None:
    errors: list[tuple[Address, Exception]] = []
    arrived = asyncio.Event()

    def on_error(remote: Address, exc: Exception) -> None:
        errors.append((remote, exc))
        arrived.set()

    layer = TransportLayer(lambda *_: None, on_error)
    try:
        await layer.listen("udp", "127.0.0.1", 0)
        dead = Address("udp", "127.0.0.1", closed_udp_port())
        layer.send(b"OPTIONS sip:x SIP/2.0\r\n\r\n", dead)
        await asyncio.wait_for(arrived.wait(), 2)
    finally:
        await layer.close()
    [(remote, exc)] = errors
    assert remote == dead  # not our own socket's address: the transactions to it can fail
    assert isinstance(exc, ConnectionRefusedError)


async def test_request_to_a_closed_udp_port_fails_at_once_not_after_timer_f() -> None:
    endpoint = await SipEndpoint.create(SipConfig(t1=0.5))  # Timer F: 32 s
    try:
        target = parse_uri(f"sip:srs@127.0.0.1:{closed_udp_port()};transport=udp")
        started = time.monotonic()
        with pytest.raises(SipUnreachable, match="refused"):
            await asyncio.wait_for(endpoint.request(
                target, "OPTIONS", from_=parse_name_addr("<sip:src@127.0.0.1>"),
                to=parse_name_addr(f"<{target}>")), 5)  # fmt: skip
        assert time.monotonic() - started < 1.0
    finally:
        await endpoint.close()


async def test_invite_timeout_is_64_t1_unless_configured() -> None:
    with Engine("127.0.0.1", 8100, 8109, media_timeout=0) as engine:
        endpoint = SipEndpoint(SipConfig(t1=0.05))
        assert SessionContext(endpoint, engine, "127.0.0.1").invite_timeout == pytest.approx(3.2)
        assert SessionContext(endpoint, engine, "127.0.0.1", answer_timeout=7).invite_timeout == 7
        default = SessionContext(SipEndpoint(), engine, "127.0.0.1")
        assert default.invite_timeout == pytest.approx(32.0)


def connectors_from_settings(table: dict[str, dict[str, object]]) -> list[Connector]:
    return list(ConnectorRegistry.from_config(table))


def test_keepalive_interval_setting() -> None:
    srs = "sip:srs@127.0.0.1:5080"
    [default] = connectors_from_settings({"a": {"srs": srs}})
    assert default.keepalive_interval == DEFAULT_KEEPALIVE_INTERVAL == 5.0
    [off] = connectors_from_settings({"a": {"srs": srs, "keepalive_interval": 0}})
    assert off.keepalive_interval == 0
    [fast] = connectors_from_settings({"a": {"srs": srs, "keepalive_interval": 1.5}})
    assert fast.keepalive_interval == 1.5
    for bad in (-1, "5", True):
        with pytest.raises(ConnectorError, match="keepalive_interval"):
            connectors_from_settings({"a": {"srs": srs, "keepalive_interval": bad}})
    with pytest.raises(ConnectorError, match="keep-alive"):
        Connector("a", parse_uri(srs), keepalive_interval=-2)
