"""SDP model, parser and serialiser (RFC 8866, which obsoletes RFC 4566).

Sans-IO. Parsing is strict on structure (line syntax, the fixed order of line types, the
mandatory v/o/s/t lines, m-line syntax) because a malformed offer must be refused with a
488 that says what is wrong; it is tolerant of content it need not understand (unknown
attributes and unknown attribute values are kept verbatim and in order), and it accepts
bare LF line ends (RFC 8866 §5). Serialisation writes CRLF and the field order of §5.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from src_client.sdes import CryptoAttribute, SdesError, parse_crypto

__all__ = [
    "Attribute",
    "Bandwidth",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "Rtcp",
    "SdpError",
    "SessionDescription",
    "Timing",
    "parse_sdp",
]


class SdpError(ValueError):
    """Malformed SDP. ``reason`` is short and fit for a 488 reason phrase or Warning."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(reason if line is None else f"SDP line {line}: {reason}")


class Direction(StrEnum):
    """RFC 8866 §6.7 media direction attributes."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    def reversed(self) -> Direction:
        """The direction an answerer uses for this offered direction (RFC 3264 §6.1)."""
        return _REVERSED[self]


_REVERSED = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}
_DIRECTIONS = frozenset(d.value for d in Direction)

# RFC 3551 §6: static payload types still met in practice (name, clock rate, channels).
_STATIC_PAYLOADS: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    13: ("CN", 8000, 1),
    18: ("G729", 8000, 1),
}

_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_MEDIA_RE = re.compile(rf"({_TOKEN}) ([0-9]{{1,5}})(?:/([0-9]{{1,5}}))? ({_TOKEN}(?:/{_TOKEN})*)"
                       rf"((?: \S+)+)")
_ORIGIN_RE = re.compile(r"(\S+) ([0-9]{1,20}) ([0-9]{1,20}) (\S+) (\S+) (\S+)")
_CONNECTION_RE = re.compile(r"(\S+) (\S+) (\S+)")
_BANDWIDTH_RE = re.compile(rf"({_TOKEN}):([0-9]{{1,10}})")
_TIMING_RE = re.compile(r"([0-9]{1,20}) ([0-9]{1,20})")
_RTPMAP_RE = re.compile(r"([0-9]{1,3}) ([^/\s]+)/([0-9]{1,9})(?:/([0-9]{1,3}))?")
_RTCP_RE = re.compile(r"([0-9]{1,5})(?: (\S+) (\S+) (\S+))?")

# RFC 8866 §5: session-level line types in their mandated order; r follows its t.
_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "micbka"
_REPEATABLE = frozenset("epbtra")
_MEDIA_REPEATABLE = frozenset("cba")
_STRUCTURED = frozenset("vocbtm")


@dataclass(slots=True)
class Origin:
    username: str = "-"
    session_id: int = 0
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} {self.nettype} "
                f"{self.addrtype} {self.address}")


@dataclass(slots=True)
class Connection:
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"   # may carry /ttl/count for multicast, kept verbatim

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def host(self) -> str:
        """The address without any multicast /ttl/count suffix."""
        return self.address.split("/", 1)[0]


@dataclass(slots=True)
class Bandwidth:
    type: str
    value: int

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(slots=True)
class Timing:
    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)   # r= lines, verbatim


@dataclass(slots=True)
class Attribute:
    name: str
    value: str | None = None   # None for property attributes (a=sendonly)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    def __repr__(self) -> str:
        value = self.value
        if self.name == "crypto" and value is not None:
            value = re.sub(r"inline:[^\s;|]*", "inline:<hidden>", value)
        return f"Attribute(name={self.name!r}, value={value!r})"


@dataclass(frozen=True, slots=True)
class Codec:
    """A payload format as negotiated in SDP: rtpmap (or the static table) plus fmtp."""

    pt: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def rtpmap(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.pt} {self.name}/{self.clock_rate}{suffix}"

    def same_format(self, other: Codec) -> bool:
        """Same encoding regardless of payload type number (RFC 3264 §6.1 matching)."""
        return (self.name.lower() == other.name.lower() and self.clock_rate == other.clock_rate
                and self.channels == other.channels)


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp`` (RFC 3605): the RTCP port, and an address when it differs from c=."""

    port: int
    connection: Connection | None = None

    def __str__(self) -> str:
        return str(self.port) if self.connection is None else f"{self.port} {self.connection}"


class _Attributes:
    """Attribute-list helpers shared by the session and media levels."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """The value of the first attribute ``name`` ("" for a property attribute)."""
        for attr in self.attributes:
            if attr.name == name:
                return "" if attr.value is None else attr.value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [a.value or "" for a in self.attributes if a.name == name]

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self.attributes.append(Attribute(name, value))

    def remove_attribute(self, name: str) -> None:
        self.attributes = [a for a in self.attributes if a.name != name]

    @property
    def direction(self) -> Direction | None:
        """The direction written at this level, if any (the last one wins if repeated)."""
        found = [a.name for a in self.attributes if a.name in _DIRECTIONS and a.value is None]
        return Direction(found[-1]) if found else None

    @direction.setter
    def direction(self, value: Direction | None) -> None:
        """Replace the direction in place (keeps the attribute's position when present)."""
        kept: list[Attribute] = []
        placed = value is None
        for attr in self.attributes:
            if attr.name in _DIRECTIONS and attr.value is None:
                if not placed and value is not None:
                    kept.append(Attribute(value.value))
                    placed = True
                continue
            kept.append(attr)
        if not placed and value is not None:
            kept.append(Attribute(value.value))
        self.attributes = kept


@dataclass(slots=True)
class MediaDescription(_Attributes):
    media: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[str] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def connection(self) -> Connection | None:
        return self.connections[0] if self.connections else None

    @property
    def label(self) -> str | None:
        """``a=label`` (RFC 4574), the token SIPREC metadata refers to."""
        return self.attribute("label")

    @property
    def rtcp(self) -> Rtcp | None:
        value = self.attribute("rtcp")
        if value is None:
            return None
        m = _RTCP_RE.fullmatch(value.strip())
        if m is None or int(m.group(1)) > 65535:
            raise SdpError(f"malformed a=rtcp:{value}")
        conn = Connection(m.group(2), m.group(3), m.group(4)) if m.group(2) else None
        return Rtcp(int(m.group(1)), conn)

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux`` (RFC 5761)."""
        return self.has_attribute("rtcp-mux")

    @property
    def payload_types(self) -> list[int]:
        """The formats as RTP payload types (only meaningful for RTP profiles)."""
        try:
            return [int(f) for f in self.formats]
        except ValueError:
            raise SdpError(f"non-numeric RTP payload type in m={self.media}") from None

    def codecs(self) -> list[Codec]:
        """Codecs in preference (m-line) order; unmapped dynamic types are skipped."""
        rtpmaps: dict[int, tuple[str, int, int]] = {}
        fmtps: dict[int, str] = {}
        for attr in self.attributes:
            if attr.name == "rtpmap" and attr.value is not None:
                m = _RTPMAP_RE.fullmatch(attr.value.strip())
                if m is None:
                    raise SdpError(f"malformed a=rtpmap:{attr.value}")
                channels = int(m.group(4)) if m.group(4) else 1
                rtpmaps.setdefault(int(m.group(1)), (m.group(2), int(m.group(3)), channels))
            elif attr.name == "fmtp" and attr.value is not None:
                pt_text, _, params = attr.value.partition(" ")
                if pt_text.isdigit():
                    fmtps.setdefault(int(pt_text), params.strip())
        result = []
        for pt in self.payload_types:
            spec = rtpmaps.get(pt) or _STATIC_PAYLOADS.get(pt)
            if spec is not None:
                result.append(Codec(pt, spec[0], spec[1], spec[2], fmtps.get(pt)))
        return result

    def codec(self, pt: int) -> Codec | None:
        return next((c for c in self.codecs() if c.pt == pt), None)

    def set_codecs(self, codecs: list[Codec]) -> None:
        """Replace formats, rtpmap and fmtp with ``codecs`` (other attributes stay)."""
        self.formats = [str(c.pt) for c in codecs]
        self.attributes = [a for a in self.attributes if a.name not in ("rtpmap", "fmtp")]
        insert_at = 0
        for codec in codecs:
            self.attributes.insert(insert_at, Attribute("rtpmap", codec.rtpmap))
            insert_at += 1
            if codec.fmtp:
                self.attributes.insert(insert_at, Attribute("fmtp", f"{codec.pt} {codec.fmtp}"))
                insert_at += 1

    def crypto(self) -> list[CryptoAttribute]:
        """All ``a=crypto`` lines (RFC 4568), in offer preference order."""
        result = []
        for value in self.attribute_values("crypto"):
            try:
                result.append(parse_crypto(value))
            except SdesError as exc:
                raise SdpError(str(exc)) from None
        return result

    def lines(self) -> Iterator[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        yield f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"
        if self.title is not None:
            yield f"i={self.title}"
        for conn in self.connections:
            yield f"c={conn}"
        for bw in self.bandwidths:
            yield f"b={bw}"
        if self.key is not None:
            yield f"k={self.key}"
        for attr in self.attributes:
            yield f"a={attr}"


@dataclass(slots=True)
class SessionDescription(_Attributes):
    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    def media_direction(self, media: MediaDescription) -> Direction:
        """Effective direction: media level over session level over sendrecv (§6.7)."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """Media-level c= over session-level c= (RFC 8866 §5.7)."""
        return media.connection or self.connection

    def lines(self) -> Iterator[str]:
        yield f"v={self.version}"
        yield f"o={self.origin}"
        yield f"s={self.session_name}"
        if self.information is not None:
            yield f"i={self.information}"
        if self.uri is not None:
            yield f"u={self.uri}"
        for email in self.emails:
            yield f"e={email}"
        for phone in self.phones:
            yield f"p={phone}"
        if self.connection is not None:
            yield f"c={self.connection}"
        for bw in self.bandwidths:
            yield f"b={bw}"
        for timing in self.timings:
            yield f"t={timing.start} {timing.stop}"
            for repeat in timing.repeats:
                yield f"r={repeat}"
        if self.zone is not None:
            yield f"z={self.zone}"
        if self.key is not None:
            yield f"k={self.key}"
        for attr in self.attributes:
            yield f"a={attr}"
        for media in self.media:
            yield from media.lines()

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8")


def _parse_attribute(value: str, lineno: int) -> Attribute:
    name, sep, rest = value.partition(":")
    if _TOKEN_RE.fullmatch(name) is None:
        raise SdpError(f"malformed attribute name {name[:32]!r}", lineno)
    return Attribute(name, rest if sep else None)


def _parse_connection(value: str, lineno: int) -> Connection:
    m = _CONNECTION_RE.fullmatch(value)
    if m is None:
        raise SdpError("c= must be '<nettype> <addrtype> <address>'", lineno)
    return Connection(m.group(1), m.group(2), m.group(3))


def _parse_bandwidth(value: str, lineno: int) -> Bandwidth:
    m = _BANDWIDTH_RE.fullmatch(value)
    if m is None:
        raise SdpError("b= must be '<bwtype>:<bandwidth>'", lineno)
    return Bandwidth(m.group(1), int(m.group(2)))


def _parse_media_line(value: str, lineno: int) -> MediaDescription:
    m = _MEDIA_RE.fullmatch(value)
    if m is None:
        raise SdpError("m= must be '<media> <port> <proto> <fmt> ...'", lineno)
    port = int(m.group(2))
    port_count = int(m.group(3)) if m.group(3) else None
    if port > 65535 or (port_count is not None and port_count < 1):
        raise SdpError(f"m= port {m.group(2)} out of range", lineno)
    return MediaDescription(media=m.group(1), port=port, proto=m.group(4),
                            formats=m.group(5).split(), port_count=port_count)


def _split_lines(data: bytes | str) -> list[str]:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not valid UTF-8") from None
    else:
        text = data
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and lines[-1] == "":   # trailing blank lines carry nothing
        lines.pop()
    return lines


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse one session description; raises :class:`SdpError` naming the bad line."""
    lines = _split_lines(data)
    if not lines:
        raise SdpError("empty SDP")
    sdp = SessionDescription(timings=[])
    session_seen: set[str] = set()
    seen = session_seen
    order_pos = 0
    media: MediaDescription | None = None
    for lineno, line in enumerate(lines, start=1):
        if len(line) < 2 or line[1] != "=" or not line[0].islower():
            raise SdpError(f"not a '<type>=<value>' line: {line[:24]!r}", lineno)
        kind, value = line[0], line[2:]
        if kind in _STRUCTURED:
            value = value.rstrip(" \t")   # stray trailing blanks are common and harmless
        if lineno == 1 and kind != "v":
            raise SdpError("SDP must start with v=", lineno)
        if kind == "m":
            media = _parse_media_line(value, lineno)
            sdp.media.append(media)
            seen = set()
            order_pos = 0
            continue
        order = _MEDIA_ORDER if media is not None else _SESSION_ORDER
        repeatable = _MEDIA_REPEATABLE if media is not None else _REPEATABLE
        pos = order.find(kind)
        if pos < 0:
            where = "media" if media is not None else "session"
            raise SdpError(f"'{kind}=' line not allowed at {where} level", lineno)
        # 1*(t= *r=): a further t= may follow the r= lines of the previous one
        next_timing = kind == "t" and media is None and order_pos == _SESSION_ORDER.index("r")
        if pos < order_pos and not next_timing:
            raise SdpError(f"'{kind}=' line out of order", lineno)
        if kind in seen and kind not in repeatable:
            raise SdpError(f"duplicate '{kind}=' line", lineno)
        seen.add(kind)
        order_pos = pos
        if media is not None:
            _media_field(media, kind, value, lineno)
        else:
            _session_field(sdp, kind, value, lineno)
    missing = [k for k in "ost" if k not in session_seen]
    if missing:
        raise SdpError(f"missing mandatory '{missing[0]}=' line")
    return sdp


def _session_field(sdp: SessionDescription, kind: str, value: str, lineno: int) -> None:
    if kind == "v":
        if value != "0":
            raise SdpError(f"unsupported SDP version {value[:10]!r}", lineno)
    elif kind == "o":
        m = _ORIGIN_RE.fullmatch(value)
        if m is None:
            raise SdpError("o= must be '<username> <sess-id> <sess-version> <nettype> "
                           "<addrtype> <address>'", lineno)
        sdp.origin = Origin(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4),
                            m.group(5), m.group(6))
    elif kind == "s":
        sdp.session_name = value
    elif kind == "i":
        sdp.information = value
    elif kind == "u":
        sdp.uri = value
    elif kind == "e":
        sdp.emails.append(value)
    elif kind == "p":
        sdp.phones.append(value)
    elif kind == "c":
        sdp.connection = _parse_connection(value, lineno)
    elif kind == "b":
        sdp.bandwidths.append(_parse_bandwidth(value, lineno))
    elif kind == "t":
        m = _TIMING_RE.fullmatch(value)
        if m is None:
            raise SdpError("t= must be '<start-time> <stop-time>'", lineno)
        sdp.timings.append(Timing(int(m.group(1)), int(m.group(2))))
    elif kind == "r":
        if not sdp.timings:
            raise SdpError("r= without a preceding t=", lineno)
        sdp.timings[-1].repeats.append(value)
    elif kind == "z":
        sdp.zone = value
    elif kind == "k":
        sdp.key = value
    else:  # "a"
        sdp.attributes.append(_parse_attribute(value, lineno))


def _media_field(media: MediaDescription, kind: str, value: str, lineno: int) -> None:
    if kind == "i":
        media.title = value
    elif kind == "c":
        media.connections.append(_parse_connection(value, lineno))
    elif kind == "b":
        media.bandwidths.append(_parse_bandwidth(value, lineno))
    elif kind == "k":
        media.key = value
    else:  # "a"
        media.attributes.append(_parse_attribute(value, lineno))
