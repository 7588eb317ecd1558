"""The records the store keeps besides Siprec resources: calls history and alerts.

Each record renders itself the way Twilio's API renders the same resource, so the REST layer
only pages and filters: calls as ``api.v2010.account.call`` (RFC 2822 dates), alerts as
Monitor's ``monitor.v1.alert`` (ISO 8601 dates, ``error_code`` as a string).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from src_client.calls.call import Call, CallStatus
from src_client.errors import TwilioError
from src_client.sids import SidPrefix, new_sid
from src_client.siprec.resource import API_VERSION, utcnow
from src_client.siprec.service import Alert


class LogLevel(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"
    DEBUG = "debug"


def rfc2822(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value.astimezone(UTC))


def iso8601(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class CallRecord:
    """One call as the calls layer last saved it; kept after the call ends."""

    sid: str
    account_sid: str
    from_: str
    to: str
    status: CallStatus
    direction: str = "inbound"
    parent_call_sid: str | None = None
    caller_name: str | None = None
    forwarded_from: str | None = None
    answered_by: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)

    @classmethod
    def from_call(cls, call: Call) -> CallRecord:
        """The record of a live or finished B2BUA call, to save at each status change."""
        params = call.request_params()
        now, monotonic_now = datetime.now(UTC), time.monotonic()

        def wall(moment: float | None) -> datetime | None:
            return None if moment is None else now - timedelta(seconds=monotonic_now - moment)

        return cls(
            sid=call.sid, account_sid=call.account_sid, from_=params["From"], to=params["To"],
            status=call.status, direction=call.direction.value,
            caller_name=call.from_.display_name or None, start_time=wall(call.answered_at),
            end_time=wall(call.ended_at), date_created=call.date_created, date_updated=now)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    @property
    def duration(self) -> int | None:
        """Whole seconds from answer to end, once the call has ended (Twilio's definition)."""
        if self.start_time is None or self.end_time is None:
            return None
        return max(0, int((self.end_time - self.start_time).total_seconds()))

    def to_json(self) -> dict[str, Any]:
        duration = self.duration
        base = self.uri.removesuffix(".json")
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": self.parent_call_sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "phone_number_sid": None,
            "status": self.status.value,
            "start_time": rfc2822(self.start_time),
            "end_time": rfc2822(self.end_time),
            "duration": None if duration is None else str(duration),
            "price": None,
            "price_unit": "USD",
            "direction": self.direction,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "forwarded_from": self.forwarded_from,
            "group_sid": None,
            "caller_name": self.caller_name,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": self.uri,
            "subresource_uris": {"siprec": f"{base}/Siprec.json"},
        }


@dataclass(slots=True)
class AlertRecord:
    """A Debugger entry: something went wrong that no HTTP response could report."""

    account_sid: str
    error_code: int
    alert_text: str
    more_info: str
    resource_sid: str | None = None
    log_level: LogLevel = LogLevel.ERROR
    request_url: str | None = None  # already redacted: no credentials, no query
    request_method: str | None = None
    sid: str = field(default_factory=lambda: new_sid(SidPrefix.ALERT))
    date_created: datetime = field(default_factory=utcnow)

    @classmethod
    def from_siprec_alert(cls, alert: Alert) -> AlertRecord:
        """What SiprecService reports through ``on_alert`` (a recording that failed)."""
        text = urlencode({"Msg": alert.message, "ErrorCode": alert.error_code,
                          "CallSid": alert.call_sid, "SiprecSid": alert.siprec_sid})
        return cls(
            account_sid=alert.account_sid,
            error_code=alert.error_code,
            alert_text=text,
            more_info=f"https://www.twilio.com/docs/errors/{alert.error_code}",
            resource_sid=alert.call_sid,
            date_created=alert.date_created,
        )

    @classmethod
    def from_error(cls, account_sid: str, resource_sid: str | None, error: TwilioError, *,
                   request_url: str | None = None, request_method: str | None = None,
                   log_level: LogLevel = LogLevel.ERROR) -> AlertRecord:
        """Any other failure, e.g. a status callback given up on (``request_url`` redacted)."""
        fields: dict[str, str | int] = {"Msg": error.message, "ErrorCode": error.code}
        if request_url is not None:
            fields["url"] = request_url
        return cls(
            account_sid=account_sid,
            error_code=error.code,
            alert_text=urlencode(fields),
            more_info=error.more_info,
            resource_sid=resource_sid,
            log_level=log_level,
            request_url=request_url,
            request_method=request_method,
        )

    def to_json(self, url: str) -> dict[str, Any]:
        """``url`` is this alert's absolute URL (Monitor's resources carry absolute URLs)."""
        date = iso8601(self.date_created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "alert_text": self.alert_text,
            "api_version": API_VERSION,
            "date_created": date,
            "date_generated": date,
            "date_updated": date,
            "error_code": str(self.error_code),
            "log_level": self.log_level.value,
            "more_info": self.more_info,
            "request_method": self.request_method,
            "request_url": self.request_url,
            "request_variables": None,
            "request_headers": None,
            "resource_sid": self.resource_sid,
            "response_body": None,
            "response_headers": None,
            "service_sid": None,
            "url": url,
        }


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive bounds; None leaves that side open."""

    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallQuery:
    to: str | None = None
    from_: str | None = None
    parent_call_sid: str | None = None
    status: CallStatus | None = None
    start_time: TimeRange = TimeRange()
    end_time: TimeRange = TimeRange()


@dataclass(frozen=True, slots=True)
class AlertQuery:
    log_level: LogLevel | None = None
    date_created: TimeRange = TimeRange()
