"""End to end with real peers: SIPp caller -> B2BUA (this package) -> SIPp callee, recorded by
the bundled SRS through SiprecService, both parties sending known G.711 audio from pcaps."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np

from src_client.audio import g711
from src_client.calls import CallStatus
from src_client.siprec.resource import SiprecStatus
from src_client.sipp import SippRun
from src_client.srs.recording import Recording

from calls_rig import Rig, requires_sipp, scenario, until
from rtp_pcap import FRAME, Stream, write_pcap

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
    assert callee_leg.packets_in == callee_audio.audio_packets
    assert caller_leg.packets_out == callee_audio.audio_packets

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
    assert all(r.status is SiprecStatus.STOPPED for r in rig.service.list(call.sid))
    assert rig.engine.stats().legs == 0 and rig.engine.stats().forks == 0
    assert rig.errors == []
