"""One recording session: the SIP dialog toward an SRS and the engine forks it feeds.

Lifecycle (RFC 7866 §6-§8): INVITE with SDP + RFC 7865 metadata to the connector's SRS
(then each failover URI on failure) → the answer gives each label's destination → forks
start → in-dialog requests from the SRS are answered (re-INVITE/UPDATE re-point or pause
forks, BYE ends the session) → stop removes the forks (RTCP BYE) and sends BYE.

An SRS that dies or hangs mid-recording is noticed by an in-dialog OPTIONS keep-alive
(every ``Connector.keepalive_interval`` seconds, an ICMP error or a refused connection fails
it at once, silence after the same interval) and by the stack ending the dialog (a failed
session refresh, 408/481): the loss is reported at once (``on_error``: ``siprec-error`` and an
alert) and, where the connector has other SRS URIs, the recording goes on in a new SRS
session with the same RFC 7865 session and CS ids, so the SRSs can stitch the parts.

Nothing here can disturb the call: the forks only copy packets, every failure ends in
the ``on_finished`` report, and no exception leaves :meth:`RecordingSession.run`.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC
from enum import StrEnum
from typing import Any

from src_client import errors
from src_client.errors import TwilioError
from src_client.media import Engine, Fork, ForkStats, Leg, SrtpParams
from src_client.sdp import Codec, SessionDescription
from src_client.sip.auth import DigestCredentials
from src_client.sip.endpoint import (
    Dialog,
    ServerTransaction,
    SipEndpoint,
    SipTimeout,
    SipTransportError,
    SipUnreachable,
)
from src_client.sip.uri import NameAddr, SipUri
from src_client.siprec.connectors import Connector, SrsTarget
from src_client.siprec.health import HealthMonitor
from src_client.siprec.metadata import (
    RecordingMetadata,
    call_metadata,
    name_id,
    partial_update,
    with_participant_streams,
)
from src_client.siprec.offer import (
    ForkDestination,
    ForkSource,
    SiprecBodyError,
    SiprecOffer,
    Track,
    UnusableAnswer,
    build_siprec_body,
    parse_answer,
    split_siprec_body,
)
from src_client.siprec.resource import SiprecResource

log = logging.getLogger("src_client.siprec")

ACCEPT = "application/sdp, application/rs-metadata+xml"
BYE_TIMEOUT = 5.0
# The SRS ended the dialog itself, or we did: every other termination reason (a failed
# in-dialog request, an expired session timer) means the SRS is gone.
_NORMAL_ENDINGS = ("BYE received", "BYE sent")
# A call that ends while the INVITE is still unanswered: an SRS that has not sent a single
# provisional response in this many T1 is reported as not answering (siprec-error).
_SILENT_T1 = 8


@dataclass(slots=True)
class RecordedCall:
    """What a recording needs from the call it records; the calls layer keeps it current.

    ``remote`` is the far end of the recorded leg (the caller of an inbound call): it speaks
    the inbound track. ``leg`` is that leg in the engine: inbound = packets received from it,
    outbound = packets sent to it.
    """

    sid: str
    account_sid: str
    sip_call_id: str
    remote: NameAddr
    local: NameAddr
    codecs: tuple[Codec, ...]
    dtmf_payload_types: frozenset[int]
    leg: Leg
    status: str = "in-progress"
    direction: str = "inbound"
    on_hold: bool = False

    def request_params(self) -> dict[str, str]:
        """Twilio's standard request parameters, sent with every callback about this call."""
        return {
            "AccountSid": self.account_sid,
            "CallSid": self.sid,
            "From": str(self.remote.uri) if self.direction == "inbound" else str(self.local.uri),
            "To": str(self.local.uri) if self.direction == "inbound" else str(self.remote.uri),
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
        }


@dataclass(slots=True)
class MediaTotals:
    """What a session's forks sent, kept after the forks are gone (for metrics)."""

    packets: int = 0
    octets: int = 0
    dtmf_dropped: int = 0
    inband_dtmf_frames: int = 0

    @classmethod
    def of(cls, stats: ForkStats) -> MediaTotals:
        return cls(stats.packets_out, stats.bytes_out, stats.dtmf_dropped,
                   stats.inband_dtmf_frames)

    def add(self, other: MediaTotals) -> None:
        self.packets += other.packets
        self.octets += other.octets
        self.dtmf_dropped += other.dtmf_dropped
        self.inband_dtmf_frames += other.inband_dtmf_frames


class SessionState(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    STOPPING = "stopping"
    FINISHED = "finished"


@dataclass(slots=True)
class SessionContext:
    """The shared machinery every session of a service uses."""

    endpoint: SipEndpoint
    engine: Engine
    media_address: str
    src_user: str = "src-client"
    sip_host: str = "127.0.0.1"  # our From host toward SRSs (the advertised SIP address)
    session_expires: int | None = 1800
    answer_timeout: float | None = None  # None: Timer B, 64*T1 of the endpoint (RFC 3261 §17)
    health: HealthMonitor | None = None  # OPTIONS pings: healthy SRSs are tried first

    @property
    def invite_timeout(self) -> float:
        """How long an SRS may take to answer the INVITE before it is CANCELled."""
        if self.answer_timeout is not None:
            return self.answer_timeout
        return 64 * self.endpoint.config.t1


class StartFailed(Exception):
    """The recording could not start on any SRS; ``error`` says why (the last SRS's reason)."""

    def __init__(self, error: TwilioError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class _Forks:
    """The engine objects of one track: the pre-allocated port pair, then the fork."""

    reserved: dict[Track, Leg] = field(default_factory=dict)
    active: dict[Track, Fork] = field(default_factory=dict)
    paused: set[Track] = field(default_factory=set)


class RecordingSession:
    """Drives one SRS dialog for one :class:`SiprecResource`."""

    def __init__(
        self,
        resource: SiprecResource,
        call: RecordedCall,
        connector: Connector,
        context: SessionContext,
        *,
        on_started: Callable[[RecordingSession], None],
        on_finished: Callable[[RecordingSession, TwilioError | None], None],
        on_error: Callable[[RecordingSession, TwilioError], None] | None = None,
    ) -> None:
        """``on_error`` hears of an SRS lost mid-recording at once (before any failover);
        without it the loss is only the failure ``on_finished`` reports."""
        self.resource = resource
        self.call = call
        self.connector = connector
        self.state = SessionState.STARTING
        self.dialog: Dialog | None = None
        self.srs: SrsTarget | None = None
        self.sip_responses: list[int] = []
        self.media = MediaTotals()  # of forks already removed
        self._ctx = context
        self._on_started = on_started
        self._on_finished = on_finished
        self._on_error = on_error
        self._forks = _Forks()
        self._offer: SiprecOffer | None = None
        self._offer_sdp: SessionDescription | None = None
        self._initial_metadata: RecordingMetadata | None = None
        self._metadata: RecordingMetadata | None = None  # what the SRS has
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt_failure: TwilioError | None = None  # the last SRS that failed to start
        self._attempt_since: float | None = None  # when the INVITE in flight was sent
        self._attempt_heard = False  # a provisional response came for it
        self._loss_reported = False  # on_error heard of an SRS lost mid-recording

    @property
    def tracks(self) -> tuple[Track, ...]:
        return self.resource.track.tracks

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self.run(), name=f"siprec:{self.resource.sid}"
        )

    async def run(self) -> None:
        """Start, hold the session until stopped by either side, tear down; never raises."""
        failure: TwilioError | None = None
        try:
            await self._start()
            while True:
                self.state = SessionState.ACTIVE
                self._on_started(self)
                lost = await self._hold()
                if lost is None:
                    break
                if not await self._lost(lost):
                    failure = lost if self._on_error is None else None  # else reported
                    break
        except StartFailed as exc:
            failure = exc.error
        except asyncio.CancelledError:
            if self.state is SessionState.STARTING and not self._loss_reported:
                failure = self._unfinished_start()
        except Exception as exc:  # a bug must not escape into the loop or the call
            log.exception("siprec %s: unexpected error", self.resource.sid)
            failure = TwilioError(
                errors.SRS_NO_ROUTE,
                srs_uri=self._srs_text,
                reason=f"internal error ({type(exc).__name__})",
            )
        await self._teardown()
        self.state = SessionState.FINISHED
        self._on_finished(self, failure)

    def _unfinished_start(self) -> TwilioError | None:
        """The call ended (or the recording was stopped) while the SRS session was starting:
        a recording that failed on an SRS, or waits on one that never answered, is reported
        (siprec-error), one that was simply not answered yet is not."""
        if self._attempt_failure is not None:
            return self._attempt_failure
        if self._attempt_since is None or self._attempt_heard:
            return None
        waited = asyncio.get_running_loop().time() - self._attempt_since
        if waited < _SILENT_T1 * self._ctx.endpoint.config.t1:
            return None
        return TwilioError(errors.SRS_TIMEOUT, srs_uri=self._srs_text)

    async def _lost(self, error: TwilioError) -> bool:
        """The SRS is gone mid-recording: report it, then carry on with another SRS of the
        connector when there is one. True once a new SRS session runs."""
        lost = self.srs
        log.warning("siprec %s: %s", self.resource.sid, error.message)
        self._remove_forks()
        dialog, self.dialog = self.dialog, None
        if dialog is not None and not dialog.is_terminated:
            _background(self._bye(dialog), f"siprec-bye:{self.resource.sid}")
        if self._on_error is not None:
            self._loss_reported = True
            self._on_error(self, error)
        targets = [t for t in self._ordered_targets() if lost is None or t.uri != lost.uri]
        if not targets or self._stop_requested.is_set():
            return False
        self.state = SessionState.STARTING
        try:
            await self._start(targets)
        except StartFailed as exc:
            log.warning("siprec %s: no SRS to continue on: %s", self.resource.sid, exc.error)
            return False
        log.info("siprec %s: recording continues on %s", self.resource.sid, self._srs_text)
        return True

    def media_now(self) -> MediaTotals:
        """What this session's forks have sent so far, live forks included."""
        totals = dataclasses.replace(self.media)
        for fork in self._forks.active.values():
            totals.add(MediaTotals.of(fork.stats()))
        return totals

    async def stop(self) -> None:
        """Ask the session to end (BYE to the SRS) and wait until it has."""
        self._stop_requested.set()
        if self._task is None:
            return
        if self.state is SessionState.STARTING:
            self._task.cancel()  # an INVITE in flight is CANCELled by the endpoint
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise  # the caller itself is being cancelled
            if self.state is not SessionState.FINISHED:  # cancelled before run() began:
                self.state = SessionState.FINISHED      # nothing reserved, nothing sent
                self._on_finished(self, None)

    async def update_metadata(self) -> None:
        """Send the call's changed state (hold, caller id) to the SRS in a re-INVITE.

        Ids stay those of the initial metadata, so the RFC 7865 ``partial`` document names
        exactly the elements that changed.
        """
        if self.state is not SessionState.ACTIVE or self.dialog is None or self._offer is None:
            return
        assert self._metadata is not None
        new = self._current_metadata()
        update = partial_update(self._metadata, new)
        if update is None:
            return
        self._metadata = new
        body, content_type = build_siprec_body(self._offer.sdp(), update)
        try:
            response = await self.dialog.request("INVITE", body=body, content_type=content_type)
        except (SipTimeout, SipTransportError) as exc:
            log.warning("siprec %s: metadata re-INVITE failed: %s", self.resource.sid, exc)
            return
        self.sip_responses.append(response.status)
        if response.status >= 300:  # the SRS keeps the old metadata; the recording goes on
            log.warning(
                "siprec %s: SRS refused metadata update: %d", self.resource.sid, response.status
            )

    def _current_metadata(self) -> RecordingMetadata:
        """The initial metadata brought up to date with the call (names, hold)."""
        assert self._initial_metadata is not None
        meta = copy.deepcopy(self._initial_metadata)
        remote, local = meta.participants  # the order call_metadata() writes them in
        remote.name_ids = [name_id(self.call.remote)]
        local.name_ids = [name_id(self.call.local)]
        if self.call.on_hold:  # the held party sends nothing to record
            meta = with_participant_streams(meta, remote.participant_id, send=[])
        return meta

    # ------------------------------------------------------------------ start

    async def _start(self, targets: list[SrsTarget] | None = None) -> None:
        self._reserve_ports()
        failure: TwilioError | None = None
        self._attempt_failure = None
        for target in targets or self._ordered_targets():
            self.srs = target
            failure = await self._try(target)
            if failure is None:
                self._attempt_failure = None
                return
            self._attempt_failure = failure
            log.info("siprec %s: SRS %s failed: %s", self.resource.sid, target.uri, failure)
        assert failure is not None  # a Connector always has an SRS URI
        raise StartFailed(failure)

    def _ordered_targets(self) -> list[SrsTarget]:
        targets = self.connector.targets()
        if self._ctx.health is not None:
            targets = self._ctx.health.ordered(targets)
        return targets

    @property
    def _srs_text(self) -> str:
        return str(self.srs.uri) if self.srs is not None else self.connector.name

    def _reserve_ports(self) -> None:
        try:
            for track in self.tracks:
                self._forks.reserved[track] = self._ctx.engine.allocate_leg(latching=False)
        except (OSError, RuntimeError) as exc:
            raise StartFailed(
                TwilioError(
                    errors.SRS_NO_ROUTE,
                    srs_uri=self._srs_text,
                    reason=f"no media port free ({exc})",
                )
            ) from None

    async def _try(self, target: SrsTarget) -> TwilioError | None:
        """One INVITE attempt: None once the forks run, else why this SRS failed."""
        sources = [
            ForkSource(track, leg.local_address[1], leg.local_rtcp_port)
            for track, leg in self._forks.reserved.items()
        ]
        media_address = target.edge.media_address if target.edge else self._ctx.media_address
        self._offer = SiprecOffer(
            address=media_address, codecs=self.call.codecs, sources=sources, secure=target.secure
        )
        self._offer_sdp = self._offer.sdp()
        if self._initial_metadata is None:
            self._initial_metadata = self._build_metadata()
        self._metadata = self._current_metadata()
        body, content_type = build_siprec_body(self._offer_sdp, self._metadata)
        credentials = None
        if self.connector.digest_username and self.connector.digest_password:
            credentials = DigestCredentials(
                self.connector.digest_username, self.connector.digest_password.reveal()
            )
        src_host = target.edge.signalling_address if target.edge else self._ctx.sip_host
        self._attempt_since = asyncio.get_running_loop().time()
        self._attempt_heard = False
        try:
            result = await asyncio.wait_for(
                self._ctx.endpoint.invite(
                    target.uri,
                    from_=NameAddr(SipUri("sip", src_host, user=self._ctx.src_user)),
                    to=NameAddr(target.uri),
                    headers=self._invite_headers(),
                    body=body,
                    content_type=content_type,
                    credentials=credentials,
                    contact_params=";+sip.src",
                    session_expires=self._ctx.session_expires,
                    on_provisional=self._heard,
                ),
                self._ctx.invite_timeout,
            )
        except (SipTimeout, TimeoutError):
            return TwilioError(errors.SRS_TIMEOUT, srs_uri=str(target.uri))
        except SipUnreachable as exc:  # ICMP, a refused connection: RFC 3263 failover at once
            tls = target.secure and "refused" not in str(exc)
            spec = errors.SRS_TLS_FAILURE if tls else errors.SRS_UNREACHABLE
            return TwilioError(spec, srs_uri=str(target.uri), reason=str(exc))
        except SipTransportError as exc:
            spec = errors.SRS_TLS_FAILURE if target.secure else errors.SRS_NO_ROUTE
            return TwilioError(spec, srs_uri=str(target.uri), reason=str(exc))
        finally:
            self._attempt_since = None
        response = result.response
        self.sip_responses.append(response.status)
        if result.dialog is None or response.status >= 300:
            return TwilioError(
                errors.SRS_REJECTED,
                srs_uri=str(target.uri),
                sip_status=f"{response.status} {response.reason}",
            )
        try:
            destinations = self._destinations(response.body, response.headers.get("Content-Type"))
        except UnusableAnswer as exc:
            await self._bye(result.dialog)
            raise StartFailed(
                TwilioError(errors.SRS_BAD_ANSWER, srs_uri=str(target.uri), reason=exc.reason)
            ) from None
        self.dialog = result.dialog
        self.dialog.on_request = self._on_request
        self._start_forks(destinations)
        return None

    def _heard(self, _response: object) -> None:
        self._attempt_heard = True

    def _invite_headers(self) -> list[tuple[str, str]]:
        headers = [("Require", "siprec"), ("Accept", ACCEPT)]
        credential = self.connector.credential_header()
        if credential is not None:
            headers.append(credential)
        headers.extend(self.connector.parameter_headers(self.resource.parameters))
        return headers

    def _build_metadata(self) -> RecordingMetadata:
        tracks = self.tracks
        return call_metadata(
            sip_call_id=self.call.sip_call_id,
            remote=name_id(self.call.remote),
            local=name_id(self.call.local),
            inbound_label=Track.INBOUND.label if Track.INBOUND in tracks else None,
            outbound_label=Track.OUTBOUND.label if Track.OUTBOUND in tracks else None,
            start_time=self.resource.date_created.astimezone(UTC),
            parameters=self.connector.parameter_extension(self.resource.parameters),
        )

    def _destinations(self, body: bytes, content_type: str | None) -> dict[str, ForkDestination]:
        assert self._offer_sdp is not None
        try:
            sdp = split_siprec_body(body, content_type).sdp
        except SiprecBodyError as exc:
            raise UnusableAnswer(str(exc)) from None
        if sdp is None:
            raise UnusableAnswer("the answer carries no SDP")
        return parse_answer(self._offer_sdp, sdp)

    def _start_forks(self, destinations: dict[str, ForkDestination]) -> None:
        engine = self._ctx.engine
        for track, reserved in list(self._forks.reserved.items()):
            destination = destinations.get(track.label)
            if destination is None:  # the SRS refused this stream (port 0)
                reserved.close()
                del self._forks.reserved[track]
                continue
            fork = engine.add_fork(
                self.call.leg,
                track.value,
                destination=(destination.host, destination.rtp_port),
                rtcp_destination=(destination.host, destination.rtcp_port),
                drop_payload_types=self.call.dtmf_payload_types,
                srtp=_srtp(destination),
                local_leg=reserved,
                clock_rate=destination.codec.clock_rate,
                cname=self.resource.sid,
            )
            del self._forks.reserved[track]
            self._forks.active[track] = fork
            if not destination.active:
                fork.pause()
                self._forks.paused.add(track)

    # ------------------------------------------------------------------ in dialog

    async def _hold(self) -> TwilioError | None:
        """Until the recording is stopped (None) or the SRS is found gone (why)."""
        dialog = self.dialog
        assert dialog is not None
        stop = asyncio.ensure_future(self._stop_requested.wait())
        ended = asyncio.ensure_future(dialog.terminated.wait())
        waits: list[asyncio.Future[Any]] = [stop, ended]
        keepalive: asyncio.Future[TwilioError] | None = None
        if self.connector.keepalive_interval > 0:
            keepalive = asyncio.ensure_future(self._keepalive(dialog))
            waits.append(keepalive)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self._stop_requested.is_set():
            return None
        if keepalive is not None and keepalive.done() and not keepalive.cancelled():
            return keepalive.result()
        reason = dialog.termination_reason or "dialog ended"
        if reason in _NORMAL_ENDINGS:
            log.info("siprec %s: SRS ended the session (%s)", self.resource.sid, reason)
            return None
        return TwilioError(errors.SRS_LOST, srs_uri=self._srs_text, reason=reason)

    async def _keepalive(self, dialog: Dialog) -> TwilioError:
        """In-dialog OPTIONS every interval (RFC 3261 §11, as OpenSIPS' dialog pings do);
        returns once one fails. No answer within the interval (or Timer F, whichever comes
        first) counts as a failure: the SRS is gone or hung."""
        interval = self.connector.keepalive_interval
        timeout = min(interval, 64 * self._ctx.endpoint.config.t1)
        while True:
            await asyncio.sleep(interval)
            try:
                response = await asyncio.wait_for(dialog.request("OPTIONS"), timeout)
            except (SipTimeout, TimeoutError):
                reason = f"no answer to an in-dialog OPTIONS within {timeout:g} s"
                return TwilioError(errors.SRS_LOST, srs_uri=self._srs_text, reason=reason)
            except SipTransportError as exc:
                return TwilioError(errors.SRS_LOST, srs_uri=self._srs_text, reason=str(exc))
            if response.status in (408, 481):  # §12.2.1.2: the dialog is gone at the SRS
                reason = f"in-dialog OPTIONS answered {response.status} {response.reason}"
                return TwilioError(errors.SRS_LOST, srs_uri=self._srs_text, reason=reason)

    async def _on_request(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        if request.method in ("INVITE", "UPDATE"):
            await self._on_offer(transaction)
        elif request.method == "BYE":
            await transaction.respond(200)
            self._stop_requested.set()
        else:  # OPTIONS, INFO and anything else the dialog allows
            await transaction.respond(200)

    async def _on_offer(self, transaction: ServerTransaction) -> None:
        """A re-INVITE or UPDATE from the SRS: follow its new directions and addresses."""
        assert self._offer is not None
        request = transaction.request
        if request.body:
            try:
                destinations = self._destinations(request.body, request.headers.get("Content-Type"))
            except UnusableAnswer as exc:
                await transaction.respond(488, headers=[("Warning", f'399 src "{exc.reason}"')])
                return
            self._apply(destinations)
        elif request.method == "UPDATE":  # a session refresh: no offer, so no answer (RFC 3311
            await transaction.respond(200)  # §5.2); a bodyless re-INVITE gets our offer below
            return
        sdp = self._offer.sdp(paused=self._forks.paused).to_bytes()
        if request.method == "INVITE":
            await transaction.accept(body=sdp, content_type="application/sdp")
        else:
            await transaction.respond(200, body=sdp, content_type="application/sdp")

    def _apply(self, destinations: dict[str, ForkDestination]) -> None:
        for track, fork in self._forks.active.items():
            destination = destinations.get(track.label)
            if destination is None or not destination.active:
                fork.pause()
                self._forks.paused.add(track)
                continue
            fork.set_destination(destination.host, destination.rtp_port, destination.rtcp_port)
            fork.resume()
            self._forks.paused.discard(track)

    # ------------------------------------------------------------------ teardown

    def detach_media(self) -> None:
        """Stop forking now (the call's legs are about to close): the forks are removed,
        their counters kept; the SRS dialog ends later, in :meth:`stop`."""
        self._remove_forks()

    def _remove_forks(self) -> None:
        for fork in self._forks.active.values():
            if not fork.removed and not fork.leg.closed and not fork.engine.closed:
                self.media.add(MediaTotals.of(fork.stats()))
            fork.remove()
        for leg in self._forks.reserved.values():
            leg.close()
        self._forks = _Forks()

    async def _teardown(self) -> None:
        self._remove_forks()
        if self.dialog is not None and not self.dialog.terminated.is_set():
            await self._bye(self.dialog)

    async def _bye(self, dialog: Dialog) -> None:
        try:
            response = await asyncio.wait_for(dialog.request("BYE"), BYE_TIMEOUT)
            self.sip_responses.append(response.status)
        except (SipTimeout, SipTransportError, TimeoutError) as exc:
            log.info("siprec %s: BYE to SRS not answered: %s", self.resource.sid, exc)


_background_tasks: set[asyncio.Task[None]] = set()


def _background(coroutine: Coroutine[object, object, None], name: str) -> None:
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


def _srtp(destination: ForkDestination) -> SrtpParams | None:
    crypto = destination.local_crypto
    if crypto is None:
        return None
    return SrtpParams(crypto.suite, crypto.master_key, crypto.master_salt)
