"""SiprecService: what TwiML `<Start><Siprec>`/`<Stop><Siprec>` and the REST API call.

Creation validates everything synchronously (so the REST API can answer 400 at once, as
Twilio does) and then starts the SIP side in the background: the resource is
``in-progress`` immediately and the outcome reaches the application through the status
callback (``siprec-started`` or ``siprec-error``, then ``siprec-stopped``).

A recording that fails always reports ``siprec-error`` (and an alert) before its
``siprec-stopped``, whatever the call does meanwhile. An SRS lost mid-recording is reported
when it is found (``siprec-error``); when the recording goes on with another SRS of the
connector, ``siprec-started`` follows (same SiprecSid), ``siprec-stopped`` at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from src_client import errors
from src_client.errors import TwilioError
from src_client.sids import SidPrefix, new_sid
from src_client.siprec.connectors import ConnectorError, ConnectorRegistry
from src_client.siprec.health import HealthMonitor
from src_client.siprec.resource import (
    MAX_FORKED_STREAMS_PER_CALL,
    MAX_NAME_LENGTH,
    MAX_PARAMETER_NAME_LENGTH,
    MAX_PARAMETER_VALUE_LENGTH,
    MAX_PARAMETERS,
    SiprecResource,
    SiprecStatus,
    TrackSelection,
)
from src_client.siprec.session import (
    MediaTotals,
    RecordedCall,
    RecordingSession,
    SessionContext,
)
from src_client.twiml.document import HttpMethod
from src_client.webhooks import WebhookSender, check_webhook_url

log = logging.getLogger("src_client.siprec")


class SiprecEvent:
    STARTED = "siprec-started"
    STOPPED = "siprec-stopped"
    ERROR = "siprec-error"


@dataclass(frozen=True, slots=True)
class Alert:
    """A Debugger-style record of a recording failure (persisted by the daemon)."""

    account_sid: str
    call_sid: str
    siprec_sid: str
    error_code: int
    message: str
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class SiprecCounters:
    """Exported to Prometheus by the daemon."""

    started: int = 0
    failed: int = 0
    stopped: int = 0
    sip_responses: dict[int, int] = field(default_factory=dict)
    media: MediaTotals = field(default_factory=MediaTotals)  # of finished recordings


class SiprecService:
    def __init__(
        self,
        context: SessionContext,
        connectors: ConnectorRegistry,
        webhooks: WebhookSender,
        auth_token: Callable[[str], str],
        *,
        on_alert: Callable[[Alert], None] | None = None,
        on_change: Callable[[SiprecResource], None] | None = None,
    ) -> None:
        self.connectors = connectors
        self.counters = SiprecCounters()
        self._context = context
        self._webhooks = webhooks
        self._auth_token = auth_token  # account SID -> auth token, for signing callbacks
        self._on_alert = on_alert
        self._on_change = on_change
        self._resources: dict[str, list[SiprecResource]] = {}  # by call SID, creation order
        self._sessions: dict[str, RecordingSession] = {}  # by Siprec SID, while running

    # ------------------------------------------------------------------ queries

    def list(self, call_sid: str) -> list[SiprecResource]:
        return list(self._resources.get(call_sid, ()))

    def get(self, call_sid: str, sid_or_name: str) -> SiprecResource:
        """By SID or by name; a name reused after a stop finds the running one first."""
        candidates = [r for r in self._resources.get(call_sid, ()) if r.matches(sid_or_name)]
        if not candidates:
            raise TwilioError(errors.SIPREC_NOT_FOUND, sid=sid_or_name, call_sid=call_sid)
        running = [r for r in candidates if r.status is SiprecStatus.IN_PROGRESS]
        return (running or candidates)[-1]

    @property
    def health(self) -> HealthMonitor | None:
        return self._context.health

    def media_totals(self) -> MediaTotals:
        """Packets, octets and DTMF removed by every fork, finished and live."""
        totals = dataclasses.replace(self.counters.media)
        for session in self._sessions.values():
            totals.add(session.media_now())
        return totals

    def session(self, siprec_sid: str) -> RecordingSession | None:
        return self._sessions.get(siprec_sid)

    @property
    def running(self) -> int:
        """Recordings not finished yet (starting, active or stopping), for /metrics."""
        return len(self._sessions)

    # ------------------------------------------------------------------ commands

    def create(
        self,
        call: RecordedCall,
        *,
        connector_name: str | None,
        name: str | None = None,
        track: str | None = None,
        status_callback: str | None = None,
        status_callback_method: str | None = None,
        parameters: Sequence[tuple[str, str]] = (),
    ) -> SiprecResource:
        """Validate, register and start a recording; raises TwilioError on bad input."""
        selection = _track(track)
        method = _method(status_callback_method)
        name = _name(name)
        if status_callback:
            check_webhook_url(status_callback, "StatusCallback")
        if call.status != "in-progress":
            raise TwilioError(
                errors.CALL_NOT_IN_PROGRESS,
                call_sid=call.sid,
                status=call.status,
                operation="start a Siprec",
            )
        if not connector_name:
            raise TwilioError(
                errors.INVALID_PARAMETER,
                parameter="ConnectorName",
                reason="a connector unique name is required",
            )
        if connector_name not in self.connectors:
            raise TwilioError(errors.UNKNOWN_CONNECTOR, connector_name=connector_name)
        connector = self.connectors.get(connector_name)
        params = _parameters(parameters)
        try:
            connector.parameter_headers(params)
        except ConnectorError as exc:
            raise TwilioError(
                errors.INVALID_PARAMETER, parameter="Parameter", reason=str(exc)
            ) from None
        existing = self._resources.get(call.sid, [])
        if name is not None and any(
            r.name == name and r.status is SiprecStatus.IN_PROGRESS for r in existing
        ):
            raise TwilioError(errors.DUPLICATE_SIPREC_NAME, call_sid=call.sid, name=name)
        in_use = sum(r.forked_streams for r in existing)
        needed = len(selection.tracks)
        if in_use + needed > MAX_FORKED_STREAMS_PER_CALL:
            raise TwilioError(
                errors.FORK_LIMIT_EXCEEDED,
                call_sid=call.sid,
                in_use=in_use,
                track=selection.value,
                needed=needed,
            )
        resource = SiprecResource(
            sid=new_sid(SidPrefix.SIPREC),
            account_sid=call.account_sid,
            call_sid=call.sid,
            name=name,
            connector_name=connector.name,
            track=selection,
            status_callback=status_callback or None,
            status_callback_method=method,
            parameters=params,
        )
        self._resources.setdefault(call.sid, []).append(resource)
        session = RecordingSession(
            resource,
            call,
            connector,
            self._context,
            on_started=self._started,
            on_finished=self._finished,
            on_error=self._failed,
        )
        self._sessions[resource.sid] = session
        self._changed(resource)
        log.info(
            "siprec %s: created on call %s, connector %s, %s",
            resource.sid,
            call.sid,
            connector.name,
            selection.value,
        )
        session.start()
        return resource

    async def stop(self, call_sid: str, sid_or_name: str) -> SiprecResource:
        """Stop by SID or name (idempotent on a stopped one, as Twilio's update is)."""
        resource = self.get(call_sid, sid_or_name)
        session = self._sessions.get(resource.sid)
        if session is not None:
            await session.stop()
        return resource

    def detach_media(self, call_sid: str) -> None:
        """The call's media is going away: every fork of its recordings stops now (the SRS
        dialogs end afterwards, in :meth:`stop_call`)."""
        for session in self._sessions.values():
            if session.call.sid == call_sid:
                session.detach_media()

    async def stop_call(self, call_sid: str) -> None:
        """Every recording of a call that ended; then the call's resources are forgotten
        here (the store keeps them for the REST API), so memory does not grow per call."""
        sessions = [s for s in self._sessions.values() if s.call.sid == call_sid]
        await asyncio.gather(*(s.stop() for s in sessions))
        self._resources.pop(call_sid, None)

    async def call_updated(self, call_sid: str) -> None:
        """The call's state changed (hold, caller id): SRSs get a metadata re-INVITE."""
        sessions = [s for s in self._sessions.values() if s.call.sid == call_sid]
        await asyncio.gather(*(s.update_metadata() for s in sessions))

    async def close(self) -> None:
        await asyncio.gather(*(s.stop() for s in list(self._sessions.values())))

    # ------------------------------------------------------------------ session reports

    def _started(self, session: RecordingSession) -> None:
        self.counters.started += 1
        log.info(
            "siprec %s: started toward %s",
            session.resource.sid,
            session.srs.uri if session.srs else "?",
        )
        self._callback(session, SiprecEvent.STARTED)

    def _finished(self, session: RecordingSession, failure: TwilioError | None) -> None:
        resource = session.resource
        self._sessions.pop(resource.sid, None)
        self.counters.media.add(session.media)
        for status in session.sip_responses:
            self.counters.sip_responses[status] = self.counters.sip_responses.get(status, 0) + 1
        resource.status = SiprecStatus.STOPPED
        resource.date_updated = datetime.now(UTC)
        if failure is not None:
            self._failed(session, failure)
        else:
            self.counters.stopped += 1
            log.info("siprec %s: stopped", resource.sid)
        self._callback(session, SiprecEvent.STOPPED)
        self._changed(resource)

    def _failed(self, session: RecordingSession, failure: TwilioError) -> None:
        """``siprec-error`` and an alert: at the end, or as soon as an SRS is lost."""
        resource = session.resource
        self.counters.failed += 1
        resource.error_code = failure.code
        resource.error_message = failure.message
        resource.date_updated = datetime.now(UTC)
        log.warning("siprec %s: error %d: %s", resource.sid, failure.code, failure.message)
        self._callback(session, SiprecEvent.ERROR, failure)
        if self._on_alert is not None:
            self._on_alert(
                Alert(
                    resource.account_sid,
                    resource.call_sid,
                    resource.sid,
                    failure.code,
                    failure.message,
                )
            )
        if resource.status is SiprecStatus.IN_PROGRESS:
            self._changed(resource)

    def _callback(
        self, session: RecordingSession, event: str, failure: TwilioError | None = None
    ) -> None:
        resource = session.resource
        if not resource.status_callback:
            return
        params = session.call.request_params()
        params.update(
            SiprecSid=resource.sid,
            SiprecName=resource.name or "",
            SiprecEvent=event,
            Timestamp=datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        )
        if failure is not None:
            params.update(SiprecError=failure.message, SiprecErrorCode=str(failure.code))
        self._webhooks.send(
            resource.status_callback,
            resource.status_callback_method,
            params,
            self._auth_token(resource.account_sid),
            key=resource.sid,
        )

    def _changed(self, resource: SiprecResource) -> None:
        if self._on_change is not None:
            self._on_change(resource)


def _track(value: str | None) -> TrackSelection:
    if value is None or value == "":
        return TrackSelection.INBOUND_TRACK
    try:
        return TrackSelection(value)
    except ValueError:
        raise TwilioError(errors.INVALID_TRACK, parameter="Track", value=value) from None


def _name(value: str | None) -> str | None:
    """The same rules from TwiML and REST: the name is typed into URLs to stop the Siprec."""
    if not value:
        return None
    if len(value) > MAX_NAME_LENGTH:
        raise TwilioError(errors.INVALID_PARAMETER, parameter="Name",
                          reason=f"at most {MAX_NAME_LENGTH} characters")
    if not value.isprintable():
        raise TwilioError(errors.INVALID_PARAMETER, parameter="Name",
                          reason="must be printable characters")
    return value


def _method(value: str | None) -> HttpMethod:
    if value is None or value == "":
        return HttpMethod.POST
    try:
        return HttpMethod(value.upper())
    except ValueError:
        raise TwilioError(
            errors.INVALID_METHOD, parameter="StatusCallbackMethod", value=value
        ) from None


def _parameters(parameters: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    params = tuple(parameters)
    if len(params) > MAX_PARAMETERS:
        raise TwilioError(
            errors.INVALID_PARAMETER,
            parameter="Parameter",
            reason=f"at most {MAX_PARAMETERS} parameters",
        )
    if any(not name for name, _ in params):
        raise TwilioError(
            errors.INVALID_PARAMETER, parameter="Parameter", reason="every parameter needs a name"
        )
    for name, value in params:
        if len(name) > MAX_PARAMETER_NAME_LENGTH or len(value) > MAX_PARAMETER_VALUE_LENGTH:
            raise TwilioError(
                errors.INVALID_PARAMETER,
                parameter="Parameter",
                reason=f"names are at most {MAX_PARAMETER_NAME_LENGTH} characters and values "
                f"at most {MAX_PARAMETER_VALUE_LENGTH}",
            )
    return params
