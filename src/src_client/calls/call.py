"""The Call model: one anchored call (Twilio's Call resource), its legs and its recording view.

A call is the caller's leg (the inbound SIP dialog and its engine port pair) plus, while a
``<Dial>`` is bridged, the callee's leg. Tracks follow Twilio's meaning and are taken on the
caller's leg: inbound = audio the host receives from the caller, outbound = audio the host
sends to the caller (the callee's voice or ``<Play>`` audio).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from src_client.media import Leg, LegStats
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import Dialog
from src_client.sip.uri import NameAddr
from src_client.siprec.session import RecordedCall

from .negotiation import LocalSdp

__all__ = ["API_VERSION", "Call", "CallDirection", "CallLeg", "CallStatus"]

API_VERSION = "2010-04-01"


class CallStatus(StrEnum):
    """Twilio's CallStatus values."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self not in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND_DIAL = "outbound-dial"


@dataclass(slots=True)
class CallLeg:
    """One party: its SIP dialog (once answered), its engine port pair and our SDP for it."""

    media: Leg
    sdp: LocalSdp
    dialog: Dialog | None = None
    on_hold: bool = False  # the party stopped sending (RFC 3264 §8.4)
    relayed: bool = False  # a callee leg the engine relays to the caller's


@dataclass(slots=True)
class Call:
    """An inbound call through the B2BUA; ``recorded`` is what SIPREC sessions read."""

    account_sid: str
    sip_call_id: str
    from_: NameAddr  # the caller, as its INVITE's From
    to: NameAddr  # whom it called, as its INVITE's To
    caller: CallLeg
    codecs: tuple[Codec, ...] = ()  # negotiated on the caller's leg: audio codec, then DTMF
    sid: str = field(default_factory=lambda: new_sid(SidPrefix.CALL))
    direction: CallDirection = CallDirection.INBOUND
    status: CallStatus = CallStatus.QUEUED
    callee: CallLeg | None = None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    answered_at: float | None = None  # time.monotonic()
    ended_at: float | None = None
    end_reason: str | None = None
    media_stats: dict[str, LegStats] = field(default_factory=dict)  # final, per leg role
    recorded: RecordedCall = field(init=False)

    def __post_init__(self) -> None:
        self.recorded = RecordedCall(
            sid=self.sid,
            account_sid=self.account_sid,
            sip_call_id=self.sip_call_id,
            remote=self.from_,
            local=self.to,
            codecs=(),
            dtmf_payload_types=frozenset(),
            leg=self.caller.media,
            status=self.status.value,
            direction=self.direction.value,
        )
        self.set_codecs(self.codecs)

    def set_codecs(self, codecs: tuple[Codec, ...]) -> None:
        """The caller leg's negotiated formats: our SDP for it and what recordings offer."""
        self.codecs = codecs
        self.caller.sdp.codecs = codecs
        self.recorded.codecs = codecs
        self.recorded.dtmf_payload_types = frozenset(
            c.pt for c in codecs if c.name.lower() == "telephone-event"
        )

    @property
    def audio_codec(self) -> Codec:
        return self.codecs[0]

    @property
    def on_hold(self) -> bool:
        return self.caller.on_hold or (self.callee is not None and self.callee.on_hold)

    @property
    def duration(self) -> int:
        """Seconds in progress, as Twilio's CallDuration (whole seconds)."""
        if self.answered_at is None:
            return 0
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return int(end - self.answered_at)

    def set_status(self, status: CallStatus) -> None:
        self.status = status
        self.recorded.status = status.value
        if status is CallStatus.IN_PROGRESS and self.answered_at is None:
            self.answered_at = time.monotonic()
        if status.final and self.ended_at is None:
            self.ended_at = time.monotonic()

    def sync_hold(self) -> bool:
        """Copy the legs' hold state to the recording view; True when it changed."""
        changed = self.recorded.on_hold != self.on_hold
        self.recorded.on_hold = self.on_hold
        return changed

    def request_params(self) -> dict[str, str]:
        """Twilio's standard voice webhook parameters for this call."""
        return {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": _party(self.from_),
            "To": _party(self.to),
            "CallStatus": self.status.value,
            "Direction": self.direction.value,
            "ApiVersion": API_VERSION,
        }


def _party(address: NameAddr) -> str:
    """A phone number as Twilio shows it (``+1555...``) when the user part is one, else the
    SIP URI (what Twilio sends for SIP-originated calls)."""
    user = address.uri.user
    if user and user.lstrip("+").isdigit():
        return user
    return str(address.uri.replace(params=(), headers=()))
