"""The rig of the SIPREC interop tests: SiprecService against SIPp playing the SRS.

Everything is real: our SIP endpoint (UDP and TCP on 127.0.0.1), the C media engine forking a
call leg that a bounded RTP sender feeds, SIPp judging every INVITE with its regexps, and an
aiohttp server receiving the status callbacks, each checked with twilio's RequestValidator.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.sipp import SippError, SippResult, SippRun, sipp_available
from src_client.siprec.connectors import Connector, ConnectorRegistry, Secret
from src_client.siprec.resource import SiprecResource
from src_client.siprec.service import Alert, SiprecService
from src_client.siprec.session import RecordedCall, SessionContext
from src_client.webhooks import RetryPolicy, WebhookSender

AUTH_TOKEN = "interop-token-not-a-secret"
ACCOUNT_SID = "AC" + "1" * 32
CREDENTIAL = "srs-token-42"
CREDENTIAL_HEADER = "X-Recording-Token"  # the header the srs_*.xml scenarios check
CALL_CODECS = (Codec(0, "PCMU", 8000), Codec(101, "telephone-event", 8000, 1, "0-16"))
# Below Linux's ephemeral range and away from other suites: the engine's ports, then the SIP
# ports of the SIPp SRSs (SIPp's media and control ports are ephemeral ones).
PORT_MIN, PORT_MAX = 8100, 8799
SIPP_PORT_MIN, SIPP_PORT_MAX = 8800, 8999


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if sipp_available():
        return
    skip = pytest.mark.skip(reason="sipp (Debian package sip-tester) is not installed")
    for item in items:
        if "siprec/interop" in str(item.path):
            item.add_marker(skip)


@dataclass
class Callback:
    method: str
    params: dict[str, str]
    signed: bool  # X-Twilio-Signature verified by twilio's RequestValidator


@dataclass
class CallbackSink:
    url: str = ""
    received: list[Callback] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, sid: str, event: str | tuple[str, ...],
                       timeout: float = 10.0) -> Callback:
        """The first callback about ``sid`` with that event (or one of those events)."""
        events = (event,) if isinstance(event, str) else event

        async def seen() -> Callback:
            while True:
                for callback in self.received:
                    params = callback.params
                    if params.get("SiprecSid") == sid and params.get("SiprecEvent") in events:
                        return callback
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(seen(), timeout)

    def events(self, sid: str) -> list[str]:
        return [c.params["SiprecEvent"] for c in self.received if c.params["SiprecSid"] == sid]


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackSink]:
    validator = RequestValidator(AUTH_TOKEN)
    sink = CallbackSink()

    async def handle(request: web.Request) -> web.Response:
        signature = request.headers.get("X-Twilio-Signature", "")
        if request.method == "POST":
            params = {k: str(v) for k, v in (await request.post()).items()}
            signed = validator.validate(sink.url, params, signature)
        else:
            params = dict(request.query)
            signed = validator.validate(str(request.url), {}, signature)
        sink.received.append(Callback(request.method, params, signed))
        sink.arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/status", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/status"
    yield sink
    await runner.cleanup()


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine("127.0.0.1", PORT_MIN, PORT_MAX, media_timeout=0) as media:
        yield media


@dataclass
class Rig:
    engine: Engine
    endpoint: SipEndpoint
    service: SiprecService
    callbacks: CallbackSink
    alerts: list[Alert]
    changes: list[tuple[str, str]]  # (Siprec SID, status) as on_change reported them
    sipps: list[SippRun] = field(default_factory=list)
    _senders: list[asyncio.Task[None]] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)

    def connector(self, name: str, *srs: SippRun, transport: str = "udp",
                  **settings: Any) -> Connector:
        """A connector whose SRS URI (then failover URIs) point at the given SIPp runs."""
        uris = [parse_uri(f"sip:srs@127.0.0.1:{run.port};transport={transport}") for run in srs]
        connector = Connector(name, uris[0], credentials_header=CREDENTIAL_HEADER,
                              credentials=Secret(CREDENTIAL), failover_uris=tuple(uris[1:]),
                              **settings)
        self.service.connectors.add(connector)
        return connector

    def call(self, packets: int = 500) -> RecordedCall:
        """An in-progress call relayed by the engine: both parties send ``packets`` PCMU frames
        at 20 ms pace, so the recorded leg has an inbound and an outbound track."""
        leg = self.engine.allocate_leg()
        callee = self.engine.allocate_leg()
        self.engine.relay(leg, callee)
        call = RecordedCall(
            sid=new_sid(SidPrefix.CALL),
            account_sid=ACCOUNT_SID,
            sip_call_id=f"{new_sid(SidPrefix.CALL)[2:]}@pbx.example.com",
            remote=parse_name_addr('"Alice" <sip:+15550001111@pbx.example.com>'),
            local=parse_name_addr("<sip:+15550002222@src.example.com>"),
            codecs=CALL_CODECS,
            dtmf_payload_types=frozenset({101}),
            leg=leg,
        )
        for party in (leg, callee):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind(("127.0.0.1", 0))
            party.set_remote(*sender.getsockname())  # the party's SDP: strict latching
            self._sockets.append(sender)
            self._senders.append(asyncio.get_running_loop().create_task(
                _send_rtp(sender, party.local_address, packets)))
        return call

    async def srs(self, scenario: str, transport: str = "udp", *,
                  call: RecordedCall | None = None, labels: str = "1", timeout: float = 15.0,
                  **keys: str) -> SippRun:
        """A running SIPp SRS; the INVITE checks of the scenario get what this call must
        produce. Its SIP port comes from a range of our own; a start that loses a race for one
        of SIPp's other (ephemeral) ports is retried."""
        defaults = {"labels": labels, "cred": CREDENTIAL}
        if call is not None:
            defaults["recorded_call_id"] = call.sip_call_id
        keys = {**defaults, **keys}
        for _ in range(3):
            run = SippRun(scenario, transport=transport, port=_sip_port(), calls=1,
                          timeout=timeout, keys=keys)
            self.sipps.append(run)
            try:
                await run.start()
            except SippError:
                continue
            return run
        raise SippError(f"SIPp could not start {scenario} in three attempts")

    async def close(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        await self.service.close()
        for run in self.sipps:
            await run.stop()


_SIP_PORTS = itertools.cycle(range(SIPP_PORT_MIN, SIPP_PORT_MAX + 1))


def _sip_port() -> int:
    """The next port of our SIPp range that is free for both UDP and TCP right now."""
    for _ in range(SIPP_PORT_MAX - SIPP_PORT_MIN + 1):
        port = next(_SIP_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SippError("no free port for SIPp")


async def _send_rtp(sock: socket.socket, to: tuple[str, int], packets: int) -> None:
    for seq in range(packets):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5150AB1E)
        sock.sendto(header + b"\xff" * 160, to)
        await asyncio.sleep(0.02)


async def verdict(run: SippRun) -> SippResult:
    """SIPp's own judgement of its one call: it must have passed every check."""
    result = await run.wait()
    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    return result


@pytest.fixture
async def rig(engine: Engine, callbacks: CallbackSink) -> AsyncIterator[Rig]:
    endpoint = await SipEndpoint.create(
        SipConfig(), listen=[("udp", "127.0.0.1", 0), ("tcp", "127.0.0.1", 0)])
    webhooks = WebhookSender(policy=RetryPolicy(max_attempts=2, initial_backoff=0.05,
                                                total_time=5.0, request_timeout=2.0))
    alerts: list[Alert] = []
    changes: list[tuple[str, str]] = []

    def changed(resource: SiprecResource) -> None:
        changes.append((resource.sid, resource.status.value))

    context = SessionContext(endpoint, engine, "127.0.0.1", answer_timeout=2.0)
    service = SiprecService(context, ConnectorRegistry(), webhooks, lambda _: AUTH_TOKEN,
                            on_alert=alerts.append, on_change=changed)
    rig = Rig(engine, endpoint, service, callbacks, alerts, changes)
    try:
        yield rig
    finally:
        await rig.close()
        await webhooks.close()
        await endpoint.close()
