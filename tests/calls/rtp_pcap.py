"""Audio for SIPp's ``play_pcap_audio``: known G.711 speech and RFC 4733 events in a pcap.

SIPp replays the UDP payloads at their capture times toward the media address of the peer's
SDP (from its own media port), so the test knows, sample for sample, what each party said.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from src_client.audio import g711
from src_client.callgen import speech_like

FRAME = 160  # 20 ms at 8 kHz
TELEPHONE_EVENT = 101


@dataclass(frozen=True)
class Stream:
    """What a pcap holds: the audio payloads in order and how many DTMF packets."""

    audio: bytes  # concatenated G.711 payloads
    audio_packets: int
    dtmf_packets: int


def write_pcap(
    path: Path,
    *,
    seconds: float,
    seed: int,
    payload_type: int = g711.PCMU,
    dtmf_every: int = 0,
    ssrc: int = 0x5EED0000,
) -> Stream:
    """One RTP stream at 20 ms pace; with ``dtmf_every`` an RFC 4733 event for digit 5 is
    sent after every n-th audio packet (same SSRC and sequence space, RFC 4733 §2.1)."""
    audio = g711.encode(speech_like(seconds, seed=seed, pitch=120 + 20 * seed), payload_type)
    frames = len(audio) // FRAME
    records = []
    seq = 1000
    dtmf = 0
    for index in range(frames):
        at = index * 0.02
        ts = index * FRAME
        payload = audio[index * FRAME : (index + 1) * FRAME]
        records.append((at, _rtp(payload_type, seq, ts, ssrc, index == 0) + payload))
        seq += 1
        if dtmf_every and index % dtmf_every == dtmf_every - 1:
            event = struct.pack("!BBH", 5, 0x80 | 10, 160)  # digit 5, end bit, volume 10
            records.append((at + 0.005, _rtp(TELEPHONE_EVENT, seq, ts, ssrc, True) + event))
            seq += 1
            dtmf += 1
    _write(path, records)
    return Stream(audio[: frames * FRAME], frames, dtmf)


def _rtp(payload_type: int, seq: int, ts: int, ssrc: int, marker: bool) -> bytes:
    return struct.pack(
        "!BBHII", 0x80, payload_type | (0x80 if marker else 0), seq & 0xFFFF, ts, ssrc
    )


def _write(path: Path, records: list[tuple[float, bytes]]) -> None:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
    for at, payload in records:
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            64,
            17,
            0,
            bytes([10, 0, 0, 1]),
            bytes([10, 0, 0, 2]),
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
        seconds = int(at)
        out += struct.pack("<IIII", seconds, round((at - seconds) * 1e6), len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
