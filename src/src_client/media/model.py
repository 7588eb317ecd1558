"""Value types of the media engine's Python face: SRTP parameters, counters, events."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["first_packet", "media_timeout", "ssrc_change", "player_done"]
Direction = Literal["inbound", "outbound"]
#: which sources a leg accepts; see :class:`~src_client.media.engine.Engine`
Latching = Literal["strict", "learn", "off"]
#: why latching refused a packet, in the engine's order: no SDP address known yet, another
#: IP than the signalled (or latched) one, the right IP but not the latched port, a new
#: source still on probation ("learn")
RefusedReason = Literal["unsignalled", "foreign_address", "foreign_port", "probation"]

#: SDES crypto-suite names (RFC 4568 §6.2, RFC 7714 §14.2) -> (master key, master salt) lengths
SRTP_SUITES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (16, 14),
    "AES_CM_128_HMAC_SHA1_32": (16, 14),
    "AEAD_AES_128_GCM": (16, 12),
}


@dataclass(frozen=True, slots=True)
class SrtpParams:
    """One direction's SDES keying: suite plus master key and salt (never shown in reprs)."""

    suite: str
    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)

    def __post_init__(self) -> None:
        lengths = SRTP_SUITES.get(self.suite)
        if lengths is None:
            raise ValueError(f"unsupported SRTP crypto suite {self.suite!r}")
        if (len(self.key), len(self.salt)) != lengths:
            key_len, salt_len = lengths
            raise ValueError(f"{self.suite} needs a {key_len}-byte key and {salt_len}-byte salt")

    @classmethod
    def from_inline(cls, suite: str, key_salt_b64: str) -> SrtpParams:
        """Builds the parameters from an SDES ``inline:`` value (RFC 4568 §6.1: base64 of
        key || salt; any ``|lifetime|MKI`` suffix is ignored: the engine uses one master key)."""
        lengths = SRTP_SUITES.get(suite)
        if lengths is None:
            raise ValueError(f"unsupported SRTP crypto suite {suite!r}")
        try:
            raw = base64.b64decode(key_salt_b64.split("|", 1)[0], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("SDES inline key is not valid base64") from None
        if len(raw) != sum(lengths):
            raise ValueError(f"{suite} inline key must decode to {sum(lengths)} bytes")
        return cls(suite, raw[: lengths[0]], raw[lengths[0] :])


@dataclass(frozen=True, slots=True)
class LegStats:
    """Counters of one leg; times are ``time.monotonic()`` seconds."""

    packets_in: int
    bytes_in: int
    rtcp_in: int
    packets_out: int
    bytes_out: int
    rtcp_out: int
    malformed: int  # not RTP/RTCP: short, version != 2, bad CSRC/extension/padding lengths
    foreign_source: int  # refused by latching (any reason): not from an accepted source
    no_remote: int  # had to be dropped because the remote address is not known yet
    last_packet_time: float | None
    ssrc: int | None
    remote: tuple[str, int] | None  # where RTP is sent: from SDP, or the latched source
    latched: bool


@dataclass(frozen=True, slots=True)
class ForkStats:
    """Counters of one fork; ``dtmf_dropped`` counts RFC 4733 packets not forwarded and
    ``inband_dtmf_frames`` the G.711 frames replaced by silence."""

    packets_out: int
    bytes_out: int
    dtmf_dropped: int
    inband_dtmf_frames: int
    srtp_errors: int
    rtcp_out: int
    rtcp_in: int
    malformed: int
    last_packet_time: float | None
    paused: bool


@dataclass(frozen=True, slots=True)
class EngineStats:
    legs: int
    forks: int
    tx_dropped: int  # datagrams the kernel refused (full socket buffer, unreachable)
    events_dropped: int  # events lost because nobody drained the queue
    workers: int
    refused: dict[RefusedReason, int]  # packets refused by latching, since the engine started


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """Something Python should react to; ``time`` is ``time.monotonic()`` seconds.

    ``ssrc`` is the new SSRC for ``first_packet``/``ssrc_change`` (``old_ssrc`` the previous
    one), the player's SSRC for ``player_done``.
    """

    kind: EventKind
    leg_id: int
    fork_id: int | None
    player_id: int | None
    ssrc: int
    old_ssrc: int
    time: float
