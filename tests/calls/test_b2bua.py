"""The B2BUA against our own SIP stack as the caller (and SIPp where a callee is needed):
refusals with the right SIP status, <Reject>, bad TwiML, <Play>, re-INVITE to a new media
address, digest-authenticated <Sip> and <Number> through a trunk."""

from __future__ import annotations

import asyncio
import io
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from calls_rig import ACCOUNT_SID, Rig, WebApp, requires_sipp, until

from src_client.api.control import Redirect as ControlRedirect
from src_client.audio import g711
from src_client.calls import CallManager, CallStatus, Route, Trunk
from src_client.errors import TwilioError
from src_client.media import Engine
from src_client.sip.auth import DigestCredentials
from src_client.sip.endpoint import InviteResult, ServerTransaction, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.sipp import SippRun
from src_client.siprec.connectors import ConnectorRegistry
from src_client.siprec.resource import SiprecStatus
from src_client.siprec.service import SiprecService
from src_client.siprec.session import SessionContext
from src_client.twiml.parser import TwimlError, parse_twiml
from src_client.webhooks import WebhookSender

CALLER = parse_name_addr('"Alice" <sip:+15550001@127.0.0.1>')


def offer(port: int, formats: str = "0 8 101", extra: str = "") -> bytes:
    lines = [
        "v=0",
        "o=alice 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
    ]
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


class Phone:
    """A caller: our SIP stack plus a UDP socket for its media."""

    def __init__(self, endpoint: SipEndpoint, rig: Rig) -> None:
        self.endpoint = endpoint
        self.rig = rig
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind(("127.0.0.1", 0))
        self.media.setblocking(False)

    @property
    def port(self) -> int:
        return int(self.media.getsockname()[1])

    async def call(self, number: str = "+15550002", body: bytes | None = None,
                   content_type: str = "application/sdp") -> InviteResult:  # fmt: skip
        host, port = self.rig.address
        target = parse_uri(f"sip:{number}@{host}:{port}")
        return await self.endpoint.invite(
            target,
            from_=CALLER,
            to=parse_name_addr(f"<sip:{number}@{host}>"),
            body=offer(self.port) if body is None else body,
            content_type=content_type,
        )

    async def receive_audio(self, frames: int) -> bytes:
        loop = asyncio.get_running_loop()
        payload = bytearray()
        while len(payload) < frames * 160:
            packet = await asyncio.wait_for(loop.sock_recv(self.media, 2048), 5)
            assert packet[1] & 0x7F == 0  # PCMU, as answered
            payload += packet[12:]
        return bytes(payload)


@pytest.fixture
async def phone(rig: Rig) -> AsyncIterator[Phone]:
    endpoint = await SipEndpoint.create()
    caller = Phone(endpoint, rig)
    yield caller
    caller.media.close()
    await endpoint.close()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "application/sdp", 488),  # no offer: the B2BUA needs the caller's codecs
        (offer(4000, "18", "a=rtpmap:18 G729/8000"), "application/sdp", 488),
        (offer(4000, "0", "m=video 0 RTP/AVP 96"), "text/plain", 415),
    ],
)
async def test_unusable_offers_are_refused(
    rig: Rig, phone: Phone, body: bytes, content_type: str, status: int
) -> None:
    await rig.serve_twiml("<Response><Pause/></Response>")
    result = await phone.call(body=body, content_type=content_type)
    assert result.response.status == status
    if status == 488:
        assert "399 src-client" in (result.response.headers.get("Warning") or "")
    assert rig.engine.stats().legs == 0


async def test_a_number_without_route_gets_404(rig: Rig, phone: Phone) -> None:
    await rig.serve([Route("+15559999", ACCOUNT_SID, twiml="<Response/>")])
    result = await phone.call("+15550002")
    assert result.response.status == 404


@pytest.mark.parametrize(
    ("reason", "sip_status", "call_status"),
    [("busy", 486, CallStatus.BUSY), ("rejected", 603, CallStatus.FAILED)],
)
async def test_reject(
    rig: Rig, phone: Phone, reason: str, sip_status: int, call_status: CallStatus
) -> None:
    manager = await rig.serve_twiml(f'<Response><Reject reason="{reason}"/></Response>')
    result = await phone.call()
    assert result.response.status == sip_status
    await until(lambda: not manager.active_calls())
    [call] = manager.calls()
    assert call.status is call_status and rig.engine.stats().legs == 0


async def test_bad_twiml_fails_the_call_with_a_clear_error(rig: Rig, phone: Phone) -> None:
    manager = await rig.serve_twiml("<Response><Dail/></Response>")
    result = await phone.call()
    assert result.response.status == 500
    await until(lambda: not manager.active_calls())
    [(sid, error)] = rig.errors
    assert isinstance(error, TwimlError) and error.code == 12200 and "Dail" in error.message
    assert manager.get(sid).status is CallStatus.FAILED


async def test_empty_document_answers_then_hangs_up(rig: Rig, phone: Phone) -> None:
    manager = await rig.serve_twiml(
        '<Response><Start><Siprec connectorName="srs1"/></Start></Response>'
    )
    result = await phone.call()
    assert result.response.status == 200 and result.dialog is not None
    await asyncio.wait_for(result.dialog.terminated.wait(), 5)  # our BYE: the document ran out
    await until(lambda: not manager.active_calls())
    [call] = manager.calls()
    assert call.status is CallStatus.COMPLETED and call.end_reason == "hung up by TwiML"
    assert [r.status for r in rig.siprecs(call.sid)] == [SiprecStatus.STOPPED]


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


async def test_play_a_local_wav_to_the_caller(rig: Rig, phone: Phone, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    samples = (rng.normal(0, 3000, 4000)).astype(np.int16)  # 0.5 s at 8 kHz
    (tmp_path / "prompt.wav").write_bytes(_wav_bytes(samples, 8000))
    await rig.serve_twiml(f'<Response><Play loop="2">{tmp_path / "prompt.wav"}</Play></Response>')
    result = await phone.call()
    assert result.response.status == 200 and result.dialog is not None
    heard = await phone.receive_audio(frames=50)
    assert heard == g711.encode(samples, g711.PCMU) * 2
    await asyncio.wait_for(result.dialog.terminated.wait(), 5)  # played twice, then hung up
    assert rig.errors == []


async def test_play_resamples_wav_from_an_http_url(rig: Rig, phone: Phone) -> None:
    t = np.arange(16000) / 16000  # one second of 440 Hz at 16 kHz
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)

    wav = _wav_bytes(tone, 16000)

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=wav, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/tone.wav", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/tone.wav"
    try:
        await rig.serve_twiml(f"<Response><Play>{url}</Play></Response>")
        result = await phone.call()
        assert result.response.status == 200
        heard = g711.decode(await phone.receive_audio(frames=50), g711.PCMU)
    finally:
        await runner.cleanup()
    spectrum = np.abs(np.fft.rfft(heard[800:7200].astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / 6400
    assert abs(peak_hz - 440) < 5
    assert 6000 < np.abs(heard[800:7200]).max() < 9000  # the level survives the resampling


async def test_reinvite_moves_the_media_and_hold_updates_the_recording(
    rig: Rig, phone: Phone
) -> None:
    manager = await rig.serve_twiml(
        '<Response><Start><Siprec connectorName="srs1"/></Start><Pause length="30"/></Response>'
    )
    result = await phone.call()
    assert result.dialog is not None
    call = manager.active_calls()[0]
    assert call.caller.media.stats().remote == ("127.0.0.1", phone.port)
    await until(lambda: bool(rig.srs.recordings))
    moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    moved.bind(("127.0.0.1", 0))
    try:
        new_port = moved.getsockname()[1]
        answer = await result.dialog.request(
            "INVITE", body=offer(new_port, extra="a=sendonly"), content_type="application/sdp"
        )
        assert answer.status == 200 and b"a=recvonly" in answer.body
        assert call.caller.media.stats().remote == ("127.0.0.1", new_port)
        assert call.on_hold and call.recorded.on_hold
        recording = next(iter(rig.srs.recordings.values()))
        await until(lambda: len(recording.metadata) == 2)
        # a codec the call does not use is refused and changes nothing
        refused = await result.dialog.request(
            "INVITE", body=offer(new_port, "8"), content_type="application/sdp"
        )
        assert refused.status == 488 and call.on_hold
    finally:
        moved.close()
    await result.dialog.bye()
    await until(lambda: not manager.active_calls())
    assert manager.get(call.sid).status is CallStatus.COMPLETED


@requires_sipp
async def test_number_through_a_trunk_that_challenges(rig: Rig, phone: Phone) -> None:
    async with SippRun(
        "uas_auth.xml", timeout=10, keys={"user": "alice", "password": "secret"}
    ) as trunk_peer:
        trunk = Trunk(
            parse_uri(f"sip:127.0.0.1:{trunk_peer.port}"), DigestCredentials("alice", "secret")
        )
        manager = await rig.serve(
            [Route("*", ACCOUNT_SID, twiml="<Response><Dial>+1 555 0100</Dial></Response>")]
        )
        manager.trunk = trunk
        result = await phone.call()
        assert result.dialog is not None
        call = manager.active_calls()[0]
        await until(lambda: call.callee is not None)
        await result.dialog.bye()
        sipp = await trunk_peer.wait()
    assert sipp.successful == 1, sipp.summary()  # digest verified by SIPp, then our BYE
    assert manager.get(call.sid).status is CallStatus.COMPLETED


@requires_sipp
async def test_sip_with_username_and_password(rig: Rig, phone: Phone) -> None:
    async with SippRun(
        "uas_auth.xml", timeout=10, keys={"user": "bob", "password": "pw-not-secret"}
    ) as callee:
        manager = await rig.serve_twiml(
            '<Response><Dial><Sip username="bob" password="pw-not-secret">'
            f"sip:bob@127.0.0.1:{callee.port}</Sip></Dial></Response>"
        )
        result = await phone.call()
        assert result.dialog is not None
        call = manager.active_calls()[0]
        await until(lambda: call.callee is not None)
        await result.dialog.bye()
        sipp = await callee.wait()
    assert sipp.successful == 1, sipp.summary()
    assert "pw-not-secret" not in repr(call)


async def test_media_timeout_hangs_up(tmp_path: Path) -> None:
    """A caller whose audio stops (a dead phone, a NAT that closed) is hung up, as
    rtpengine's timeout does; the engine reports the silent leg."""
    with Engine("127.0.0.1", 41000, 45999, media_timeout=0.5) as engine:
        endpoint = await SipEndpoint.create()
        webhooks = WebhookSender()
        service = SiprecService(
            SessionContext(endpoint, engine, "127.0.0.1"),
            ConnectorRegistry(),
            webhooks,
            lambda account: "token",
        )
        manager = CallManager(
            endpoint,
            engine,
            service,
            [Route("*", ACCOUNT_SID, twiml='<Response><Pause length="30"/></Response>')],
            lambda account: "token",
        )
        await manager.start()
        caller = await SipEndpoint.create()
        media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        media.bind(("127.0.0.1", 0))
        try:
            local = endpoint.transports.local_address("udp")
            assert local is not None
            result = await caller.invite(
                parse_uri(f"sip:+15550002@127.0.0.1:{local.port}"),
                from_=CALLER,
                to=parse_name_addr("<sip:+15550002@127.0.0.1>"),
                body=offer(media.getsockname()[1]),
                content_type="application/sdp",
            )
            assert result.dialog is not None
            rtp = bytes([0x80, 0, 0, 1]) + bytes(8) + bytes(160)
            media.sendto(rtp, manager.active_calls()[0].caller.media.local_address)
            await asyncio.wait_for(result.dialog.terminated.wait(), 5)  # our BYE
            [call] = manager.calls()
            assert call.status is CallStatus.COMPLETED and call.end_reason == "media timeout"
        finally:
            media.close()
            await manager.close()
            await service.close()
            await webhooks.close()
            await caller.close()
            await endpoint.close()


async def test_dial_caller_id_and_a_callee_answering_another_codec(rig: Rig, phone: Phone) -> None:
    callee = await SipEndpoint.create()
    invites: list[str] = []

    async def answer(transaction: ServerTransaction) -> None:
        invites.append(transaction.request.headers.get("From") or "")
        sdp = offer(40000, "8").replace(b"o=alice", b"o=callee")  # PCMA: not what we offered
        dialog = await transaction.accept(body=sdp, content_type="application/sdp")
        await asyncio.wait_for(dialog.terminated.wait(), 5)

    callee.on_request = answer
    try:
        local = callee.transports.local_address("udp")
        assert local is not None
        manager = await rig.serve_twiml(
            '<Response><Dial callerId="+15557777">'
            f"<Sip>sip:bob@127.0.0.1:{local.port}</Sip></Dial></Response>"
        )
        result = await phone.call()
        assert result.dialog is not None
        await asyncio.wait_for(result.dialog.terminated.wait(), 5)  # Dial failed, doc ran out
    finally:
        await callee.close()
    assert len(invites) == 1 and "<sip:+15557777@127.0.0.1>" in invites[0]
    [(_, error)] = rig.errors
    assert "callee answered PCMA/8, not PCMU/0" in str(error)
    assert manager.calls()[0].status is CallStatus.COMPLETED
    assert rig.engine.stats().legs == 0


async def test_rest_redirect_of_a_live_call(rig: Rig, phone: Phone, webapp: WebApp) -> None:
    webapp.documents["/next"] = '<Response><Pause length="30"/></Response>'
    manager = await rig.serve_twiml('<Response><Pause length="30"/></Response>')
    result = await phone.call()
    assert result.dialog is not None
    sid = manager.active_calls()[0].sid
    await manager.redirect(sid, ControlRedirect(url=webapp.url("/next")))  # Url=
    await until(lambda: bool(webapp.requests))
    [(path, form, valid)] = webapp.requests
    assert path == "/next"
    assert valid and form["CallSid"] == sid and form["CallStatus"] == "in-progress"
    await manager.redirect(
        sid, ControlRedirect(twiml=parse_twiml("<Response><Hangup/></Response>"))
    )
    await asyncio.wait_for(result.dialog.terminated.wait(), 5)
    assert manager.get(sid).status is CallStatus.COMPLETED
    with pytest.raises(TwilioError) as refused:
        await manager.redirect(sid, ControlRedirect(url=webapp.url("/next")))
    assert refused.value.code == 21220
    with pytest.raises(TwilioError) as unknown:
        await manager.redirect("CA" + "f" * 32, ControlRedirect(url=webapp.url("/next")))
    assert unknown.value.code == 20404


async def test_early_media_from_a_183_reaches_the_caller(rig: Rig, phone: Phone) -> None:
    """Ringback in a 183 with SDP: strict latching takes the callee's media from the address
    the 183 signals, so the caller hears it before the callee answers."""
    from src_client.callgen import RtpPeer, speech_like

    ringback = RtpPeer()
    callee_endpoint = await SipEndpoint.create()
    answer = asyncio.Event()

    async def on_request(transaction: ServerTransaction) -> None:
        if transaction.request.method != "INVITE":
            await transaction.respond(200)
            return
        ringback.learn_remote(transaction.request.body)
        await transaction.respond(183, body=ringback.sdp(), content_type="application/sdp")
        await ringback.talk(speech_like(0.4))
        await answer.wait()
        await transaction.accept(body=ringback.sdp(), content_type="application/sdp")

    callee_endpoint.on_request = on_request
    port = callee_endpoint.transports.local_address("udp").port  # type: ignore[union-attr]
    try:
        await rig.serve_twiml(f"<Response><Dial><Sip>sip:b@127.0.0.1:{port}</Sip></Dial>"
                              "</Response>")
        result = await phone.call()  # the B2BUA answers the caller, then runs <Dial>
        assert result.response.status == 200 and result.dialog is not None
        early = await phone.receive_audio(10)  # 200 ms of the ringback, before the answer
        assert len(early) == 1600 and not answer.is_set()
        answer.set()
        await result.dialog.bye()
    finally:
        answer.set()
        ringback.close()
        await callee_endpoint.close()
