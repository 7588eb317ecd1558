"""The Siprec REST resource (a subresource of a Call) and its request vocabulary.

Field names, status values and date formats are those of Twilio's
``api.v2010.account.call.siprec`` schema, so the official SDKs deserialise our JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

from src_client.siprec.offer import Track
from src_client.twiml.document import HttpMethod

API_VERSION = "2010-04-01"
MAX_FORKED_STREAMS_PER_CALL = 4
MAX_PARAMETERS = 99
# Our caps (Twilio documents none): a name is typed into URLs to stop the Siprec, and
# parameters travel in SIP headers or metadata, where a few kilobytes each would push the
# INVITE past what SRSs accept.
MAX_NAME_LENGTH = 256
MAX_PARAMETER_NAME_LENGTH = 256
MAX_PARAMETER_VALUE_LENGTH = 1024


class SiprecStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    STOPPED = "stopped"


class TrackSelection(StrEnum):
    """The `track` attribute / `Track` parameter."""

    INBOUND_TRACK = "inbound_track"
    OUTBOUND_TRACK = "outbound_track"
    BOTH_TRACKS = "both_tracks"

    @property
    def tracks(self) -> tuple[Track, ...]:
        if self is TrackSelection.INBOUND_TRACK:
            return (Track.INBOUND,)
        if self is TrackSelection.OUTBOUND_TRACK:
            return (Track.OUTBOUND,)
        return (Track.INBOUND, Track.OUTBOUND)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SiprecResource:
    """One recording of one call; outlives the call so it stays queryable."""

    sid: str
    account_sid: str
    call_sid: str
    name: str | None
    connector_name: str
    track: TrackSelection
    status_callback: str | None = None
    status_callback_method: HttpMethod = HttpMethod.POST
    parameters: tuple[tuple[str, str], ...] = ()
    status: SiprecStatus = SiprecStatus.IN_PROGRESS
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    error_code: int | None = None
    error_message: str | None = None

    @property
    def uri(self) -> str:
        return (
            f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.call_sid}"
            f"/Siprec/{self.sid}.json"
        )

    @property
    def forked_streams(self) -> int:
        """Streams this recording counts against the per-call limit while it runs."""
        return len(self.track.tracks) if self.status is SiprecStatus.IN_PROGRESS else 0

    def matches(self, sid_or_name: str) -> bool:
        return sid_or_name == self.sid or (self.name is not None and sid_or_name == self.name)

    def to_json(self) -> dict[str, Any]:
        """The resource exactly as Twilio's API renders it."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "call_sid": self.call_sid,
            "name": self.name,
            "status": self.status.value,
            "date_updated": format_datetime(self.date_updated.astimezone(UTC)),
            "uri": self.uri,
        }
