"""One recorded label of the bundled SRS: RTP in, statistics and linear PCM out.

This is a test instrument, not the hot path: it parses every packet in Python so that it can
be strict about what an SRC sends (RTP version, SSRC changes, sequence gaps, telephone-event
packets that should never reach a recorder) and place each payload at the sample position its
timestamp says, which makes "the WAV matches the sent audio sample for sample" checkable.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_client.audio import g711

_RTP_HEADER = struct.Struct("!BBHII")
_MAX_SAMPLES = 8000 * 3600 * 4  # four hours of 8 kHz audio: refuse to grow past this


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(packet: bytes) -> RtpPacket | None:
    """Return the parsed packet, or None when it is not a well-formed RTP packet (RFC 3550 §5.1)."""
    if len(packet) < 12:
        return None
    first, second, sequence, timestamp, ssrc = _RTP_HEADER.unpack_from(packet)
    if first >> 6 != 2:
        return None
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    end = len(packet)
    if first & 0x20:
        if end == 0 or packet[-1] == 0 or packet[-1] > end - offset:
            return None
        end -= packet[-1]
    if offset > end:
        return None
    payload = packet[offset:end]
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, payload)


def is_rtcp(packet: bytes) -> bool:
    """RFC 5761 §4: payload types 64-95 (with the marker bit) are RTCP on a muxed port."""
    return len(packet) >= 8 and packet[0] >> 6 == 2 and 192 <= packet[1] <= 223


@dataclass(slots=True)
class TrackStats:
    """Per-label figures written to summary.json."""

    label: str
    ssrc: int | None = None
    ssrc_changes: int = 0
    packets: int = 0
    octets: int = 0
    expected: int = 0
    sequence_errors: int = 0
    duplicates: int = 0
    malformed: int = 0
    decrypt_errors: int = 0
    unexpected_payload_types: dict[int, int] = field(default_factory=dict)
    rtcp_packets: int = 0
    rtcp_sender_reports: int = 0
    rtcp_byes: int = 0
    first_arrival: float | None = None
    last_arrival: float | None = None

    @property
    def lost(self) -> int:
        return max(self.expected - self.packets + self.duplicates, 0)

    def as_dict(self, sample_rate: int, samples: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "ssrc": self.ssrc,
            "ssrc_changes": self.ssrc_changes,
            "packets": self.packets,
            "octets": self.octets,
            "lost": self.lost,
            "sequence_errors": self.sequence_errors,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "decrypt_errors": self.decrypt_errors,
            "unexpected_payload_types": {
                str(pt): count for pt, count in self.unexpected_payload_types.items()
            },
            "rtcp_packets": self.rtcp_packets,
            "rtcp_sender_reports": self.rtcp_sender_reports,
            "rtcp_byes": self.rtcp_byes,
            "duration_s": round(samples / sample_rate, 3),
        }


class TrackRecorder:
    """Accumulates one label's audio; `codecs` maps the answered payload types to codec names."""

    def __init__(
        self,
        label: str,
        codecs: dict[int, str],
        *,
        unprotect_rtp: Callable[[bytes], bytes] | None = None,
        unprotect_rtcp: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.stats = TrackStats(label)
        self._codecs = codecs
        self._unprotect_rtp = unprotect_rtp
        self._unprotect_rtcp = unprotect_rtcp
        self._chunks: list[tuple[int, np.ndarray[Any, np.dtype[np.int16]]]] = []
        self._base_timestamp: int | None = None
        self._last_sequence: int | None = None
        self._seen_sequences: set[int] = set()
        self._cycles = 0

    def receive(self, packet: bytes) -> None:
        """Feed one datagram (RTP or, with rtcp-mux, RTCP)."""
        if is_rtcp(packet):
            self.receive_rtcp(packet)
            return
        if self._unprotect_rtp is not None:
            try:
                packet = self._unprotect_rtp(packet)
            except ValueError:
                self.stats.decrypt_errors += 1
                return
        rtp = parse_rtp(packet)
        if rtp is None:
            self.stats.malformed += 1
            return
        self._account(rtp, len(packet))

    def receive_rtcp(self, packet: bytes) -> None:
        if self._unprotect_rtcp is not None:
            try:
                packet = self._unprotect_rtcp(packet)
            except ValueError:
                self.stats.decrypt_errors += 1
                return
        self.stats.rtcp_packets += 1
        offset = 0
        while offset + 4 <= len(packet):  # walk the compound packet (RFC 3550 §6.1)
            packet_type = packet[offset + 1]
            if packet_type == 200:
                self.stats.rtcp_sender_reports += 1
            elif packet_type == 203:
                self.stats.rtcp_byes += 1
            offset += 4 * (struct.unpack_from("!H", packet, offset + 2)[0] + 1)

    def _account(self, rtp: RtpPacket, size: int) -> None:
        stats = self.stats
        now = time.monotonic()
        if stats.first_arrival is None:
            stats.first_arrival = now
        stats.last_arrival = now
        if stats.ssrc is None:
            stats.ssrc = rtp.ssrc
        elif rtp.ssrc != stats.ssrc:
            stats.ssrc_changes += 1
            stats.ssrc = rtp.ssrc
        stats.packets += 1
        stats.octets += size
        self._track_sequence(rtp.sequence)
        codec = self._codecs.get(rtp.payload_type)
        if codec not in ("PCMU", "PCMA"):
            stats.unexpected_payload_types[rtp.payload_type] = (
                stats.unexpected_payload_types.get(rtp.payload_type, 0) + 1
            )
            return
        if self._base_timestamp is None:
            self._base_timestamp = rtp.timestamp
        offset = (rtp.timestamp - self._base_timestamp) & 0xFFFFFFFF
        if offset >= 0x80000000 or offset + len(rtp.payload) > _MAX_SAMPLES:
            return  # before the first packet (reordered) or absurdly far: not placeable
        pcm = g711.decode(rtp.payload, g711.PCMU if codec == "PCMU" else g711.PCMA)
        self._chunks.append((offset, pcm))

    def _track_sequence(self, sequence: int) -> None:
        stats = self.stats
        if self._last_sequence is None:
            stats.expected = 1
        else:
            delta = (sequence - self._last_sequence) & 0xFFFF
            if delta == 0 or delta >= 0x8000:
                stats.duplicates += (sequence + (self._cycles << 16)) in self._seen_sequences
                stats.sequence_errors += 1
                return
            if delta != 1:
                stats.sequence_errors += 1
            if sequence < self._last_sequence:
                self._cycles += 1
            stats.expected += delta
        self._last_sequence = sequence
        self._seen_sequences.add(sequence + (self._cycles << 16))

    def pcm(self) -> np.ndarray[Any, np.dtype[np.int16]]:
        """The label's audio as 16-bit PCM at 8 kHz, silence where packets were missing."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        length = max(offset + len(chunk) for offset, chunk in self._chunks)
        audio = np.zeros(length, dtype=np.int16)
        for offset, chunk in self._chunks:
            audio[offset : offset + len(chunk)] = chunk
        return audio
