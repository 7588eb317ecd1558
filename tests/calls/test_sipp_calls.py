"""End to end with real peers: SIPp caller -> B2BUA (this package) -> SIPp callee, recorded by
the bundled SRS through SiprecService, both parties sending known G.711 audio from pcaps."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import wave
from pathlib import Path

import numpy as np
from calls_rig import ACCOUNT_SID, Rig, WebApp, requires_sipp, scenario, until
from rtp_pcap import FRAME, Stream, write_pcap
from twilio.twiml.voice_response import Dial as VoiceDial
from twilio.twiml.voice_response import Start, VoiceResponse

from src_client.audio import g711
from src_client.calls import CallStatus, Route
from src_client.errors import TwilioError
from src_client.sipp import SippRun
from src_client.siprec.resource import SiprecStatus
from src_client.srs.recording import Recording

pytestmark = requires_sipp


def _record_twiml(callee_port: int, extra: str = "") -> str:
    return (
        '<Response><Start><Siprec connectorName="srs1" track="both_tracks"/></Start>'
        f"{extra}<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>"
    )


def _wav(recording: Recording, label: str) -> np.ndarray:
    with wave.open(str(recording.folder / f"label-{label}.wav")) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def _assert_recorded(recorded: np.ndarray, sent: Stream) -> None:
    """The label holds the party's audio sample for sample: a run of whole frames of what it
    sent (the fork starts while the party may already talk), nearly all of it."""
    expected = g711.decode(sent.audio, g711.PCMU)
    assert len(recorded) >= 0.8 * len(expected), (len(recorded), len(expected))
    starts = [
        offset
        for offset in range(0, len(expected) - len(recorded) + 1, FRAME)
        if np.array_equal(recorded[:FRAME], expected[offset : offset + FRAME])
    ]
    assert any(
        np.array_equal(recorded, expected[offset : offset + len(recorded)]) for offset in starts
    )


async def test_recorded_call_with_media_dtmf_hold_and_caller_bye(rig: Rig, tmp_path: Path) -> None:
    caller_audio = write_pcap(tmp_path / "caller.pcap", seconds=2.0, seed=1, dtmf_every=10)
    callee_audio = write_pcap(tmp_path / "callee.pcap", seconds=2.0, seed=2)
    async with SippRun(scenario(tmp_path, "call_uas_media.xml"), timeout=20) as callee:
        manager = await rig.serve_twiml(_record_twiml(callee.port))
        async with SippRun(
            scenario(tmp_path, "call_uac_media.xml"), remote=rig.address, timeout=20
        ) as caller:
            await until(lambda: len(manager.active_calls()) == 1)
            call = rig.only_call()
            await until(lambda: call.on_hold)
            assert call.status is CallStatus.IN_PROGRESS and call.callee is not None
            caller_leg, callee_leg = call.caller.media.stats(), call.callee.media.stats()
            caller_result = await caller.wait()
        callee_result = await callee.wait()

    assert caller_result.returncode == 0 and caller_result.successful == 1, caller_result.summary()
    assert callee_result.returncode == 0 and callee_result.successful == 1, callee_result.summary()
    # media both ways through the anchored legs; every RFC 4733 packet went on to the callee
    sent_by_caller = caller_audio.audio_packets + caller_audio.dtmf_packets
    assert caller_leg.packets_in == sent_by_caller
    assert callee_leg.packets_out == sent_by_caller
    # what the callee sent before the B2BUA handled its 200 OK (no SDP address yet) is
    # refused by strict latching, and counted
    assert callee_leg.packets_in + callee_leg.foreign_source == callee_audio.audio_packets
    assert caller_leg.packets_out == callee_leg.packets_in

    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    summary = json.loads((recording.folder / "summary.json").read_text())
    for label in ("1", "2"):
        stats = summary["labels"][label]
        assert stats["unexpected_payload_types"] == {}  # no DTMF reached the recorder
        assert stats["sequence_errors"] == 0 and stats["lost"] == 0
    assert summary["violations"] == []
    _assert_recorded(_wav(recording, "1"), caller_audio)  # inbound: what the caller said
    _assert_recorded(_wav(recording, "2"), callee_audio)  # outbound: what the caller heard
    # hold and resume each reached the SRS as a metadata re-INVITE
    assert len(recording.metadata) == 3
    assert b"<datamode>partial</datamode>" in recording.metadata[1]
    assert recording.sip["end_reason"] == "SRC sent BYE"

    finished = manager.get(call.sid)
    assert finished.status is CallStatus.COMPLETED and not manager.active_calls()
    assert all(r.status is SiprecStatus.STOPPED for r in rig.siprecs(call.sid))
    assert rig.engine.stats().legs == 0 and rig.engine.stats().forks == 0
    assert rig.errors == []


async def _aim_rtp(target: tuple[str, int], stop: asyncio.Event) -> int:
    """A third party on another IP sending RTP at a leg every 5 ms (at most 10 s): what a
    scanner does once it found a media port. Returns the packets sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.66", 0))
        sent = 0
        while not stop.is_set() and sent < 2000:
            sock.sendto(struct.pack("!BBHII", 0x80, 0, sent, sent * 160, 0x666) + b"\x80" * 160,
                        target)  # fmt: skip
            sent += 1
            await asyncio.sleep(0.005)
        return sent


async def test_a_third_partys_rtp_after_the_answer_is_neither_heard_nor_recorded(
    rig: Rig, tmp_path: Path
) -> None:
    """The RTP hijack of old: a third party aiming at the caller's leg from the answer on,
    before the caller speaks and while it does (and across its hold re-INVITEs, which make
    the leg learn its source again), used to be latched, relayed and recorded while the
    caller was muted. With strict latching only the caller's signalled IP gets through."""
    caller_audio = write_pcap(tmp_path / "caller.pcap", seconds=1.0, seed=5)
    callee_audio = write_pcap(tmp_path / "callee.pcap", seconds=1.0, seed=6)
    stop = asyncio.Event()
    async with SippRun(scenario(tmp_path, "call_uas_media.xml"), timeout=20) as callee:
        manager = await rig.serve_twiml(_record_twiml(callee.port))
        async with SippRun(
            scenario(tmp_path, "call_uac_media.xml"), remote=rig.address, timeout=20
        ) as caller:
            await until(lambda: len(manager.active_calls()) == 1)
            call = rig.only_call()
            third_party = asyncio.create_task(_aim_rtp(call.caller.media.local_address, stop))
            caller_result = await caller.wait()
            stop.set()
            sprayed = await third_party
        callee_result = await callee.wait()
    assert caller_result.successful == 1 and callee_result.successful == 1
    caller_leg, callee_leg = manager.get(call.sid).media_stats["caller"], call.media_stats["callee"]
    sent_by_caller = caller_audio.audio_packets + caller_audio.dtmf_packets
    assert caller_leg.packets_in == sent_by_caller  # the caller was never muted
    assert callee_leg.packets_out == sent_by_caller  # the callee heard the caller, only
    assert 0 < caller_leg.foreign_source <= sprayed
    assert callee_leg.packets_in + callee_leg.foreign_source == callee_audio.audio_packets
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    _assert_recorded(_wav(recording, "1"), caller_audio)  # what the caller said, nothing else
    _assert_recorded(_wav(recording, "2"), callee_audio)
    assert rig.engine.stats().refused["foreign_address"] == caller_leg.foreign_source


async def test_callee_bye_ends_both_legs_and_the_recording(rig: Rig, tmp_path: Path) -> None:
    write_pcap(tmp_path / "caller.pcap", seconds=0.6, seed=3)
    write_pcap(tmp_path / "callee.pcap", seconds=0.6, seed=4)
    async with SippRun(
        scenario(tmp_path, "call_uas_hangup.xml"), timeout=15, extra=["-d", "800"]
    ) as callee:
        manager = await rig.serve_twiml(_record_twiml(callee.port))
        async with SippRun(
            scenario(tmp_path, "call_uac_wait_bye.xml"), remote=rig.address, timeout=15
        ) as caller:
            await until(lambda: len(manager.active_calls()) == 1)
            sid = rig.only_call().sid
            caller_result = await caller.wait()
        callee_result = await callee.wait()
    assert caller_result.successful == 1, caller_result.summary()  # it got our BYE
    assert callee_result.successful == 1, callee_result.summary()
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    assert recording.sip["end_reason"] == "SRC sent BYE"
    call = manager.get(sid)
    assert call.status is CallStatus.COMPLETED and call.end_reason == "hung up by TwiML"
    assert [r.status for r in rig.siprecs(sid)] == [SiprecStatus.STOPPED]
    assert rig.engine.stats().legs == 0


async def test_stop_siprec_stops_only_the_named_one_and_a_fifth_fork_is_refused(
    rig: Rig, tmp_path: Path
) -> None:
    write_pcap(tmp_path / "caller.pcap", seconds=0.6, seed=5)
    write_pcap(tmp_path / "callee.pcap", seconds=0.6, seed=6)
    twiml = (
        "<Response><Start>"
        '<Siprec name="a" connectorName="srs1" track="both_tracks"/>'
        '<Siprec name="b" connectorName="srs1" track="both_tracks"/>'
        '<Siprec name="c" connectorName="srs1" track="inbound_track"/>'
        '</Start><Pause length="1"/><Stop><Siprec name="a"/></Stop>'
        "<Dial><Sip>sip:callee@127.0.0.1:{port}</Sip></Dial></Response>"
    )
    async with SippRun(
        scenario(tmp_path, "call_uas_hangup.xml"), timeout=15, extra=["-d", "500"]
    ) as callee:
        manager = await rig.serve_twiml(twiml.format(port=callee.port))
        async with SippRun(
            scenario(tmp_path, "call_uac_wait_bye.xml"), remote=rig.address, timeout=15
        ) as caller:
            await until(lambda: len(manager.active_calls()) == 1)
            call = rig.only_call()
            await until(lambda: call.callee is not None)  # <Stop> ran, <Dial> bridged
            statuses = {r.name: r.status for r in rig.service.list(call.sid)}
            stopped_first = await asyncio.wait_for(rig.srs.finished.get(), 5)
            caller_result = await caller.wait()
        callee_result = await callee.wait()
    assert caller_result.successful == 1 and callee_result.successful == 1
    # the 5th forked stream was refused with a clear error; the call went on regardless
    assert statuses == {"a": SiprecStatus.STOPPED, "b": SiprecStatus.IN_PROGRESS}
    [(sid, error)] = rig.errors
    assert sid == call.sid and isinstance(error, TwilioError) and error.code == 31960
    assert "already forks 4 stream(s)" in error.message
    assert stopped_first.sip["end_reason"] == "SRC sent BYE"
    stopped_last = await asyncio.wait_for(rig.srs.finished.get(), 5)
    assert stopped_first.call_id != stopped_last.call_id
    assert manager.get(call.sid).status is CallStatus.COMPLETED


async def test_webhook_twiml_from_voice_response_with_signed_requests(
    rig: Rig, webapp: WebApp, tmp_path: Path
) -> None:
    write_pcap(tmp_path / "caller.pcap", seconds=0.4, seed=7)
    write_pcap(tmp_path / "callee.pcap", seconds=0.4, seed=8)
    async with SippRun(
        scenario(tmp_path, "call_uas_hangup.xml"), timeout=15, extra=["-d", "200"]
    ) as callee:
        response = VoiceResponse()
        start = Start()
        start.siprec(name="rec", connector_name="srs1", track="both_tracks")
        response.append(start)
        dial = VoiceDial(action=webapp.url("/after-dial"))
        dial.sip(f"sip:callee@127.0.0.1:{callee.port}")
        response.append(dial)
        webapp.documents["/voice"] = str(response)
        after_dial = VoiceResponse()
        after_dial.hangup()
        webapp.documents["/after-dial"] = str(after_dial)
        route = Route("+15550002", ACCOUNT_SID, voice_url=webapp.url("/voice"))
        manager = await rig.serve([route])
        async with SippRun(
            scenario(tmp_path, "call_uac_wait_bye.xml"),
            remote=rig.address,
            timeout=15,
            extra=["-s", "+15550002"],
        ) as caller:
            caller_result = await caller.wait()
        callee_result = await callee.wait()
    assert caller_result.successful == 1, caller_result.summary()
    assert callee_result.successful == 1, callee_result.summary()
    assert [valid for _, _, valid in webapp.requests] == [True, True]
    [voice] = webapp.params("/voice")
    assert voice["CallStatus"] == "ringing" and voice["Direction"] == "inbound"
    assert voice["From"] == "+15550001" and voice["To"] == "+15550002"
    assert voice["AccountSid"] == ACCOUNT_SID and voice["ApiVersion"] == "2010-04-01"
    [after] = webapp.params("/after-dial")
    assert after["CallSid"] == voice["CallSid"] and after["CallStatus"] == "in-progress"
    assert after["DialCallStatus"] == "completed" and after["DialCallSid"].startswith("CA")
    assert manager.get(voice["CallSid"]).status is CallStatus.COMPLETED
    recording = await asyncio.wait_for(rig.srs.finished.get(), 5)
    assert set(recording.streams) == {"1", "2"}


async def test_cancel_before_answer(rig: Rig, webapp: WebApp) -> None:
    webapp.documents["/voice"] = "<Response><Pause/></Response>"
    webapp.delays["/voice"] = 3.0  # a slow application: the caller gives up first
    manager = await rig.serve([Route("*", ACCOUNT_SID, voice_url=webapp.url("/voice"))])
    async with SippRun("uac_cancel.xml", remote=rig.address, timeout=10) as caller:
        result = await caller.wait()
    assert result.successful == 1, result.summary()  # 200 to CANCEL, 487 to the INVITE
    await until(lambda: not manager.active_calls())
    [call] = manager.calls()
    assert call.status is CallStatus.CANCELED and call.caller.dialog is None
    assert manager.counters.statuses == {"canceled": 1}
    assert rig.engine.stats().legs == 0


async def test_dial_timeout_cancels_the_callee_and_reports_no_answer(
    rig: Rig, webapp: WebApp, tmp_path: Path
) -> None:
    write_pcap(tmp_path / "caller.pcap", seconds=0.2, seed=9)
    webapp.documents["/after-dial"] = "<Response><Hangup/></Response>"
    async with SippRun("call_uas_ringing.xml", timeout=10) as callee:
        twiml = (
            f'<Response><Dial timeout="1" action="{webapp.url("/after-dial")}">'
            f"<Sip>sip:callee@127.0.0.1:{callee.port}</Sip></Dial></Response>"
        )
        manager = await rig.serve_twiml(twiml)
        async with SippRun(
            scenario(tmp_path, "call_uac_wait_bye.xml"), remote=rig.address, timeout=10
        ) as caller:
            caller_result = await caller.wait()
        callee_result = await callee.wait()
    assert callee_result.successful == 1, callee_result.summary()  # CANCEL, 487, ACK
    assert caller_result.successful == 1, caller_result.summary()
    [after] = webapp.params("/after-dial")
    assert after["DialCallStatus"] == "no-answer" and "DialCallSid" not in after
    assert manager.get(after["CallSid"]).status is CallStatus.COMPLETED
