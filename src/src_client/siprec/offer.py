"""The SIPREC offer/answer (RFC 7866 §8, RFC 3264) and the multipart body around it.

The SRC offers one ``a=sendonly`` audio m-line per forked track, each with the label the
metadata's ``<stream>`` refers to (``1`` = inbound, ``2`` = outbound), the call's own
negotiated audio codecs minus telephone-event (DTMF is never forked), ``a=rtcp``
(RFC 3605), and SDES keys on ``RTP/SAVP`` when the connector is secure. Re-offers bump
the ``o=`` version only when the SDP changes (RFC 3264 §8); pausing is ``a=inactive``.

The SRS answer is turned into one destination per accepted label. Anything that would
make the recording silently useless raises :class:`UnusableAnswer`, after which the
session ACKs, BYEs and reports the reason.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from src_client.sdes import CryptoAttribute, generate_crypto
from src_client.sdp import (
    Attribute,
    Codec,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    parse_sdp,
)
from src_client.sip.errors import SipParseError
from src_client.sip.headers import Headers
from src_client.sip.multipart import BodyPart, build_multipart, parse_multipart
from src_client.siprec.metadata import CONTENT_TYPE as METADATA_CONTENT_TYPE
from src_client.siprec.metadata import LEGACY_CONTENT_TYPE, RecordingMetadata

__all__ = [
    "SDP_CONTENT_TYPE",
    "ForkDestination",
    "ForkSource",
    "OfferError",
    "SiprecBody",
    "SiprecBodyError",
    "SiprecOffer",
    "Track",
    "UnusableAnswer",
    "build_siprec_body",
    "parse_answer",
    "split_siprec_body",
]

SDP_CONTENT_TYPE = "application/sdp"


class Track(StrEnum):
    """A forked direction of the call, as seen from this host."""

    INBOUND = "inbound"     # audio the host receives from the call
    OUTBOUND = "outbound"   # audio the host sends to the call

    @property
    def label(self) -> str:
        return "1" if self is Track.INBOUND else "2"


_TRACK_BY_LABEL = {t.label: t for t in Track}


class OfferError(ValueError):
    """The offer cannot be built from what the call negotiated."""


class UnusableAnswer(ValueError):
    """The SRS's answer cannot carry the recording; ``reason`` is short and log-safe."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ForkSource:
    """Our end of one fork: the local ports the engine sends the track from."""

    track: Track
    rtp_port: int
    rtcp_port: int | None = None   # default rtp_port + 1 (RFC 3550 §11)


@dataclass(frozen=True, slots=True)
class ForkDestination:
    """Where and how to send one track, from the SRS answer."""

    track: Track
    label: str
    host: str
    rtp_port: int
    rtcp_port: int
    direction: Direction            # RECVONLY: send; INACTIVE: fork paused
    codec: Codec                    # one of our offered codecs, with our payload type
    local_crypto: CryptoAttribute | None = None    # our key the SRS accepted (we encrypt)
    remote_crypto: CryptoAttribute | None = None   # the SRS's key (its SRTCP to us)

    @property
    def active(self) -> bool:
        return self.direction is not Direction.INACTIVE


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


class SiprecOffer:
    """Builds the initial offer and every re-offer of one recording session.

    Keys are generated once per track and kept across re-offers, so a refresh or a pause
    does not force an SRTP re-key on the SRS.
    """

    def __init__(self, *, address: str, codecs: Sequence[Codec], sources: Sequence[ForkSource],
                 secure: bool = False,
                 crypto_suites: Sequence[str] = ("AES_CM_128_HMAC_SHA1_80",),
                 ptime: int | None = None, username: str = "src-client",
                 session_id: int | None = None) -> None:
        self._codecs = [c for c in codecs if c.name.lower() != "telephone-event"]
        if not self._codecs:
            raise OfferError("the call negotiated no audio codec to fork")
        if not sources:
            raise OfferError("nothing to fork")
        tracks = [s.track for s in sources]
        if len(set(tracks)) != len(tracks):
            raise OfferError("each track can be forked once per recording session")
        if secure and not crypto_suites:
            raise OfferError("a secure offer needs at least one crypto suite")
        self._address = address
        self._sources = list(sources)
        self._secure = secure
        self._ptime = ptime
        self._crypto = {
            s.track: [generate_crypto(tag, suite) for tag, suite in enumerate(crypto_suites, 1)]
            for s in sources} if secure else {}
        self._origin = Origin(username, session_id if session_id is not None
                              else secrets.randbelow(2**62) + 1, 0, "IN", _addrtype(address),
                              address)
        self._last: bytes | None = None

    @property
    def version(self) -> int:
        return self._origin.session_version

    @property
    def secure(self) -> bool:
        return self._secure

    def local_crypto(self, track: Track) -> list[CryptoAttribute]:
        """Our offered keys for ``track`` (empty unless secure)."""
        return list(self._crypto.get(track, []))

    def sdp(self, *, paused: bool | Collection[Track] = False) -> SessionDescription:
        """The offer (or answer) to send now: ``paused`` is every track, or the tracks that
        are ``a=inactive``; the o= version goes up only if the content changed."""
        media = [self._media(source, paused is True or (not isinstance(paused, bool)
                                                        and source.track in paused))
                 for source in self._sources]
        body = b"".join(b"".join(line.encode() + b"\r\n" for line in m.lines()) for m in media)
        if self._last is not None and body != self._last:
            self._origin.session_version += 1
        self._last = body
        return SessionDescription(
            origin=dataclasses.replace(self._origin),
            session_name="SIPREC",
            connection=Connection("IN", _addrtype(self._address), self._address),
            media=media)

    def _media(self, source: ForkSource, paused: bool) -> MediaDescription:
        media = MediaDescription("audio", source.rtp_port,
                                 "RTP/SAVP" if self._secure else "RTP/AVP")
        media.set_codecs(self._codecs)
        if self._ptime is not None:
            media.add_attribute("ptime", str(self._ptime))
        rtcp_port = source.rtcp_port if source.rtcp_port is not None else source.rtp_port + 1
        media.add_attribute("rtcp", str(rtcp_port))
        for crypto in self._crypto.get(source.track, []):
            media.attributes.append(Attribute("crypto", crypto.to_value()))
        media.direction = Direction.INACTIVE if paused else Direction.SENDONLY
        media.add_attribute("label", source.track.label)
        return media


def _select_codec(offered: MediaDescription, answered: MediaDescription) -> Codec | None:
    """First answer format we offered, as our codec (we send with our payload types)."""
    ours = offered.codecs()
    theirs = {c.pt: c for c in answered.codecs()}
    for pt in answered.payload_types:
        mine = next((c for c in ours if c.pt == pt), None)
        answer_codec = theirs.get(pt)
        if mine is not None and (answer_codec is None or answer_codec.same_format(mine)):
            return mine
        if answer_codec is not None:
            same = next((c for c in ours if c.same_format(answer_codec)), None)
            if same is not None:
                return same
    return None


def _select_crypto(index: int, offered: MediaDescription, answered: MediaDescription
                   ) -> tuple[CryptoAttribute, CryptoAttribute]:
    ours = {c.tag: c for c in offered.crypto()}
    for theirs in answered.crypto():
        mine = ours.get(theirs.tag)
        if mine is not None and mine.suite == theirs.suite:
            return mine, theirs
    raise UnusableAnswer(f"m-line {index}: no acceptable a=crypto in the answer (SRTP required)")


def _destination(index: int, offer: SessionDescription, answer: SessionDescription,
                 offered: MediaDescription, answered: MediaDescription) -> ForkDestination:
    label = offered.label
    if label is None or label not in _TRACK_BY_LABEL:
        raise UnusableAnswer(f"m-line {index}: the offer has no SIPREC label")
    if answered.label is not None and answered.label != label:
        raise UnusableAnswer(f"m-line {index}: answer label {answered.label} does not match "
                             f"offered label {label}")
    if answered.media != offered.media or answered.proto != offered.proto:
        raise UnusableAnswer(f"m-line {index}: answer {answered.media} {answered.proto} does "
                             f"not match offer {offered.media} {offered.proto}")
    direction = answer.media_direction(answered)
    if direction is Direction.SENDONLY:
        raise UnusableAnswer(f"m-line {index}: SRS answered sendonly, it would not receive")
    connection = answer.media_connection(answered)
    if connection is None:
        raise UnusableAnswer(f"m-line {index}: answer has no c= address")
    host = connection.host
    if direction is Direction.SENDRECV:
        direction = Direction.RECVONLY   # tolerated: we never read what the SRS sends
    if offer.media_direction(offered) is Direction.INACTIVE or host in ("0.0.0.0", "::"):
        direction = Direction.INACTIVE   # paused by us, or the legacy RFC 2543 hold form
    codec = _select_codec(offered, answered)
    if codec is None:
        raise UnusableAnswer(f"m-line {index}: no codec in common with the offer")
    rtcp = answered.rtcp
    rtcp_port = rtcp.port if rtcp is not None else answered.port + 1
    local_crypto = remote_crypto = None
    if offered.proto == "RTP/SAVP":
        local_crypto, remote_crypto = _select_crypto(index, offered, answered)
    return ForkDestination(_TRACK_BY_LABEL[label], label, host, answered.port, rtcp_port,
                           direction, codec, local_crypto, remote_crypto)


def parse_answer(offer: SessionDescription, answer: SessionDescription | bytes | str
                 ) -> dict[str, ForkDestination]:
    """Destinations by label for the streams the SRS accepted (port 0 ones are left out).

    M-lines pair up by position (RFC 3264 §6); an answer ``a=label`` must agree with it.
    """
    if not isinstance(answer, SessionDescription):
        try:
            answer = parse_sdp(answer)
        except SdpError as exc:
            raise UnusableAnswer(f"malformed answer SDP: {exc}") from None
    if len(answer.media) != len(offer.media):
        raise UnusableAnswer(f"answer has {len(answer.media)} m-lines for the "
                             f"{len(offer.media)} offered")
    destinations: dict[str, ForkDestination] = {}
    try:
        for index, (offered, answered) in enumerate(zip(offer.media, answer.media, strict=True)):
            if answered.port == 0:
                continue   # stream rejected (RFC 3264 §6)
            destination = _destination(index, offer, answer, offered, answered)
            destinations[destination.label] = destination
    except SdpError as exc:
        raise UnusableAnswer(f"malformed answer SDP: {exc}") from None
    if not destinations:
        raise UnusableAnswer("the SRS rejected every stream (port 0)")
    return destinations


# ---------------------------------------------------------------------------- bodies


class SiprecBodyError(ValueError):
    """A SIPREC request body that cannot be split into SDP and metadata."""


@dataclass(frozen=True, slots=True)
class SiprecBody:
    sdp: bytes | None
    metadata: bytes | None
    metadata_content_type: str | None = None      # as sent (the +xml or the legacy name)
    metadata_disposition: str | None = None       # RFC 7866 §8.2 wants recording-session


def build_siprec_body(sdp: SessionDescription | bytes,
                      metadata: RecordingMetadata | bytes) -> tuple[bytes, str]:
    """(body, Content-Type) for an INVITE/re-INVITE carrying SDP and metadata."""
    sdp_bytes = sdp.to_bytes() if isinstance(sdp, SessionDescription) else sdp
    meta_bytes = metadata.to_xml() if isinstance(metadata, RecordingMetadata) else metadata
    return build_multipart([
        BodyPart(Headers([("Content-Type", SDP_CONTENT_TYPE)]), sdp_bytes),
        BodyPart(Headers([("Content-Type", METADATA_CONTENT_TYPE),
                          ("Content-Disposition", "recording-session")]), meta_bytes),
    ])


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


_METADATA_TYPES = (METADATA_CONTENT_TYPE, LEGACY_CONTENT_TYPE)


def split_siprec_body(body: bytes, content_type: str | None) -> SiprecBody:
    """SDP and metadata from a body that is either of them alone or multipart/mixed."""
    if not body:
        return SiprecBody(None, None)
    media_type = _media_type(content_type or "")
    if media_type == SDP_CONTENT_TYPE:
        return SiprecBody(body, None)
    if media_type in _METADATA_TYPES:
        return SiprecBody(None, body, media_type)
    if media_type != "multipart/mixed":
        raise SiprecBodyError(f"unsupported body type {media_type or '(none)'}")
    try:
        parts = parse_multipart(body, content_type or "")
    except SipParseError as exc:
        raise SiprecBodyError(f"bad multipart body: {exc}") from None
    sdp: bytes | None = None
    metadata: bytes | None = None
    meta_type = disposition = None
    for part in parts:
        part_type = _media_type(part.content_type or "")
        if part_type == SDP_CONTENT_TYPE:
            if sdp is not None:
                raise SiprecBodyError("multipart body has two SDP parts")
            sdp = part.body
        elif part_type in _METADATA_TYPES:
            if metadata is not None:
                raise SiprecBodyError("multipart body has two metadata parts")
            metadata, meta_type = part.body, part_type
            value = part.headers.get("Content-Disposition")
            disposition = None if value is None else value.split(";", 1)[0].strip().lower()
    return SiprecBody(sdp, metadata, meta_type, disposition)
