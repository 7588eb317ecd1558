"""OPTIONS pings toward each connector's SRSs (RFC 3261 §11), for connectors that ask.

A recording should not wait 32 s on an SRS that has been dead for an hour: the monitor
keeps the last answer of every SRS URI, recording sessions try healthy SRSs first, and
the daemon exports the state to Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from src_client.sip.endpoint import SipEndpoint, SipTimeout, SipTransportError
from src_client.sip.uri import NameAddr, SipUri
from src_client.siprec.connectors import ConnectorRegistry, SrsTarget

log = logging.getLogger("src_client.siprec.health")

PING_TIMEOUT = 5.0


@dataclass(slots=True)
class SrsHealth:
    up: bool
    status: int | None  # last final response, None after a timeout or transport error
    checked: float  # time.monotonic()


class HealthMonitor:
    def __init__(self, endpoint: SipEndpoint, connectors: ConnectorRegistry, *,
                 local_host: str = "127.0.0.1", user: str = "src-client",
                 timeout: float = PING_TIMEOUT) -> None:
        self.connectors = connectors
        self.timeout = timeout
        self.state: dict[str, SrsHealth] = {}  # by SRS request URI
        self._endpoint = endpoint
        self._from = NameAddr(SipUri("sip", local_host, user=user))
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """One pinger per connector with an ``options_interval``."""
        self.stop()
        loop = asyncio.get_running_loop()
        for connector in self.connectors:
            if connector.options_interval is not None:
                self._tasks.append(loop.create_task(
                    self._run(connector.targets(), connector.options_interval),
                    name=f"options:{connector.name}"))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def ordered(self, targets: list[SrsTarget]) -> list[SrsTarget]:
        """Healthy (or never checked) SRSs first, keeping the configured order otherwise."""
        def down(target: SrsTarget) -> bool:
            health = self.state.get(str(target.uri))
            return health is not None and not health.up

        return sorted(targets, key=down)

    async def ping(self, target: SrsTarget) -> SrsHealth:
        try:
            response = await asyncio.wait_for(
                self._endpoint.request(target.uri, "OPTIONS", from_=self._from,
                                       to=NameAddr(target.uri)),
                self.timeout)
            # any final response proves the SRS is there (RFC 3261 §11.2: even 4xx)
            health = SrsHealth(response.status < 500 or response.status == 501,
                               response.status, time.monotonic())
        except (SipTimeout, SipTransportError, TimeoutError):
            health = SrsHealth(False, None, time.monotonic())
        previous = self.state.get(str(target.uri))
        if previous is None or previous.up != health.up:
            log.info("srs %s is %s", target.uri, "up" if health.up else "down",
                     extra={"srs": str(target.uri), "status": health.status})
        self.state[str(target.uri)] = health
        return health

    async def _run(self, targets: list[SrsTarget], interval: float) -> None:
        while True:
            await asyncio.gather(*(self.ping(t) for t in targets))
            await asyncio.sleep(interval)
