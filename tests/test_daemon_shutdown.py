"""SIGTERM's path (Daemon.stop) with a live recorded call: BYE to the SRS, its callback
delivered, the call ended, and the records committed before the process goes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import web

from src_client.callgen import Callee, RtpPeer, place_call, speech_like
from src_client.config import parse_config
from src_client.daemon import Daemon
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.srs.server import RecordingServer
from src_client.store import SqliteStore

ACCOUNT = "AC00000000000000000000000000000def"


def _port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_stop_ends_recordings_with_bye_and_callbacks_then_calls(tmp_path: Path) -> None:
    events: list[str] = []

    async def status(request: web.Request) -> web.Response:
        events.append(str((await request.post())["SiprecEvent"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    callback_url = f"http://127.0.0.1:{runner.addresses[0][1]}/status"

    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")))
    srs = RecordingServer(srs_endpoint, tmp_path / "recordings")
    callee_endpoint = await SipEndpoint.create()
    callee = Callee(callee_endpoint)
    srs_port = srs_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    callee_port = callee_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    sip_port = _port(socket.SOCK_DGRAM)
    config = parse_config({
        "sip": {"listen": [f"udp:127.0.0.1:{sip_port}"]},
        "media": {"port_min": 9240, "port_max": 9299},
        "api": {"listen": f"127.0.0.1:{_port(socket.SOCK_STREAM)}"},
        "accounts": [{"sid": ACCOUNT, "auth_token": "token"}],
        "connectors": {"srs": {"srs": f"sip:srs@127.0.0.1:{srs_port}"}},
        "routes": [{"number": "*", "twiml": (
            f'<Response><Start><Siprec name="r" connectorName="srs" '
            f'statusCallback="{callback_url}"/></Start>'
            f"<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>")}],
        "store": {"path": str(tmp_path / "state.db")},
    })
    daemon = Daemon(config)
    await daemon.start()
    caller_endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    try:
        await place_call(caller_endpoint, parse_uri(f"sip:100@127.0.0.1:{sip_port}"),
                         caller=parse_name_addr("<sip:alice@127.0.0.1>"), peer=caller)
        await asyncio.wait_for(callee.answered.wait(), 5)
        await caller.talk(speech_like(0.4))
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.05)
        assert events == ["siprec-started"]
        [call] = daemon.calls.active_calls()

        await daemon.stop()  # what SIGTERM runs

        assert events == ["siprec-started", "siprec-stopped"]  # delivered before stop returned
        recording = await asyncio.wait_for(srs.finished.get(), 5)
        assert recording.sip["end_reason"] == "SRC sent BYE"
        assert callee.dialog is not None
        await asyncio.wait_for(callee.dialog.terminated.wait(), 5)  # the call ended too
    finally:
        caller.close()
        callee.peer.close()
        await caller_endpoint.close()
        await callee_endpoint.close()
        await srs.close()
        await srs_endpoint.close()
        await runner.cleanup()
    store = SqliteStore(tmp_path / "state.db")  # a new process would see exactly this
    try:
        saved = store.get_call(call.sid)
        assert saved is not None and saved.status.value == "completed"
        [resource] = store.list_siprec(call.sid)
        assert resource.status.value == "stopped"
    finally:
        store.close()
