"""OPTIONS pings: a dead SRS is known before a recording has to wait on it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_uri
from src_client.siprec.connectors import Connector, ConnectorRegistry
from src_client.siprec.health import HealthMonitor
from src_client.srs.server import RecordingServer


def _dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_pings_mark_srss_up_and_down_and_order_failover(tmp_path: Path) -> None:
    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")))
    RecordingServer(srs_endpoint, tmp_path)
    address = srs_endpoint.transports.local_address("udp")
    assert address is not None
    live = f"sip:srs@127.0.0.1:{address.port}"
    dead = f"sip:dead@127.0.0.1:{_dead_port()}"
    connector = Connector("c", parse_uri(dead), failover_uris=(parse_uri(live),),
                          options_interval=0.2)
    endpoint = await SipEndpoint.create(SipConfig(t1=0.05))
    monitor = HealthMonitor(endpoint, ConnectorRegistry([connector]), timeout=0.5)
    try:
        assert [str(t.uri) for t in monitor.ordered(connector.targets())] == [dead, live]
        monitor.start()
        for _ in range(50):
            if len(monitor.state) == 2:
                break
            await asyncio.sleep(0.1)
        assert monitor.state[live].up and monitor.state[live].status == 200
        assert not monitor.state[dead].up and monitor.state[dead].status is None
        assert [str(t.uri) for t in monitor.ordered(connector.targets())] == [live, dead]
    finally:
        monitor.stop()
        await endpoint.close()
        await srs_endpoint.close()
