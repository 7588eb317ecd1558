"""SIPREC over TLS from a daemon that listens on UDP and TCP only (issue 10, defect 3).

The SRS is ours (RecordingServer) on a TLS listener with a self-signed certificate; the
connector says ``;secure=true``. Via and Contact carry the local address of our connection
(RFC 5923), so the SRS answers and reaches us over it; check-config names what cannot work.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from src_client.callgen import Callee, RtpPeer, place_call, speech_like
from src_client.certs import CertificateFiles, write_self_signed
from src_client.config import ConfigError, parse_config
from src_client.daemon import Daemon
from src_client.sip.endpoint import Dialog, SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.srs.server import RecordingServer

ACCOUNT = "AC00000000000000000000000000000def"


def _port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def certificate(tmp_path: Path) -> CertificateFiles:
    return write_self_signed(tmp_path / "tls")


@pytest.fixture
async def callbacks() -> AsyncIterator[tuple[str, list[str]]]:
    events: list[str] = []

    async def status(request: web.Request) -> web.Response:
        events.append(str((await request.post())["SiprecEvent"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/status", events
    await runner.cleanup()


async def _until(condition: object, what: str, timeout: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_secure_connector_records_without_a_tls_listener(
    tmp_path: Path, certificate: CertificateFiles, callbacks: tuple[str, list[str]]
) -> None:
    callback_url, events = callbacks
    srs_endpoint = await SipEndpoint.create(SipConfig(supported=("timer", "siprec")),
                                            listen=[("tls", "127.0.0.1", 0)],
                                            ssl_context=certificate.server_context())
    srs = RecordingServer(srs_endpoint, tmp_path / "recordings")
    callee_endpoint = await SipEndpoint.create()
    callee = Callee(callee_endpoint)
    srs_port = srs_endpoint.transports.local_address("tls").port  # type: ignore[union-attr]
    callee_port = callee_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    sip_port = _port(socket.SOCK_DGRAM)
    config = parse_config({
        "sip": {"listen": [f"udp:127.0.0.1:{sip_port}", f"tcp:127.0.0.1:{sip_port}"],
                "tls_ca": str(certificate.cert)},
        "media": {"port_min": 9440, "port_max": 9499},
        "api": {"listen": f"127.0.0.1:{_port(socket.SOCK_STREAM)}"},
        "accounts": [{"sid": ACCOUNT, "auth_token": "token"}],
        "connectors": {"srs": {"srs": f"sip:srs@127.0.0.1:{srs_port};secure=true"}},
        "routes": [{"number": "*", "twiml": (
            f'<Response><Start><Siprec name="r" connectorName="srs" '
            f'statusCallback="{callback_url}"/></Start>'
            f"<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>")}],
        "store": {"path": str(tmp_path / "state.db")},
    })  # fmt: skip
    daemon = Daemon(config)
    await daemon.start()
    caller_endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    try:
        dialog = await place_call(caller_endpoint, parse_uri(f"sip:100@127.0.0.1:{sip_port}"),
                                  caller=parse_name_addr("<sip:alice@127.0.0.1>"), peer=caller)
        await asyncio.wait_for(callee.answered.wait(), 5)
        await _until(lambda: events == ["siprec-started"], "siprec-started")
        await caller.talk(speech_like(0.4))
        await _until(lambda: daemon.siprec.media_totals().packets > 0, "forked packets")

        # The SRS sees one connection, and our Contact names its far end: what it sends us
        # in the dialog goes over that connection (RFC 5923), there being no listener.
        assert srs_endpoint.transports.connection_count() == 1
        [srs_side] = srs_endpoint.core.dialogs()
        assert srs_side.remote_target.transport == "tls"
        assert srs_endpoint.transports.connection_local(srs_side.peer) is not None
        in_dialog = await Dialog(srs_endpoint, srs_side).request("OPTIONS")
        assert in_dialog.status == 200

        await dialog.bye()
        recording = await asyncio.wait_for(srs.finished.get(), 5)
        assert recording.sip["end_reason"] == "SRC sent BYE"
        await _until(lambda: events == ["siprec-started", "siprec-stopped"], "siprec-stopped")
    finally:
        caller.close()
        callee.peer.close()
        await daemon.stop()
        await caller_endpoint.close()
        await callee_endpoint.close()
        await srs.close()
        await srs_endpoint.close()


@pytest.mark.parametrize(("sip", "problem"), [
    ({"tls_client_key": "{key}"}, "sip.tls_client_key: set tls_client_cert too"),
    ({"tls_ca": "{junk}"}, "sip.tls_ca: cannot be loaded as PEM trust anchors"),
    ({"tls_client_cert": "{junk}", "tls_client_key": "{key}"},
     "sip.tls_client_cert: cannot be loaded with tls_client_key"),
    ({"tls_client_cert": "{cert}"}, "sip.tls_client_cert: cannot be loaded with tls_client_key"),
])  # fmt: skip
def test_check_config_names_what_breaks_outbound_tls(
    tmp_path: Path, certificate: CertificateFiles, sip: dict[str, str], problem: str
) -> None:
    """Outbound TLS needs no listener, but a client certificate without its key, or a CA
    file that is no PEM, would fail every secure connector: reported with its key."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    files = {"cert": str(certificate.cert), "key": str(certificate.key), "junk": str(junk)}
    with pytest.raises(ConfigError) as info:
        parse_config({"sip": {k: v.format(**files) for k, v in sip.items()}})
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_check_config_accepts_client_certificate(certificate: CertificateFiles) -> None:
    config = parse_config({"sip": {"tls_client_cert": str(certificate.cert),
                                   "tls_client_key": str(certificate.key)}})
    assert config.sip.tls_client_cert == certificate.cert
