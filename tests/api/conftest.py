"""A running API over real parts: SQLite store, C engine, SIP endpoints, the bundled SRS.

The official ``twilio`` client talks to it through :class:`LocalHttpClient`, which only
rewrites Twilio's hosts to the local server; everything else is twilio-python's own code.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web
from local_calls import LocalCalls
from twilio.rest import Client

from src_client.api import create_app
from src_client.media import Engine
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_uri
from src_client.siprec.connectors import Connector, ConnectorRegistry, ParameterMode
from src_client.siprec.service import Alert, SiprecService
from src_client.siprec.session import SessionContext
from src_client.srs.server import RecordingServer
from src_client.store import AlertRecord, SqliteStore
from src_client.twilio_local import LocalHttpClient
from src_client.webhooks import RetryPolicy, WebhookSender

T = TypeVar("T")

ACCOUNT = new_sid(SidPrefix.ACCOUNT)
TOKEN = "api-test-token-0123456789abcdef"
OTHER_ACCOUNT = new_sid(SidPrefix.ACCOUNT)
OTHER_TOKEN = "other-test-token-fedcba9876543210"


def basic(account: str = ACCOUNT, token: str = TOKEN) -> dict[str, str]:
    encoded = base64.b64encode(f"{account}:{token}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@dataclass
class CallbackSink:
    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, event: str, sid: str, timeout: float = 10.0) -> dict[str, str]:
        async def seen() -> dict[str, str]:
            while True:
                for params in self.received:
                    if params.get("SiprecEvent") == event and params.get("SiprecSid") == sid:
                        return params
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(seen(), timeout)


@dataclass
class Api:
    base: str
    store: SqliteStore
    service: SiprecService
    calls: LocalCalls
    srs: RecordingServer
    callbacks: CallbackSink
    db_path: Path
    http: aiohttp.ClientSession
    session_context: SessionContext
    webhooks: WebhookSender

    def client(self, account: str = ACCOUNT, token: str = TOKEN) -> Client:
        return Client(account, token, http_client=LocalHttpClient(self.base))

    async def run(self, fn: Callable[[], T]) -> T:
        """twilio-python is blocking: run it off the loop that serves it."""
        return await asyncio.to_thread(fn)

    def url(self, path: str) -> str:
        return self.base + path

    def siprec_path(self, call_sid: str, sid: str | None = None,
                    account: str = ACCOUNT) -> str:
        tail = "Siprec.json" if sid is None else f"Siprec/{sid}.json"
        return f"/2010-04-01/Accounts/{account}/Calls/{call_sid}/{tail}"


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine("127.0.0.1", 9600, 9799, media_timeout=0) as media:
        yield media


def dead_udp_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


async def _callback_server(sink: CallbackSink) -> web.AppRunner:
    async def handle(request: web.Request) -> web.Response:
        params = dict(request.query) if request.method == "GET" else {
            k: str(v) for k, v in (await request.post()).items()}
        sink.received.append(params)
        sink.arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/status", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/status"
    return runner


@pytest.fixture
async def api(engine: Engine, tmp_path: Path) -> AsyncIterator[Api]:
    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")),
                                            listen=[("udp", "127.0.0.1", 0)])
    srs = RecordingServer(srs_endpoint, tmp_path / "recordings")
    src_endpoint = await SipEndpoint.create(listen=[("udp", "127.0.0.1", 0)])
    address = srs_endpoint.transports.local_address("udp")
    assert address is not None
    connectors = ConnectorRegistry([
        Connector("srs1", parse_uri(f"sip:srs@127.0.0.1:{address.port}"),
                  parameters=ParameterMode.BOTH),
        Connector("dead", parse_uri(f"sip:srs@127.0.0.1:{dead_udp_port()};transport=tcp")),
    ])
    db_path = tmp_path / "api.db"
    store = SqliteStore(db_path)
    webhooks = WebhookSender(policy=RetryPolicy(max_attempts=2, initial_backoff=0.05))

    def on_alert(alert: Alert) -> None:
        store.add_alert(AlertRecord.from_siprec_alert(alert))

    tokens = {ACCOUNT: TOKEN, OTHER_ACCOUNT: OTHER_TOKEN}
    session_context = SessionContext(src_endpoint, engine, "127.0.0.1", answer_timeout=3.0)
    service = SiprecService(session_context, connectors, webhooks, tokens.__getitem__,
                            on_alert=on_alert, on_change=store.save_siprec)
    calls = LocalCalls(engine, store, service)
    app = create_app(accounts=tokens, service=service, store=store, calls=calls,
                     webhooks=webhooks, engine=engine)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sink = CallbackSink()
    sink_runner = await _callback_server(sink)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with aiohttp.ClientSession() as http:
        yield Api(base, store, service, calls, srs, sink, db_path, http, session_context,
                  webhooks)
    await service.close()
    await runner.cleanup()
    await webhooks.close(timeout=1.0)
    await sink_runner.cleanup()
    await srs.close()
    calls.close()
    for endpoint in (src_endpoint, srs_endpoint):
        await endpoint.close()
    store.close()
