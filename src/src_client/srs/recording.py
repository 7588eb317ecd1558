"""One recording on the bundled SRS: media sockets per label, and the folder it leaves.

A finished recording is a folder named after the SIP Call-ID of the recording session:
``metadata.xml`` (the initial metadata; later updates as ``metadata-N.xml``), one
``label-<label>.wav`` per stream (16-bit PCM, 8 kHz) and ``summary.json`` (per-label
statistics and every protocol violation the SRS noticed).
"""

from __future__ import annotations

import asyncio
import json
import re
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src_client import _engine
from src_client.sdes import CryptoAttribute
from src_client.srs.checks import Violation
from src_client.srs.track import TrackRecorder

SAMPLE_RATE = 8000


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, recorder: TrackRecorder, rtcp: bool) -> None:
        self._recorder = recorder
        self._rtcp = rtcp

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self._rtcp:
            self._recorder.receive_rtcp(data)
        else:
            self._recorder.receive(data)


@dataclass(slots=True)
class LabelStream:
    label: str
    recorder: TrackRecorder
    rtp_port: int
    rtcp_port: int
    transports: list[asyncio.BaseTransport] = field(default_factory=list)


def _unprotectors(crypto: CryptoAttribute | None) -> tuple[Any, Any]:
    if crypto is None:
        return None, None
    context = _engine.SrtpContext(crypto.suite, crypto.master_key, crypto.master_salt)
    return context.unprotect_rtp, context.unprotect_rtcp


async def open_stream(
    label: str, codecs: dict[int, str], address: str, crypto: CryptoAttribute | None
) -> LabelStream:
    """Bind an even RTP port and the odd one above it for one label."""
    unprotect_rtp, unprotect_rtcp = _unprotectors(crypto)
    recorder = TrackRecorder(
        label, codecs, unprotect_rtp=unprotect_rtp, unprotect_rtcp=unprotect_rtcp
    )
    loop = asyncio.get_running_loop()
    for _ in range(50):
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(recorder, False), local_addr=(address, 0)
        )
        port = rtp.get_extra_info("sockname")[1]
        if port % 2 == 0 and port < 65535:
            try:
                rtcp, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(recorder, True), local_addr=(address, port + 1)
                )
            except OSError:
                rtp.close()
                continue
            return LabelStream(label, recorder, port, port + 1, [rtp, rtcp])
        rtp.close()
    raise OSError("no free RTP/RTCP port pair")


@dataclass(slots=True)
class Recording:
    """The state of one recording session on the SRS."""

    call_id: str
    folder: Path
    streams: dict[str, LabelStream] = field(default_factory=dict)
    metadata: list[bytes] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    sip: dict[str, Any] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def close_media(self) -> None:
        for stream in self.streams.values():
            for transport in stream.transports:
                transport.close()

    def write(self) -> Path:
        """Write the folder; called once, when the session ends."""
        self.close_media()
        self.folder.mkdir(parents=True, exist_ok=True)
        for index, xml in enumerate(self.metadata):
            name = "metadata.xml" if index == 0 else f"metadata-{index}.xml"
            (self.folder / name).write_bytes(xml)
        labels: dict[str, Any] = {}
        for label, stream in self.streams.items():
            pcm = stream.recorder.pcm()
            with wave.open(str(self.folder / f"label-{label}.wav"), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(SAMPLE_RATE)
                wav.writeframes(pcm.astype("<i2").tobytes())
            labels[label] = stream.recorder.stats.as_dict(SAMPLE_RATE, len(pcm))
        summary = {
            "call_id": self.call_id,
            "labels": labels,
            "violations": [str(v) for v in self.violations],
            "sip": self.sip,
        }
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.finished.set()
        return self.folder


def folder_name(call_id: str) -> str:
    """A Call-ID made safe as a directory name (it is chosen by the remote SRC)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:120] or "recording"
