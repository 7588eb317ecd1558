"""Typed TwiML documents: what the parser produces and the interpreter executes.

Only the verbs and nouns src-client executes are modelled; each dataclass holds already
validated values with Twilio's defaults applied, so the interpreter never re-checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "MAX_SIPREC_PARAMETERS",
    "Dial",
    "DialNumber",
    "DialSip",
    "DialTarget",
    "Hangup",
    "HttpMethod",
    "Parameter",
    "Pause",
    "Play",
    "Redirect",
    "Reject",
    "RejectReason",
    "Response",
    "Siprec",
    "Start",
    "Stop",
    "StopSiprec",
    "Track",
    "Verb",
]

# The REST API accepts Parameter1..Parameter99; TwiML is held to the same bound.
MAX_SIPREC_PARAMETERS: Final = 99


class Track(StrEnum):
    """Which audio a Siprec forks. ``inbound`` = what the host receives from the call."""

    INBOUND = "inbound_track"
    OUTBOUND = "outbound_track"
    BOTH = "both_tracks"

    @property
    def fork_count(self) -> int:
        """Forked streams this track uses against the per-call limit of 4."""
        return 2 if self is Track.BOTH else 1


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class RejectReason(StrEnum):
    REJECTED = "rejected"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A custom ``<Parameter name value/>`` handed to the SRS (headers or metadata)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Siprec:
    """``<Start><Siprec>``: start a recording session toward a connector's SRS.

    ``status_callback_method`` is None when the attribute is absent (the seeds list no
    default); callbacks then go out with POST, see :attr:`callback_method`.
    """

    connector_name: str
    name: str | None = None
    track: Track = Track.INBOUND
    status_callback: str | None = None
    status_callback_method: HttpMethod | None = None
    parameters: tuple[Parameter, ...] = ()

    @property
    def callback_method(self) -> HttpMethod:
        return self.status_callback_method or HttpMethod.POST


@dataclass(frozen=True, slots=True)
class Start:
    """``<Start>``: asynchronous; the interpreter continues with the next verb at once."""

    siprecs: tuple[Siprec, ...]


@dataclass(frozen=True, slots=True)
class StopSiprec:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    siprecs: tuple[StopSiprec, ...]


@dataclass(frozen=True, slots=True)
class DialSip:
    """``<Sip>``: a SIP URI, with digest credentials when the far end challenges."""

    uri: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class DialNumber:
    """``<Number>`` or a bare number in ``<Dial>``: routed through the configured trunk."""

    number: str


DialTarget = DialSip | DialNumber


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[DialTarget, ...]
    timeout: int = 30
    caller_id: str | None = None
    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    hangup_on_star: bool = False


@dataclass(frozen=True, slots=True)
class Play:
    """``<Play>``: ``source`` is an http(s) URL, or a local path when ``local`` is set.

    ``loop`` = 0 means repeat until the call moves on (Twilio's meaning).
    """

    source: str
    loop: int = 1
    local: bool = False


@dataclass(frozen=True, slots=True)
class Pause:
    length: int = 1


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: RejectReason = RejectReason.REJECTED


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: HttpMethod = HttpMethod.POST


Verb = Start | Stop | Dial | Play | Pause | Hangup | Reject | Redirect


@dataclass(frozen=True, slots=True)
class Response:
    """A whole document. No verbs is valid TwiML: the call is hung up."""

    verbs: tuple[Verb, ...] = ()
