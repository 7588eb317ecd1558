"""SDP offer/answer for the B2BUA's two legs (RFC 3264), sans-IO.

The engine relays RTP unchanged, so both legs must use the same payload formats with the
same payload type numbers: the caller's offer fixes them, the caller's answer names one
audio codec (plus telephone-event, RFC 4733), and the callee is offered exactly those.
PCMU and PCMA are always acceptable; G.722 and Opus are only carried when the caller offers
them and nothing on the call needs G.711 (``<Play>``): the engine never transcodes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from src_client.sdp import (
    Codec,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    parse_sdp,
)

__all__ = [
    "G711",
    "PASSTHROUGH",
    "LocalSdp",
    "MediaOffer",
    "NegotiationError",
    "answer_offer",
    "check_answer",
    "read_offer",
]

G711 = frozenset({"pcmu", "pcma"})
PASSTHROUGH = frozenset({"g722", "opus"})
_TELEPHONE_EVENT = "telephone-event"
_RTP_PROFILES = frozenset({"RTP/AVP", "RTP/AVPF"})
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})


class NegotiationError(ValueError):
    """No usable audio in an SDP; ``reason`` fits a 488 Warning (RFC 3261 §20.43, code 305)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """What the B2BUA takes from a party's SDP: where its audio goes, and how it is coded.

    ``host`` is None when the party asks for no media toward it (hold with ``c=0.0.0.0``,
    RFC 3264 §8.4, or port 0); ``direction`` is the party's own view.
    """

    sdp: SessionDescription
    index: int  # which m-line is the audio we relay
    host: str | None
    port: int
    rtcp_port: int | None
    codecs: tuple[Codec, ...]  # every audio codec offered, in the party's preference order
    dtmf: tuple[Codec, ...]  # telephone-event formats
    direction: Direction
    rtcp_mux: bool

    @property
    def on_hold(self) -> bool:
        """The party stopped sending (sendonly toward us, or inactive): RFC 3264 §8.4."""
        return self.direction in (Direction.SENDONLY, Direction.INACTIVE) or self.host is None


def read_offer(body: bytes) -> MediaOffer:
    """The first usable audio m-line of an SDP offer or answer."""
    try:
        sdp = parse_sdp(body)
    except SdpError as exc:
        raise NegotiationError(f"malformed SDP: {exc.reason}") from None
    for index, media in enumerate(sdp.media):
        if media.media != "audio" or media.port == 0:
            continue
        if media.proto not in _RTP_PROFILES:
            continue  # RTP/SAVP needs SDES on the call leg, which the B2BUA does not offer
        try:
            codecs = media.codecs()
            rtcp = media.rtcp
        except SdpError as exc:
            raise NegotiationError(f"malformed SDP: {exc.reason}") from None
        connection = sdp.media_connection(media)
        if connection is None:
            raise NegotiationError("audio m-line without a connection address")
        host: str | None = connection.host
        if host in _UNSPECIFIED:
            host = None
        audio = tuple(c for c in codecs if c.name.lower() != _TELEPHONE_EVENT)
        dtmf = tuple(c for c in codecs if c.name.lower() == _TELEPHONE_EVENT)
        return MediaOffer(
            sdp=sdp,
            index=index,
            host=host,
            port=media.port,
            rtcp_port=rtcp.port if rtcp is not None else None,
            codecs=audio,
            dtmf=dtmf,
            direction=sdp.media_direction(media),
            rtcp_mux=media.rtcp_mux,
        )
    raise NegotiationError("no RTP/AVP audio stream offered")


def choose_codec(offer: MediaOffer, *, allow_passthrough: bool) -> Codec:
    """The caller's most preferred codec the B2BUA can carry (RFC 3264 §6.1)."""
    accepted = G711 | PASSTHROUGH if allow_passthrough else G711
    for codec in offer.codecs:
        if codec.name.lower() in accepted and codec.channels <= 2:
            return codec
    names = ", ".join(c.name for c in offer.codecs) or "none"
    raise NegotiationError(f"no common audio codec (offered: {names})")


def matching_dtmf(offer: MediaOffer, codec: Codec) -> Codec | None:
    """The telephone-event format at the audio codec's clock rate (RFC 4733 §7.1.1)."""
    return next((c for c in offer.dtmf if c.clock_rate == codec.clock_rate), None)


@dataclass(slots=True)
class LocalSdp:
    """The SDP the B2BUA shows one party: the engine's address for that party's leg.

    ``version`` goes up with every new description (RFC 3264 §8: o= version increments).
    """

    address: str
    port: int
    codecs: tuple[Codec, ...]
    rtcp_mux: bool = False
    session_id: int = 0
    version: int = 0

    def __post_init__(self) -> None:
        if self.session_id == 0:
            self.session_id = secrets.randbelow(2**62) + 1
            self.version = self.session_id

    def render(
        self,
        direction: Direction,
        *,
        mirror: SessionDescription | None = None,
        audio_index: int = 0,
    ) -> bytes:
        """Our description; as an answer (``mirror`` = the offer) it keeps one m-line per
        offered m-line, the ones we do not use with port 0 (RFC 3264 §6)."""
        self.version += 1
        ip6 = ":" in self.address
        sdp = SessionDescription(
            origin=Origin(
                "src-client",
                self.session_id,
                self.version,
                "IN",
                "IP6" if ip6 else "IP4",
                self.address,
            ),
            session_name="src-client",
            connection=Connection("IN", "IP6" if ip6 else "IP4", self.address),
        )
        offered = mirror.media if mirror is not None else [MediaDescription()]
        for index, theirs in enumerate(offered):
            if index != audio_index:
                sdp.media.append(
                    MediaDescription(theirs.media, 0, theirs.proto, list(theirs.formats))
                )
                continue
            media = MediaDescription("audio", self.port, "RTP/AVP")
            media.set_codecs(list(self.codecs))
            if self.rtcp_mux:
                media.add_attribute("rtcp-mux")
            media.add_attribute("ptime", "20")
            media.direction = direction
            sdp.media.append(media)
        return sdp.to_bytes()


def answer_offer(offer: MediaOffer, *, allow_passthrough: bool) -> tuple[Codec, ...]:
    """The codecs of our answer: one audio codec, then its telephone-event if offered."""
    codec = choose_codec(offer, allow_passthrough=allow_passthrough)
    dtmf = matching_dtmf(offer, codec)
    return (codec,) if dtmf is None else (codec, dtmf)


def check_answer(answer: MediaOffer, offered: tuple[Codec, ...]) -> None:
    """The callee must answer with our audio codec at the same payload type: the relay copies
    packets unchanged, so any other choice would reach the caller as noise."""
    audio = offered[0]
    if not any(c.pt == audio.pt and c.same_format(audio) for c in answer.codecs):
        names = ", ".join(f"{c.name}/{c.pt}" for c in answer.codecs) or "none"
        raise NegotiationError(f"callee answered {names}, not {audio.name}/{audio.pt}")
