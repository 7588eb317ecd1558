"""A B2BUA wired as the daemon wires it: one SIP endpoint for calls and SIPREC, the C engine
(ports 41000-45999), SiprecService toward the bundled SRS, and SIPp as caller and callee."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from src_client.calls import Call, CallManager, Route
from src_client.media import Engine
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_uri
from src_client.sipp import SCENARIO_DIR, sipp_available
from src_client.siprec.connectors import Connector, ConnectorRegistry
from src_client.siprec.resource import SiprecResource
from src_client.siprec.service import SiprecService
from src_client.siprec.session import SessionContext
from src_client.srs.server import RecordingServer
from src_client.webhooks import RetryPolicy, WebhookSender

AUTH_TOKEN = "calls-test-token-not-a-secret"
ACCOUNT_SID = new_sid(SidPrefix.ACCOUNT)

requires_sipp = pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")


def scenario(tmp_path: Path, name: str) -> str:
    """The scenario with its relative pcap names made absolute (SIPp loads them at start)."""
    text = (SCENARIO_DIR / name).read_text()
    for pcap in ("caller.pcap", "callee.pcap"):
        text = text.replace(f'play_pcap_audio="{pcap}"', f'play_pcap_audio="{tmp_path / pcap}"')
    path = tmp_path / name
    path.write_text(text)
    return str(path)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@dataclass
class Rig:
    engine: Engine
    endpoint: SipEndpoint
    srs: RecordingServer
    service: SiprecService
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    manager: CallManager | None = None
    saved: dict[str, SiprecResource] = field(default_factory=dict)  # what the daemon stores

    def siprecs(self, call_sid: str) -> list[SiprecResource]:
        """A call's recordings as last saved (the service forgets them when the call ends)."""
        return [r for r in self.saved.values() if r.call_sid == call_sid]

    @property
    def address(self) -> tuple[str, int]:
        local = self.endpoint.transports.local_address("udp")
        assert local is not None
        return ("127.0.0.1", local.port)

    async def serve(self, routes: list[Route]) -> CallManager:
        manager = CallManager(
            self.endpoint,
            self.engine,
            self.service,
            routes,
            lambda account: AUTH_TOKEN,
            on_error=lambda call, error: self.errors.append((call.sid, error)),
        )
        await manager.start()
        self.manager = manager
        return manager

    async def serve_twiml(self, twiml: str) -> CallManager:
        return await self.serve([Route("*", ACCOUNT_SID, twiml=twiml)])

    def only_call(self) -> Call:
        assert self.manager is not None
        calls = self.manager.active_calls()
        assert len(calls) == 1
        return calls[0]


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine("127.0.0.1", 41000, 45999, media_timeout=0) as media:
        yield media


@pytest.fixture
async def rig(engine: Engine, tmp_path: Path) -> AsyncIterator[Rig]:
    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")))
    srs = RecordingServer(srs_endpoint, tmp_path / "recordings")
    endpoint = await SipEndpoint.create()
    srs_address = srs_endpoint.transports.local_address("udp")
    assert srs_address is not None
    connectors = ConnectorRegistry(
        [Connector("srs1", parse_uri(f"sip:srs@127.0.0.1:{srs_address.port}"))]
    )
    webhooks = WebhookSender(policy=RetryPolicy(max_attempts=2, initial_backoff=0.05))
    saved: dict[str, SiprecResource] = {}
    service = SiprecService(
        SessionContext(endpoint, engine, "127.0.0.1", answer_timeout=3.0),
        connectors,
        webhooks,
        lambda account: AUTH_TOKEN,
        on_change=lambda resource: saved.__setitem__(resource.sid, resource),
    )
    rig = Rig(engine, endpoint, srs, service, saved=saved)
    yield rig
    if rig.manager is not None:
        await rig.manager.close()
    await service.close()
    await webhooks.close()
    await endpoint.close()
    await srs.close()
    await srs_endpoint.close()


@dataclass
class WebApp:
    """A customer's voice application: TwiML per path, every request checked with twilio's
    own RequestValidator (what a real app does before trusting a webhook)."""

    base: str = ""
    documents: dict[str, str] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def params(self, path: str) -> list[dict[str, str]]:
        return [form for seen, form, _ in self.requests if seen == path]


@pytest.fixture
async def webapp() -> AsyncIterator[WebApp]:
    validator = RequestValidator(AUTH_TOKEN)
    app_state = WebApp()

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        form = {k: str(v) for k, v in (await request.post()).items()}
        valid = validator.validate(
            app_state.url(path), form, request.headers.get("X-Twilio-Signature", "")
        )
        app_state.requests.append((path, form, valid))
        await asyncio.sleep(app_state.delays.get(path, 0))
        if path not in app_state.documents:
            return web.Response(status=404)
        return web.Response(text=app_state.documents[path], content_type="text/xml")

    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app_state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield app_state
    await runner.cleanup()
