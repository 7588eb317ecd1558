"""Memory stays flat: once a recorded call ends, the daemon keeps nothing of it in memory
(the store has its history), so RSS does not grow with the number of calls served
(bench/soak.py measures the RSS itself)."""

from __future__ import annotations

import asyncio
import gc
import socket
from pathlib import Path

from src_client.callgen import Callee, RtpPeer, place_call, speech_like
from src_client.calls.call import Call
from src_client.config import parse_config
from src_client.daemon import Daemon
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.srs.server import RecordingServer

ACCOUNT = "AC00000000000000000000000000000abc"


def _port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_finished_recorded_call_leaves_nothing_in_memory(tmp_path: Path) -> None:
    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")))
    srs = RecordingServer(srs_endpoint, tmp_path / "recordings")
    callee_endpoint = await SipEndpoint.create()
    callee = Callee(callee_endpoint)
    srs_port = srs_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    callee_port = callee_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    sip_port = _port(socket.SOCK_DGRAM)
    daemon = Daemon(parse_config({
        "sip": {"listen": [f"udp:127.0.0.1:{sip_port}"]},
        "media": {"port_min": 9300, "port_max": 9399},
        "api": {"listen": f"127.0.0.1:{_port(socket.SOCK_STREAM)}"},
        "accounts": [{"sid": ACCOUNT, "auth_token": "token"}],
        "connectors": {"srs": {"srs": f"sip:srs@127.0.0.1:{srs_port}"}},
        "routes": [{"number": "*", "twiml": (
            '<Response><Start><Siprec name="r" connectorName="srs"/></Start>'
            f"<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>")}],
        "store": {"path": str(tmp_path / "state.db")},
    }))
    await daemon.start()
    caller_endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    try:
        dialog = await place_call(caller_endpoint, parse_uri(f"sip:100@127.0.0.1:{sip_port}"),
                                  caller=parse_name_addr("<sip:alice@127.0.0.1>"), peer=caller)
        await asyncio.wait_for(callee.answered.wait(), 5)
        await caller.talk(speech_like(0.2))
        [call] = daemon.calls.active_calls()
        sid = call.sid
        assert [r.name for r in daemon.siprec.list(sid)] == ["r"]
        del call
        await dialog.bye()
        for _ in range(100):
            if not daemon.calls.active_calls() and not daemon.siprec.running:
                break
            await asyncio.sleep(0.05)
        gc.collect()
        assert not [o for o in gc.get_objects() if isinstance(o, Call) and o.sid == sid]
        assert daemon.siprec.list(sid) == []
        stored = daemon.store.get_call(sid)  # the history is where the REST API reads it
        assert stored is not None and stored.status.value == "completed"
        assert [r.name for r in daemon.store.list_siprec(sid)] == ["r"]
    finally:
        await daemon.stop()
        caller.close()
        callee.peer.close()
        await caller_endpoint.close()
        await callee_endpoint.close()
        await srs.close()
        await srs_endpoint.close()
