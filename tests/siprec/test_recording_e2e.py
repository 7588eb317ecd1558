"""End to end: a call relayed by the engine, recorded by SiprecService into the bundled SRS.

Real peers throughout: our SIP stack on both sides over loopback sockets (UDP, or TLS for
``secure=true``), the C engine relaying and forking, the SRS decoding what arrives, status
callbacks to a real HTTP server checked with twilio's own RequestValidator.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from src_client.audio import g711
from src_client.callgen import speech_like
from src_client.certs import CertificateFiles, write_self_signed
from src_client.media import Engine, Leg
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import SipUri, parse_name_addr, parse_uri
from src_client.siprec.connectors import Connector, ConnectorRegistry, Secret
from src_client.siprec.resource import SiprecStatus
from src_client.siprec.service import SiprecService
from src_client.siprec.session import RecordedCall, SessionContext
from src_client.srs.recording import Recording
from src_client.srs.server import RecordingServer, SrsOptions
from src_client.webhooks import RetryPolicy, WebhookSender

AUTH_TOKEN = "e2e-token-not-a-secret"
TELEPHONE_EVENT = 101
FRAME = 160


@dataclass
class CallbackSink:
    url: str
    received: list[dict[str, str]] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, event: str, timeout: float = 5.0) -> dict[str, str]:
        async def seen() -> dict[str, str]:
            while True:
                for params in self.received:
                    if params["SiprecEvent"] == event:
                        return params
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(seen(), timeout)


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackSink]:
    validator = RequestValidator(AUTH_TOKEN)
    sink = CallbackSink("")

    async def handle(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        sink.valid.append(
            validator.validate(sink.url, form, request.headers.get("X-Twilio-Signature", ""))
        )
        sink.received.append(form)
        sink.arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/status", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sink.url = f"http://127.0.0.1:{port}/status"
    yield sink
    await runner.cleanup()


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine("127.0.0.1", 9000, 9299, media_timeout=0) as media:
        yield media


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return write_self_signed(tmp_path_factory.mktemp("tls"))


@dataclass
class Rig:
    engine: Engine
    service: SiprecService
    srs: RecordingServer
    call: RecordedCall
    callee_leg: Leg
    caller: socket.socket
    callee: socket.socket

    async def send_audio(
        self,
        caller_pcm: bytes,
        callee_pcm: bytes,
        *,
        dtmf_every: int = 0,
    ) -> None:
        """Both parties talk at 20 ms pace; RFC 4733 events interleaved when asked."""
        seq = 0
        for index in range(len(caller_pcm) // FRAME):
            chunk = slice(index * FRAME, (index + 1) * FRAME)
            timestamp = index * FRAME
            self.caller.sendto(
                _rtp(0, seq, timestamp, 0x11111111) + caller_pcm[chunk], self.call.leg.local_address
            )
            self.callee.sendto(
                _rtp(0, index, timestamp, 0x22222222) + callee_pcm[chunk],
                self.callee_leg.local_address,
            )
            seq += 1
            if dtmf_every and index % dtmf_every == 0:
                event = struct.pack("!BBH", 5, 10, 160)  # digit 5, volume 10, duration 160
                self.caller.sendto(
                    _rtp(TELEPHONE_EVENT, seq, timestamp, 0x11111111) + event,
                    self.call.leg.local_address,
                )
                seq += 1
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)


def _rtp(payload_type: int, seq: int, timestamp: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, timestamp, ssrc)


class MakeRig(Protocol):
    async def __call__(
        self,
        options: SrsOptions | None = None,
        *,
        secure: bool = False,
        failover_first: bool = False,
    ) -> Rig: ...


class Closable(Protocol):
    async def close(self) -> None: ...


@pytest.fixture
async def rig_factory(
    engine: Engine, tmp_path: Path, certificate: CertificateFiles
) -> AsyncIterator[MakeRig]:
    closers: list[Closable] = []

    async def make(
        options: SrsOptions | None = None, *, secure: bool = False, failover_first: bool = False
    ) -> Rig:
        transport = "tls" if secure else "udp"
        srs_endpoint = await SipEndpoint.create(
            SipConfig(supported=("timer", "siprec")),
            listen=[(transport, "127.0.0.1", 0)],
            ssl_context=certificate.server_context() if secure else None,
        )
        srs = RecordingServer(srs_endpoint, tmp_path / "recordings", options=options)
        src_endpoint = await SipEndpoint.create(
            listen=[(transport, "127.0.0.1", 0)],
            tls_client_context=certificate.client_context() if secure else None,
            ssl_context=certificate.server_context() if secure else None,
        )
        closers.extend([srs_endpoint, src_endpoint])
        address = srs_endpoint.transports.local_address(transport)
        assert address is not None
        srs_uri = f"sip:srs@127.0.0.1:{address.port}" + (";secure=true" if secure else "")
        failover: tuple[SipUri, ...] = ()
        primary = parse_uri(srs_uri)
        if failover_first:  # a dead SRS first: nothing listens on its port
            dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dead.bind(("127.0.0.1", 0))
            primary = parse_uri(f"sip:dead@127.0.0.1:{dead.getsockname()[1]}")
            dead.close()
            failover = (parse_uri(srs_uri),)
        connector = Connector(
            "srs1",
            primary,
            credentials_header="X-Auth-Token",
            credentials=Secret("s3cr3t"),
            failover_uris=failover,
        )
        webhooks = WebhookSender(policy=RetryPolicy(max_attempts=2, initial_backoff=0.05))
        context = SessionContext(src_endpoint, engine, "127.0.0.1", answer_timeout=3.0)
        service = SiprecService(
            context, ConnectorRegistry([connector]), webhooks, lambda account: AUTH_TOKEN
        )
        closers.append(webhooks)
        caller_leg, callee_leg = engine.allocate_leg(), engine.allocate_leg()
        engine.relay(caller_leg, callee_leg)
        caller = _socket()
        callee = _socket()
        caller_leg.set_remote("127.0.0.1", caller.getsockname()[1])
        callee_leg.set_remote("127.0.0.1", callee.getsockname()[1])
        call = RecordedCall(
            sid=new_sid(SidPrefix.CALL),
            account_sid=new_sid(SidPrefix.ACCOUNT),
            sip_call_id="e2e-call@127.0.0.1",
            remote=parse_name_addr('"Alice" <sip:+15550001@carrier.example>'),
            local=parse_name_addr("<sip:+15550002@pbx.example>"),
            codecs=(Codec(0, "PCMU", 8000), Codec(TELEPHONE_EVENT, "telephone-event", 8000)),
            dtmf_payload_types=frozenset({TELEPHONE_EVENT}),
            leg=caller_leg,
        )
        return Rig(engine, service, srs, call, callee_leg, caller, callee)

    yield make
    for closer in reversed(closers):
        await closer.close()


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _wav(recording: Recording, label: str) -> np.ndarray:
    with wave.open(str(recording.folder / f"label-{label}.wav")) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


async def _record(
    rig: Rig, callbacks: CallbackSink, *, seconds: float = 1.0, dtmf_every: int = 0
) -> tuple[Recording, bytes, bytes]:
    caller_pcm = g711.encode(speech_like(seconds, seed=1), g711.PCMU)
    callee_pcm = g711.encode(speech_like(seconds, seed=2, pitch=200), g711.PCMU)
    resource = rig.service.create(
        rig.call,
        connector_name="srs1",
        name="e2e",
        track="both_tracks",
        status_callback=callbacks.url,
    )
    await callbacks.wait_for("siprec-started")
    assert resource.status is SiprecStatus.IN_PROGRESS
    await rig.send_audio(caller_pcm, callee_pcm, dtmf_every=dtmf_every)
    await rig.service.stop(rig.call.sid, "e2e")
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    return recording, caller_pcm, callee_pcm


async def test_both_tracks_are_recorded_sample_for_sample_without_dtmf(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory()
    recording, caller_pcm, callee_pcm = await _record(rig, callbacks, dtmf_every=10)

    # label 1 = inbound track (what the caller says), label 2 = outbound (what it hears)
    assert np.array_equal(_wav(recording, "1"), g711.decode(caller_pcm, g711.PCMU))
    assert np.array_equal(_wav(recording, "2"), g711.decode(callee_pcm, g711.PCMU))
    summary = json.loads((recording.folder / "summary.json").read_text())
    for label in ("1", "2"):
        stats = summary["labels"][label]
        assert stats["unexpected_payload_types"] == {}  # no telephone-event reached the SRS
        assert stats["sequence_errors"] == 0 and stats["lost"] == 0
        assert stats["packets"] == len(caller_pcm) // FRAME
        assert stats["rtcp_byes"] == 1  # the fork's removal says goodbye
    assert summary["violations"] == []
    media = rig.service.counters.media  # the totals outlive the removed forks
    assert media.dtmf_dropped == 5
    assert media.packets == 2 * (len(caller_pcm) // FRAME)
    # the call itself still carried every DTMF event to the callee
    received = []
    while True:
        try:
            received.append(rig.callee.recv(2048))
        except BlockingIOError:
            break
    assert sum(1 for packet in received if packet[1] & 0x7F == TELEPHONE_EVENT) == 5


async def test_callbacks_are_signed_and_in_order(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory()
    await _record(rig, callbacks, seconds=0.2)
    stopped = await callbacks.wait_for("siprec-stopped")
    assert [p["SiprecEvent"] for p in callbacks.received] == ["siprec-started", "siprec-stopped"]
    assert all(callbacks.valid)
    assert stopped["CallSid"] == rig.call.sid and stopped["SiprecName"] == "e2e"
    assert stopped["SiprecSid"].startswith("SR") and len(stopped["SiprecSid"]) == 34
    assert {"AccountSid", "From", "To", "CallStatus", "Direction", "Timestamp"} <= stopped.keys()


async def test_secure_connector_records_over_tls_and_srtp(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory(secure=True)
    recording, caller_pcm, _ = await _record(rig, callbacks, seconds=0.5)
    assert np.array_equal(_wav(recording, "1"), g711.decode(caller_pcm, g711.PCMU))
    summary = json.loads((recording.folder / "summary.json").read_text())
    assert summary["labels"]["1"]["decrypt_errors"] == 0
    assert summary["labels"]["1"]["rtcp_sender_reports"] >= 1


async def test_rejecting_srs_reports_an_error_and_leaves_the_call_alone(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory(SrsOptions(reject=488))
    resource = rig.service.create(
        rig.call, connector_name="srs1", name="r", status_callback=callbacks.url
    )
    error = await callbacks.wait_for("siprec-error")
    assert error["SiprecErrorCode"] == "31963" and "488" in error["SiprecError"]
    assert resource.status is SiprecStatus.STOPPED
    assert rig.service.counters.sip_responses == {488: 1}
    # the relay goes on untouched
    rig.caller.sendto(_rtp(0, 1, 160, 0x1) + bytes(FRAME), rig.call.leg.local_address)
    relayed = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(rig.callee, 2048), 5)
    assert relayed[12:] == bytes(FRAME)


async def test_failover_to_the_second_srs(rig_factory: MakeRig, callbacks: CallbackSink) -> None:
    rig = await rig_factory(failover_first=True)
    rig.service.create(rig.call, connector_name="srs1", name="f", status_callback=callbacks.url)
    started = await callbacks.wait_for("siprec-started", timeout=10)
    assert started["SiprecName"] == "f"


async def test_srs_bye_stops_the_recording(rig_factory: MakeRig, callbacks: CallbackSink) -> None:
    rig = await rig_factory(SrsOptions(bye_after=0.3))
    resource = rig.service.create(
        rig.call, connector_name="srs1", name="b", status_callback=callbacks.url
    )
    await callbacks.wait_for("siprec-stopped")
    assert resource.status is SiprecStatus.STOPPED and resource.error_code is None
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    assert recording.sip["end_reason"] == "SRS sent BYE"


async def test_srs_reinvite_pauses_and_resumes(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory(SrsOptions(reinvite_after=0.1))
    rig.service.create(rig.call, connector_name="srs1", name="p", status_callback=callbacks.url)
    await callbacks.wait_for("siprec-started")
    await asyncio.sleep(0.5)
    recording = next(iter(rig.srs.recordings.values()))
    assert recording.sip.get("reinvite_responses") == [200, 200]
    await rig.service.stop(rig.call.sid, "p")


async def test_hold_sends_a_partial_metadata_update(
    rig_factory: MakeRig, callbacks: CallbackSink
) -> None:
    rig = await rig_factory()
    rig.service.create(
        rig.call,
        connector_name="srs1",
        name="h",
        track="both_tracks",
        status_callback=callbacks.url,
    )
    await callbacks.wait_for("siprec-started")
    rig.call.on_hold = True
    await rig.service.call_updated(rig.call.sid)
    await rig.service.stop(rig.call.sid, "h")
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    assert len(recording.metadata) == 2
    update = recording.metadata[1].decode()
    assert "<datamode>partial</datamode>" in update
    assert (
        "<participantstreamassoc" in update
        and "<send>"
        not in update.split("<participantstreamassoc")[1].split("</participantstreamassoc>")[0]
    )
    summary = json.loads((recording.folder / "summary.json").read_text())
    assert summary["violations"] == []
