"""A small call generator: a caller that talks (speech-like audio and DTMF) and a callee.

`make run` uses it to put a real call through the daemon; users can point it at any SIP
peer to see audio arrive. Media here is Python on purpose (50 packets per second per
party): it is a test peer, not the product's packet path.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from src_client.audio import g711
from src_client.sdp import (
    Codec,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    parse_sdp,
)
from src_client.sip.endpoint import Dialog, ServerTransaction, SipEndpoint
from src_client.sip.uri import NameAddr, SipUri

FRAME = 160  # 20 ms at 8 kHz
TELEPHONE_EVENT = 101
DTMF_ROWS = {
    "1": 697,
    "2": 697,
    "3": 697,
    "A": 697,
    "4": 770,
    "5": 770,
    "6": 770,
    "B": 770,
    "7": 852,
    "8": 852,
    "9": 852,
    "C": 852,
    "*": 941,
    "0": 941,
    "#": 941,
    "D": 941,
}
DTMF_COLUMNS = {
    "1": 1209,
    "4": 1209,
    "7": 1209,
    "*": 1209,
    "2": 1336,
    "5": 1336,
    "8": 1336,
    "0": 1336,
    "3": 1477,
    "6": 1477,
    "9": 1477,
    "#": 1477,
    "A": 1633,
    "B": 1633,
    "C": 1633,
    "D": 1633,
}
EVENT_CODES = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
}


def speech_like(seconds: float, *, seed: int = 0, pitch: float = 120.0) -> npt.NDArray[np.int16]:
    """Voiced syllables with a wandering pitch and formant-shaped harmonics, and pauses."""
    rng = np.random.default_rng(seed)
    n = int(8000 * seconds)
    t = np.arange(n) / 8000
    f0 = pitch * (1 + 0.15 * np.sin(2 * np.pi * 0.5 * t) + 0.05 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(f0) / 8000
    formants = rng.uniform([500, 1200, 2400], [800, 1800, 2900])
    voice = np.zeros(n)
    for k in range(1, 25):
        harmonic = k * f0
        gain = sum(1 / (1 + ((harmonic - f) / 120) ** 2) for f in formants) / k**0.5
        voice += gain * np.sin(k * phase)
    syllables = (np.sin(2 * np.pi * 3.5 * t) > -0.3).astype(float)
    envelope = np.convolve(syllables, np.ones(200) / 200, mode="same")
    signal = voice * envelope
    signal *= 9000 / max(np.max(np.abs(signal)), 1e-9)
    return signal.astype(np.int16)


def dtmf_tone(digit: str, seconds: float = 0.08, level: float = 6000) -> npt.NDArray[np.int16]:
    t = np.arange(int(8000 * seconds)) / 8000
    tone = np.sin(2 * np.pi * DTMF_ROWS[digit] * t) + np.sin(2 * np.pi * DTMF_COLUMNS[digit] * t)
    return (tone * level / 2).astype(np.int16)


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """An RFC 4733 digit starting ``at`` seconds into the audio, replacing audio packets."""

    digit: str
    at: float
    duration: float = 0.1


@dataclass(slots=True)
class MediaCounters:
    sent: int = 0
    events_sent: int = 0
    received: int = 0
    events_received: int = 0
    payloads: list[bytes] = field(default_factory=list)


class RtpPeer:
    """One party's RTP socket: sends G.711 at real-time pace, records what it receives."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sock.bind((address, 0))
        self.sock.setblocking(False)
        self.address = address
        self.port: int = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.counters = MediaCounters()
        self._ssrc = secrets.randbits(32)
        self._receiver: asyncio.Task[None] | None = None

    def sdp(self, payload_type: int = g711.PCMU) -> bytes:
        family = "IP6" if ":" in self.address else "IP4"
        media = MediaDescription(
            "audio", self.port, "RTP/AVP", [str(payload_type), str(TELEPHONE_EVENT)]
        )
        media.set_codecs(
            [
                Codec(payload_type, "PCMU" if payload_type == 0 else "PCMA", 8000),
                Codec(TELEPHONE_EVENT, "telephone-event", 8000, fmtp="0-15"),
            ]
        )
        media.add_attribute("sendrecv")
        return SessionDescription(
            origin=Origin("callgen", secrets.randbelow(2**31), 1, "IN", family, self.address),
            connection=Connection("IN", family, self.address),
            media=[media],
        ).to_bytes()

    def learn_remote(self, sdp_body: bytes) -> None:
        sdp = parse_sdp(sdp_body)
        media = sdp.media[0]
        connection = sdp.media_connection(media)
        assert connection is not None, "answer without c= line"
        self.remote = (connection.host, media.port)

    def start_receiving(self) -> None:
        self._receiver = asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            packet = await loop.sock_recv(self.sock, 2048)
            if len(packet) < 12:
                continue
            if packet[1] & 0x7F == TELEPHONE_EVENT:
                self.counters.events_received += 1
            else:
                self.counters.received += 1
                self.counters.payloads.append(packet[12:])

    async def talk(
        self,
        audio: npt.NDArray[np.int16],
        *,
        payload_type: int = g711.PCMU,
        dtmf: Sequence[DtmfEvent] = (),
    ) -> None:
        """Send ``audio`` in 20 ms packets; RFC 4733 events replace audio while a digit lasts."""
        assert self.remote is not None
        encoded = g711.encode(audio, payload_type)
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq = secrets.randbits(16)
        for index in range(len(encoded) // FRAME):
            now = index * 0.02
            timestamp = index * FRAME
            event = next((e for e in dtmf if e.at <= now < e.at + e.duration), None)
            if event is None:
                header = struct.pack(
                    "!BBHII", 0x80, payload_type, seq & 0xFFFF, timestamp, self._ssrc
                )
                self.sock.sendto(header + encoded[index * FRAME : (index + 1) * FRAME], self.remote)
                self.counters.sent += 1
            else:
                first = event.at <= now < event.at + 0.02
                end = now + 0.02 >= event.at + event.duration
                start_ts = int(event.at * 8000)
                duration = timestamp - start_ts + FRAME
                payload = struct.pack(
                    "!BBH", EVENT_CODES[event.digit], (0x80 if end else 0) | 10, duration
                )
                header = struct.pack(
                    "!BBHII",
                    0x80,
                    (0x80 if first else 0) | TELEPHONE_EVENT,
                    seq & 0xFFFF,
                    start_ts,
                    self._ssrc,
                )
                self.sock.sendto(header + payload, self.remote)
                self.counters.events_sent += 1
            seq += 1
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))

    def close(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
        self.sock.close()


async def place_call(
    endpoint: SipEndpoint, target: SipUri, *, caller: NameAddr, peer: RtpPeer
) -> Dialog:
    """INVITE with our SDP; returns the dialog once answered (raises on a failure)."""
    result = await endpoint.invite(
        target, from_=caller, to=NameAddr(target), body=peer.sdp(), content_type="application/sdp"
    )
    if result.dialog is None:
        raise RuntimeError(f"call failed: {result.response.status} {result.response.reason}")
    peer.learn_remote(result.response.body)
    peer.start_receiving()
    return result.dialog


class Callee:
    """Answers every INVITE on an endpoint with its own RTP peer (one call at a time)."""

    def __init__(self, endpoint: SipEndpoint, address: str = "127.0.0.1") -> None:
        self.peer = RtpPeer(address)
        self.dialog: Dialog | None = None
        self.answered = asyncio.Event()
        endpoint.on_request = self._on_request

    async def _on_request(self, transaction: ServerTransaction) -> None:
        if transaction.request.method != "INVITE":
            await transaction.respond(200)
            return
        self.peer.learn_remote(transaction.request.body)
        self.dialog = await transaction.accept(body=self.peer.sdp(), content_type="application/sdp")
        self.peer.start_receiving()
        self.answered.set()
