"""The B2BUA: answers inbound calls, runs their TwiML, dials callees, anchors the media.

Each inbound INVITE becomes a :class:`~src_client.calls.call.Call` with its own task. The
stack has already sent 100 Trying; the call rings (180) while its TwiML is fetched, and the
interpreter answers it with the engine's address before the first verb that needs media.
``<Dial>`` INVITEs the callee with the caller's negotiated codec and payload types (the
engine relays packets unchanged, so both legs must agree) and relays the two legs.

Ending is one idempotent path (:meth:`_CallSession.end`), whoever starts it: a BYE from
either party, CANCEL before the answer, ``<Hangup>``, the document running out, a media
timeout, the REST API or shutdown. It BYEs whichever dialog is still up, stops the call's
media at once (forks, relay, engine ports), then stops every recording of the call (BYE to
each SRS, ``siprec-stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Final, Protocol

import aiohttp

from src_client import errors
from src_client.errors import TwilioError
from src_client.media import Engine, EngineEvent, Player
from src_client.sdp import Direction
from src_client.sids import SidPrefix, new_sid
from src_client.sip.auth import DigestCredentials
from src_client.sip.endpoint import Dialog, ServerTransaction, SipEndpoint
from src_client.sip.errors import SipError
from src_client.sip.message import Response as SipResponse
from src_client.sip.message import call_id, from_header, to_header
from src_client.sip.uri import NameAddr, SipUri, parse_uri
from src_client.siprec.service import SiprecService
from src_client.twiml.document import (
    Dial,
    DialSip,
    DialTarget,
    HttpMethod,
    Play,
    RejectReason,
    Start,
)
from src_client.twiml.document import Response as TwimlResponse
from src_client.twiml.interpreter import DialOutcome, Interpreter
from src_client.twiml.parser import parse_twiml
from src_client.webhooks import fetch_twiml

from .call import Call, CallLeg, CallStatus
from .negotiation import (
    LocalSdp,
    MediaOffer,
    NegotiationError,
    answer_offer,
    check_answer,
    read_offer,
)
from .prompts import PromptCache, PromptError
from .routing import Route, RouteTable, Trunk

__all__ = ["CallCounters", "CallManager", "CallOptions"]

log = logging.getLogger("src_client.calls")

SDP: Final = "application/sdp"
ALLOW: Final = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"
_BYE_TIMEOUT: Final = 5.0
_G711_PTS: Final = {"pcmu": 0, "pcma": 8}

ErrorReporter = Callable[[Call, Exception], None]


class RedirectTarget(Protocol):
    """Where a live call continues (the REST API's Call update): an inline document
    (``Twiml``) or one fetched from ``url`` with ``method`` (``Url``/``Method``)."""

    @property
    def twiml(self) -> TwimlResponse | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def method(self) -> HttpMethod: ...


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Tunables of the B2BUA.

    ``media_address`` is written in SDP (default: the engine's bind address); ``user`` is
    the user part of our URIs when ``callerId`` is a bare number; ``session_expires`` asks
    callees for RFC 4028 session timers; finished calls stay queryable ``history`` deep.
    """

    media_address: str | None = None
    host: str = "127.0.0.1"
    session_expires: int | None = 1800
    max_calls: int = 10_000
    history: int = 1_000
    hangup_on_media_timeout: bool = True


@dataclass(slots=True)
class CallCounters:
    """Exported by the daemon (Prometheus)."""

    inbound: int = 0
    answered: int = 0
    rejected: int = 0
    dials: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


class CallManager:
    """Every call through this host.

    Construct it once the endpoint listens and the SIPREC service exists; it takes over the
    endpoint's out-of-dialog requests (``endpoint.on_request``). ``auth_token`` maps an
    account SID to the token that signs its webhooks. Call :meth:`start` inside the event
    loop (it drains the engine's event stream: prompts ending, media timeouts) and
    :meth:`close` at shutdown.
    """

    def __init__(
        self,
        endpoint: SipEndpoint,
        engine: Engine,
        siprec: SiprecService,
        routes: Iterable[Route],
        auth_token: Callable[[str], str],
        *,
        trunk: Trunk | None = None,
        options: CallOptions | None = None,
        http: aiohttp.ClientSession | None = None,
        on_error: ErrorReporter | None = None,
        on_change: Callable[[Call], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.engine = engine
        self.siprec = siprec
        self.routes = RouteTable(routes)
        self.trunk = trunk
        self.options = options or CallOptions()
        self.counters = CallCounters()
        self.media_address = self.options.media_address or engine.address
        self._auth_token = auth_token
        self._http = http
        self._owns_http = http is None
        self._on_error = on_error
        self._on_change = on_change  # every status change, e.g. to save the call's record
        self._prompts = PromptCache(http)
        self._active: dict[str, _CallSession] = {}
        self._finished: OrderedDict[str, Call] = OrderedDict()
        self._by_leg: dict[int, _CallSession] = {}  # engine leg id -> call, for events
        self._players: dict[int, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._closing = False
        endpoint.on_request = self._on_request

    # ------------------------------------------------------------------ public API

    async def start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    def get(self, call_sid: str) -> Call:
        session = self._active.get(call_sid)
        if session is not None:
            return session.call
        call = self._finished.get(call_sid)
        if call is None:
            raise TwilioError(errors.CALL_NOT_FOUND, call_sid=call_sid)
        return call

    def active_calls(self) -> list[Call]:
        return [s.call for s in self._active.values()]

    def calls(self) -> list[Call]:
        """Every call still known: the finished ones kept (oldest first), then the active."""
        return [*self._finished.values(), *self.active_calls()]

    async def hangup(self, call_sid: str) -> Call:
        """End a call (REST ``Status=completed``); a finished call is returned unchanged."""
        session = self._active.get(call_sid)
        if session is None:
            return self.get(call_sid)
        await session.end(CallStatus.COMPLETED, "hung up through the API")
        return session.call

    async def redirect(self, call_sid: str, redirect: RedirectTarget) -> Call:
        """Run new TwiML on a live call (REST ``Twiml``/``Url``): what it is doing stops (a
        ``<Dial>``'s callee is hung up, a ``<Play>`` ends) and the new document runs."""
        session = self._active.get(call_sid)
        if session is None:
            self.get(call_sid)  # CALL_NOT_FOUND for an unknown SID
            raise TwilioError(errors.CALL_NOT_IN_PROGRESS, call_sid=call_sid,
                              status=self.get(call_sid).status.value,
                              operation="redirect it")  # fmt: skip
        session.redirect(redirect)
        return session.call

    async def close(self) -> None:
        self._closing = True
        await asyncio.gather(
            *(s.end(CallStatus.COMPLETED, "shutdown") for s in list(self._active.values())),
            return_exceptions=True,
        )
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_BYE_TIMEOUT)
        await self._prompts.close()
        if self._owns_http and self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ shared services

    def spawn(self, coroutine: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task failed", exc_info=task.exception())

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    def auth_token(self, account_sid: str) -> str:
        return self._auth_token(account_sid)

    def report(self, call: Call, error: Exception) -> None:
        log.warning("call %s: %s", call.sid, error)
        if self._on_error is not None:
            self._on_error(call, error)

    async def prompt(self, play: Play, payload_type: int) -> bytes:
        return await self._prompts.g711(play.source, local=play.local, payload_type=payload_type)

    def watch_player(self, player: Player) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._players[player.id] = future
        future.add_done_callback(lambda _: self._players.pop(player.id, None))
        return future

    def leg_added(self, leg_id: int, session: _CallSession) -> None:
        self._by_leg[leg_id] = session

    def leg_removed(self, leg_id: int) -> None:
        self._by_leg.pop(leg_id, None)

    def set_status(self, call: Call, status: CallStatus) -> None:
        call.set_status(status)
        if self._on_change is not None:
            self._on_change(call)

    def finished(self, session: _CallSession) -> None:
        call = session.call
        self._active.pop(call.sid, None)
        self.counters.statuses[call.status.value] = (
            self.counters.statuses.get(call.status.value, 0) + 1
        )
        self._finished[call.sid] = call
        while len(self._finished) > self.options.history:
            self._finished.popitem(last=False)

    # ------------------------------------------------------------------ SIP side

    async def _on_request(self, transaction: ServerTransaction) -> None:
        method = transaction.request.method
        if method == "INVITE":
            await self._inbound(transaction)
        elif method == "OPTIONS":
            await transaction.respond(200, headers=[("Allow", ALLOW), ("Accept", SDP)])
        else:
            await transaction.respond(405, headers=[("Allow", ALLOW)])

    async def _inbound(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        self.counters.inbound += 1
        if self._closing or len(self._active) >= self.options.max_calls:
            await transaction.respond(503, headers=[("Retry-After", "5")])
            return
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not request.body:
            await _refuse(transaction, 488, "an SDP offer is required in the INVITE")
            return
        if content_type != SDP:
            await transaction.respond(415, headers=[("Accept", SDP)])
            return
        try:
            offer = read_offer(request.body)
        except NegotiationError as exc:
            await _refuse(transaction, 488, exc.reason)
            return
        to = to_header(request)
        route = self.routes.match(request.uri.user, to.uri.user)
        if route is None:
            await transaction.respond(404, "No Route For Number")
            return
        try:
            leg = self.engine.allocate_leg(rtcp_mux=offer.rtcp_mux)
        except OSError as exc:  # the media port range is used up
            log.warning("INVITE %s refused: no media port free (%s)", call_id(request), exc)
            await transaction.respond(503, "No Media Port Free", headers=[("Retry-After", "5")])
            return
        caller = CallLeg(leg, LocalSdp(self.media_address, leg.local_address[1], (),
                                       rtcp_mux=offer.rtcp_mux))  # fmt: skip
        sender = from_header(request)
        call = Call(
            account_sid=route.account_sid,
            sip_call_id=call_id(request),
            from_=NameAddr(sender.uri, sender.display_name),
            to=NameAddr(to.uri, to.display_name),
            caller=caller,
        )
        session = _CallSession(self, call, transaction, offer, route)
        self._active[call.sid] = session
        self.leg_added(leg.id, session)
        log.info("call %s: INVITE %s from %s (Call-ID %s)", call.sid, request.uri,
                 call.from_.uri, call.sip_call_id)  # fmt: skip
        await transaction.respond(180)
        self.set_status(call, CallStatus.RINGING)
        session.task = self.spawn(session.run())
        await session.decided.wait()

    # ------------------------------------------------------------------ engine events

    async def _pump_events(self) -> None:
        async for event in self.engine.events():
            try:
                self.handle_engine_event(event)
            except Exception:
                log.exception("engine event %s could not be handled", event.kind)

    def handle_engine_event(self, event: EngineEvent) -> None:
        """Route one engine event (public so a daemon that owns the stream can forward)."""
        if event.kind == "player_done" and event.player_id is not None:
            future = self._players.get(event.player_id)
            if future is not None and not future.done():
                future.set_result(None)
        elif event.kind == "media_timeout" and self.options.hangup_on_media_timeout:
            session = self._by_leg.get(event.leg_id)
            if session is not None and not session.call.on_hold:
                self.spawn(session.end(CallStatus.COMPLETED, "media timeout"))


class _CallSession:
    """One call's control: the interpreter's :class:`CallControl` and the SIP handlers."""

    def __init__(self, manager: CallManager, call: Call, invite: ServerTransaction,
                 offer: MediaOffer, route: Route) -> None:  # fmt: skip
        self.manager = manager
        self.call = call
        self.invite = invite
        self.offer = offer
        self.route = route
        self.decided = asyncio.Event()  # the INVITE has its final response
        self.task: asyncio.Task[None] | None = None
        self.ended = False
        self._passthrough = False

    # -------------------------------------------------------------- CallControl

    @property
    def sid(self) -> str:
        return self.call.sid

    @property
    def active(self) -> bool:
        return not self.ended

    async def answer(self) -> None:
        call = self.call
        if call.caller.dialog is not None or self.ended:
            return
        if self.invite.cancelled.is_set() or self.invite.answered:
            await self.end(CallStatus.CANCELED, "CANCEL before answer")
            return
        offer = self.offer
        try:
            codecs = answer_offer(offer, allow_passthrough=self._passthrough)
        except NegotiationError as exc:
            await _refuse(self.invite, 488, exc.reason)
            await self.end(CallStatus.FAILED, exc.reason)
            return
        call.set_codecs(codecs)
        caller = call.caller
        _point(caller, offer)
        body = caller.sdp.render(offer.direction.reversed(), mirror=offer.sdp,
                                 audio_index=offer.index)  # fmt: skip
        try:
            dialog = await self.invite.accept(body=body, content_type=SDP)
        except SipError:  # the CANCEL won the race: the stack answered 487
            await self.end(CallStatus.CANCELED, "CANCEL before answer")
            return
        self.decided.set()
        caller.dialog = dialog
        dialog.on_request = partial(self._in_dialog, caller)
        self.manager.set_status(call, CallStatus.IN_PROGRESS)
        call.sync_hold()
        self.manager.counters.answered += 1
        self.manager.spawn(self._watch_caller(dialog))
        log.info("call %s: answered with %s", call.sid, call.audio_codec.name)

    async def reject(self, reason: RejectReason) -> None:
        if self.call.caller.dialog is not None:
            await self.hangup()
            return
        busy = reason is RejectReason.BUSY
        if not self.invite.answered:
            with contextlib.suppress(SipError):
                await self.invite.respond(486 if busy else 603)
        self.decided.set()
        self.manager.counters.rejected += 1
        await self.end(CallStatus.BUSY if busy else CallStatus.FAILED, f"<Reject {reason}>")

    async def hangup(self) -> None:
        await self.end(CallStatus.COMPLETED, "hung up by TwiML")

    async def play(self, play: Play) -> None:
        call = self.call
        pt = _G711_PTS.get(call.audio_codec.name.lower())
        if pt is None or call.audio_codec.pt != pt:
            self.manager.report(call, PromptError(
                f"<Play> needs G.711 and the call uses {call.audio_codec.name}"))  # fmt: skip
            return
        try:
            payload = await self.manager.prompt(play, pt)
        except PromptError as exc:
            self.manager.report(call, exc)
            return
        player = self.manager.engine.play(call.caller.media, payload, pt, loop=play.loop)
        done = self.manager.watch_player(player)
        try:
            await done
        finally:
            if not done.done():
                done.cancel()
                if not call.caller.media.closed:
                    player.stop()

    async def fetch(self, url: str, method: HttpMethod,
                    extra: Mapping[str, str]) -> TwimlResponse:  # fmt: skip
        params = {**self.call.request_params(), **extra}
        fetched = await fetch_twiml(url, method, params,
                                    self.manager.auth_token(self.call.account_sid),
                                    timeout=self.route.timeout,
                                    session=self.manager.http())  # fmt: skip
        return parse_twiml(fetched.text, base_url=fetched.url)

    def start_siprec(self, start: Start) -> list[TwilioError]:
        failures = []
        for siprec in start.siprecs:
            method = siprec.status_callback_method
            try:
                self.manager.siprec.create(
                    self.call.recorded,
                    connector_name=siprec.connector_name,
                    name=siprec.name,
                    track=siprec.track.value,
                    status_callback=siprec.status_callback,
                    status_callback_method=method.value if method is not None else None,
                    parameters=[(p.name, p.value) for p in siprec.parameters],
                )
            except TwilioError as exc:
                failures.append(exc)
        return failures

    async def stop_siprec(self, name: str) -> None:
        await self.manager.siprec.stop(self.sid, name)

    async def dial(self, dial: Dial) -> DialOutcome:
        self.manager.counters.dials += 1
        loop = asyncio.get_running_loop()
        early = len(dial.targets) == 1  # one callee: relay from the start (early media)
        ringing = [loop.create_task(self.ring(t, dial, early=early)) for t in dial.targets]
        try:
            answered, status = await _first_answer(ringing, dial.timeout)
        except asyncio.CancelledError:  # the call ended: a callee that just answered is hung up
            for task in ringing:
                finished = task.done() and not task.cancelled() and task.exception() is None
                outcome = task.result() if finished else None
                if isinstance(outcome, tuple):
                    self.manager.spawn(self._unbridge(outcome[0]))
            raise
        finally:
            for task in ringing:
                task.cancel()
        for extra in answered[1:]:  # answered at the same moment as the winner
            await self._unbridge(extra[0])
        if not answered:
            log.info("call %s: <Dial> %s", self.sid, status)
            return DialOutcome(status)
        return await self._bridge(answered[0])

    # -------------------------------------------------------------- the run

    def redirect(self, redirect: RedirectTarget) -> None:
        if self.call.caller.dialog is None or self.ended:
            raise TwilioError(errors.CALL_NOT_IN_PROGRESS, call_sid=self.sid,
                              status=self.call.status.value, operation="redirect it")  # fmt: skip
        previous = self.task
        self.task = self.manager.spawn(self.run(redirect, previous))
        if previous is not None:
            previous.cancel()

    async def run(self, redirect: RedirectTarget | None = None,
                  previous: asyncio.Task[None] | None = None) -> None:  # fmt: skip
        """The call's life: its document, then the end. Whatever goes wrong ends this call
        (and answers its INVITE), never another. A redirect starts a new run that takes over
        once the ``previous`` one has stopped."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await self._run(redirect)
        except asyncio.CancelledError:
            pass  # end() is tearing the call down, or a redirect took over
        except Exception as exc:
            log.exception("call %s: failed", self.sid)
            self.manager.report(self.call, exc)
        finally:
            if not self.ended and self.task is asyncio.current_task():
                answered = self.call.caller.dialog is not None
                await self.end(CallStatus.COMPLETED if answered else CallStatus.FAILED,
                               "TwiML finished" if answered else "not answered")  # fmt: skip

    async def _run(self, redirect: RedirectTarget | None) -> None:
        try:
            if redirect is None:
                document = await self._first_document()
            elif redirect.twiml is not None:
                document = redirect.twiml
            else:
                assert redirect.url is not None
                document = await self.fetch(redirect.url, redirect.method, {})
        except TwilioError as exc:
            self.manager.report(self.call, exc)
            if not self.invite.answered:
                with contextlib.suppress(SipError):
                    await self.invite.respond(500, "Application Error")
            await self.end(CallStatus.FAILED if redirect is None else CallStatus.COMPLETED,
                           f"TwiML: {exc}")  # fmt: skip
            return
        if document is None:
            return
        self._passthrough = not _plays(document)
        interpreter = Interpreter(
            self,
            report=lambda _sid, error: self.manager.report(self.call, error),
        )
        await interpreter.run(document)

    async def _first_document(self) -> TwimlResponse | None:
        """The route's document; None when the caller cancelled while it was fetched."""
        route = self.route
        if route.twiml is not None:
            return parse_twiml(route.twiml)
        assert route.voice_url is not None
        fetch = asyncio.ensure_future(fetch_twiml(
            route.voice_url, route.voice_method, self.call.request_params(),
            self.manager.auth_token(self.call.account_sid), timeout=route.timeout,
            fallback_url=route.fallback_url, fallback_method=route.fallback_method,
            session=self.manager.http(),
        ))  # fmt: skip
        cancelled = asyncio.ensure_future(self.invite.cancelled.wait())
        try:
            await asyncio.wait([fetch, cancelled], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            fetch.cancel()
            raise
        finally:
            cancelled.cancel()
        if not fetch.done():
            fetch.cancel()
            await self.end(CallStatus.CANCELED, "CANCEL before answer")
            return None
        fetched = fetch.result()
        return parse_twiml(fetched.text, base_url=fetched.url)

    # -------------------------------------------------------------- dialing

    async def ring(
        self, target: DialTarget, dial: Dial, *, early: bool
    ) -> tuple[CallLeg, str] | str:
        """INVITE one callee; its answered leg and child call SID, or a DialCallStatus.

        With ``early`` the legs are relayed before the INVITE goes out, so nothing the callee
        says right after answering (or as early media) is lost while the answer is handled.
        """
        manager = self.manager
        try:
            uri, credentials = self._resolve_target(target)
        except (SipError, ValueError) as exc:
            manager.report(self.call, exc)
            return "failed"
        try:
            leg = manager.engine.allocate_leg()
        except OSError as exc:
            manager.report(self.call, OSError(f"<Dial>: no media port free ({exc})"))
            return "failed"
        manager.leg_added(leg.id, self)
        callee = CallLeg(leg, LocalSdp(manager.media_address, leg.local_address[1],
                                       self.call.codecs))  # fmt: skip
        child_sid = new_sid(SidPrefix.CALL)
        if early:
            manager.engine.relay(self.call.caller.media, leg)
            callee.relayed = True
        bridged = False
        try:
            result = await manager.endpoint.invite(
                uri,
                from_=self._caller_id(dial.caller_id),
                to=NameAddr(uri.replace(params=(), headers=())),
                body=callee.sdp.render(Direction.SENDRECV),
                content_type=SDP,
                credentials=credentials,
                session_expires=manager.options.session_expires,
                on_provisional=partial(self._early_media, callee),
            )
            status = _dial_status(result.response)
            if result.dialog is None:
                return status
            dialog = result.dialog
            try:
                answer = read_offer(result.response.body)
                check_answer(answer, self.call.codecs)
            except NegotiationError as exc:
                manager.report(self.call, exc)
                manager.spawn(_bye(dialog))
                return "failed"
            _point(callee, answer)
            callee.dialog = dialog
            dialog.on_request = partial(self._in_dialog, callee)
            bridged = True
            return callee, child_sid
        except SipError as exc:
            log.info("call %s: <Dial> %s failed: %s", self.sid, uri, exc)
            return "failed"
        finally:
            if not bridged:
                self._unrelay(callee)
                manager.leg_removed(leg.id)
                leg.close()

    def _early_media(self, callee: CallLeg, response: SipResponse) -> None:
        """A 18x with SDP (early media, RFC 3960): the callee's media address is signalled
        now, so strict latching lets its ringback or announcement through to the caller."""
        if not response.body:
            return
        try:
            _point(callee, read_offer(response.body))
        except NegotiationError as exc:
            log.info("call %s: early media SDP ignored: %s", self.sid, exc)

    def _resolve_target(self, target: DialTarget) -> tuple[SipUri, DigestCredentials | None]:
        if isinstance(target, DialSip):
            uri = parse_uri(target.uri)
            credentials = None
            if target.username is not None:
                credentials = DigestCredentials(target.username, target.password or "")
            return uri, credentials
        if self.manager.trunk is None:
            raise ValueError(f"<Number>{target.number}: no SIP trunk is configured")
        return self.manager.trunk.target(target.number), self.manager.trunk.credentials

    def _caller_id(self, caller_id: str | None) -> NameAddr:
        """Twilio's default callerId is the caller's own; a bare number goes out as
        ``sip:number@host``."""
        if caller_id is None:
            return NameAddr(self.call.from_.uri, self.call.from_.display_name)
        if caller_id.lower().startswith(("sip:", "sips:")):
            return NameAddr(parse_uri(caller_id))
        return NameAddr(SipUri("sip", self.manager.options.host, caller_id))

    async def _bridge(self, answered: tuple[CallLeg, str]) -> DialOutcome:
        callee, child_sid = answered
        call = self.call
        engine = self.manager.engine
        if self.ended:
            await self._unbridge(callee)
            return DialOutcome("canceled")
        call.callee = callee
        if not callee.relayed:
            engine.relay(call.caller.media, callee.media)
            callee.relayed = True
        started = asyncio.get_running_loop().time()
        log.info("call %s: bridged to %s", call.sid, child_sid)
        assert callee.dialog is not None
        try:
            await callee.dialog.terminated.wait()
        finally:
            if not self.ended:
                await self._unbridge(callee)
        duration = int(asyncio.get_running_loop().time() - started)
        return DialOutcome("completed", child_sid, duration)

    async def _unbridge(self, callee: CallLeg) -> None:
        call = self.call
        if call.callee is callee:
            call.callee = None
        self._unrelay(callee)
        if callee.dialog is not None and not callee.dialog.is_terminated:
            self.manager.spawn(_bye(callee.dialog))
        self._close(callee, "callee")
        if call.sync_hold() and call.status is CallStatus.IN_PROGRESS:
            self.manager.spawn(self.manager.siprec.call_updated(call.sid))

    def _unrelay(self, callee: CallLeg) -> None:
        if callee.relayed and not callee.media.closed and not self.call.caller.media.closed:
            self.manager.engine.unrelay(self.call.caller.media, callee.media)
        callee.relayed = False

    # -------------------------------------------------------------- in-dialog requests

    async def _in_dialog(self, leg: CallLeg, transaction: ServerTransaction) -> None:
        request = transaction.request
        method = request.method
        if method == "BYE":
            await transaction.respond(200)  # ends the dialog: the watcher ends the call
        elif method in ("INVITE", "UPDATE"):
            await self._renegotiate(leg, transaction)
        elif method in ("OPTIONS", "INFO"):
            await transaction.respond(200)
        else:
            await transaction.respond(405, headers=[("Allow", ALLOW)])

    async def _renegotiate(self, leg: CallLeg, transaction: ServerTransaction) -> None:
        """A re-INVITE or UPDATE: hold/unhold or a new media address (RFC 3264 §8)."""
        request = transaction.request
        if not request.body:
            if request.method == "UPDATE":
                await transaction.respond(200)  # a session refresh (RFC 4028)
            else:  # offerless re-INVITE: our offer in the 2xx, the answer comes in the ACK
                body = leg.sdp.render(Direction.RECVONLY if leg.on_hold else Direction.SENDRECV)
                await transaction.respond(200, body=body, content_type=SDP)
            return
        try:
            offer = read_offer(request.body)
            check_answer(offer, self.call.codecs)
        except NegotiationError as exc:
            await _refuse(transaction, 488, exc.reason)
            return
        _point(leg, offer)
        body = leg.sdp.render(offer.direction.reversed(), mirror=offer.sdp,
                              audio_index=offer.index)  # fmt: skip
        await transaction.respond(200, body=body, content_type=SDP)
        if self.call.sync_hold():
            log.info("call %s: %s", self.sid, "on hold" if self.call.on_hold else "resumed")
            await self.manager.siprec.call_updated(self.sid)

    async def _watch_caller(self, dialog: Dialog) -> None:
        await dialog.terminated.wait()
        await self.end(CallStatus.COMPLETED, dialog.termination_reason or "caller hung up")

    # -------------------------------------------------------------- the end

    async def end(self, status: CallStatus, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        manager = self.manager
        call = self.call
        call.end_reason = reason
        self.decided.set()
        if call.caller.dialog is None and not self.invite.answered:
            with contextlib.suppress(SipError):
                await self.invite.respond(480 if status is CallStatus.COMPLETED else 500)
        manager.set_status(call, status)
        log.info("call %s: %s (%s)", call.sid, status.value, reason)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        for leg in (call.caller, call.callee):
            if leg is not None and leg.dialog is not None and not leg.dialog.is_terminated:
                manager.spawn(_bye(leg.dialog))
        # The media ends with the call, at once: forks, then the relay and its ports. The SRS
        # dialogs end afterwards (a slow or dead SRS must not keep the call's audio flowing).
        try:
            manager.siprec.detach_media(call.sid)
        finally:
            if call.callee is not None:
                self._close(call.callee, "callee")
            self._close(call.caller, "caller")
        try:
            await manager.siprec.stop_call(call.sid)
        finally:
            manager.finished(self)

    def _close(self, leg: CallLeg, role: str) -> None:
        """Free the leg's ports, keeping its final counters on the call (for CDRs)."""
        if leg.media.closed:
            return
        if not self.manager.engine.closed:
            self.call.media_stats[role] = leg.media.stats()
        self.manager.leg_removed(leg.media.id)
        leg.media.close()


# ---------------------------------------------------------------------- helpers


def _point(leg: CallLeg, offer: MediaOffer) -> None:
    """Send the leg's media where the party's SDP says (kept as is while it holds with
    ``c=0.0.0.0``); its hold state follows its direction."""
    if offer.host is not None:
        leg.media.set_remote(offer.host, offer.port, offer.rtcp_port)
    leg.on_hold = offer.on_hold


def _plays(document: TwimlResponse) -> bool:
    return any(isinstance(verb, Play) for verb in document.verbs)


def _dial_status(response: SipResponse) -> str:
    status = response.status
    if 200 <= status < 300:
        return "completed"
    if status in (486, 600):
        return "busy"
    if status in (408, 480, 487):
        return "no-answer"
    return "failed"


async def _first_answer(
    ringing: list[asyncio.Task[tuple[CallLeg, str] | str]], timeout: int
) -> tuple[list[tuple[CallLeg, str]], str]:
    """Twilio rings every target at once; the first to answer wins (the caller cancels the
    rest). Without an answer the status is the most telling one seen."""
    pending = set(ringing)
    statuses: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return [], "no-answer"
        done, pending = await asyncio.wait(pending, timeout=remaining,
                                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        answered = []
        for task in done:
            outcome = task.result()
            if isinstance(outcome, tuple):
                answered.append(outcome)
            else:
                statuses.append(outcome)
        if answered:
            return answered, "completed"
    for preferred in ("busy", "no-answer", "failed"):
        if preferred in statuses:
            return [], preferred
    return [], "failed"


async def _bye(dialog: Dialog) -> None:
    """BYE, once the ACK for our 2xx arrived (RFC 3261 §15: a UAS must not BYE before it;
    without an ACK the stack ends the dialog itself after 64*T1)."""
    if not dialog.confirmed.is_set():
        waits = [asyncio.ensure_future(dialog.confirmed.wait()),
                 asyncio.ensure_future(dialog.terminated.wait())]  # fmt: skip
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
    if dialog.is_terminated:
        return
    with contextlib.suppress(SipError, TimeoutError):
        await asyncio.wait_for(dialog.bye(), _BYE_TIMEOUT)


async def _refuse(transaction: ServerTransaction, status: int, reason: str) -> None:
    """A refusal that says why (Warning 399, RFC 3261 §20.43)."""
    text = reason.replace('"', "'")
    await transaction.respond(status, headers=[("Warning", f'399 src-client "{text}"')])
