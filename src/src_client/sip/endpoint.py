"""The asyncio SIP endpoint: :class:`UserAgentCore` + :class:`TransportLayer` + a small API.

Deviation from SIP-API.md: ``TransportLayer`` takes its ``on_message`` callback at
construction, so the endpoint builds it: ``SipEndpoint(config, tls_client_context=...)``
then ``await endpoint.listen("udp", "127.0.0.1", 0)`` (or ``await SipEndpoint.create(config,
listen=[("udp", "127.0.0.1", 0)])``); the layer is ``endpoint.transports``. Additions:
``SipConfig.min_se``; ``ServerTransaction.dialog`` / ``.answered``; ``Dialog.confirmed``,
``.credentials`` (answers 401/407 in the dialog), ``.peer``, ``.session_interval``,
``.is_terminated``, ``.bye()``; ``listen(..., advertise=...)`` sets the host written in
Via/Contact when bound to a wildcard address. ``on_provisional`` never sees 100 Trying.

How it runs: one callback per received message (no task), one ``loop.call_at`` handle for the
earliest deadline of the core's timer heap, and a task only while an ``on_request`` handler
runs. A handler that raises is logged once and its request answered 500; a handler that
returns without a final response gets 500 too (every request is answered, so no transaction
is left waiting). Nothing the stack does raises into the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from . import session_timer
from .auth import DigestCredentials, DigestSession, parse_challenge
from .core import (
    ALLOW,
    CoreConfig,
    DialogConfirmed,
    DialogTerminated,
    Event,
    NoTransport,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    TransactionFailed,
    UserAgentCore,
)
from .dialog import Dialog as CoreDialog
from .dialog import DialogState
from .errors import SipError, SipParseError
from .guard import GuardPolicy, InboundGuard
from .message import Request, Response
from .resolver import resolve, resolve_literal
from .timers import TimerConfig
from .transaction import (
    ClientTransaction,
    Failure,
    InviteClientTransaction,
    TransactionStateError,
)
from .transaction import ServerTransaction as CoreServerTransaction
from .transport import Address, TransportError, TransportLayer
from .uri import NameAddr, SipUri

log = logging.getLogger(__name__)

Header = tuple[str, str]


class SipTimeout(SipError):
    """No final response: Timer B (INVITE) or Timer F (other requests) fired."""


class SipTransportError(SipError):
    """The request could not be sent to any of the target's addresses."""


@dataclass(frozen=True, slots=True)
class SipConfig:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    user_agent: str = "src-client"
    mtu: int = 1300  # RFC 3261 §18.1.1: larger requests go over TCP
    max_message_size: int = 65535
    min_se: int = session_timer.MIN_SE_FLOOR  # RFC 4028: shortest session interval accepted
    supported: tuple[str, ...] = ("timer",)  # option tags a Require may name (an SRS: siprec)
    guard: GuardPolicy | None = None  # who may send requests (None: anyone, sip/guard.py)

    def core_config(self) -> CoreConfig:
        return CoreConfig(
            timers=TimerConfig(self.t1, self.t2, self.t4),
            user_agent=self.user_agent,
            mtu=self.mtu,
            max_message_size=self.max_message_size,
            min_se=self.min_se,
            supported=self.supported,
        )


@dataclass(frozen=True, slots=True)
class InviteResult:
    response: Response  # the final response
    dialog: Dialog | None  # set for a 2xx


RequestHandler = Callable[["ServerTransaction"], Awaitable[None]]


class _Pending:
    """Owner of a client transaction we await: the future of its final outcome."""

    __slots__ = ("future", "on_provisional")

    def __init__(self, future: asyncio.Future[tuple[Response, CoreDialog | None]],
                 on_provisional: Callable[[Response], None] | None) -> None:
        self.future = future
        self.on_provisional = on_provisional


class ServerTransaction:
    """A request received by the endpoint, to be answered once."""

    __slots__ = ("_cancelled", "_ep", "_txn", "dialog")

    def __init__(self, ep: SipEndpoint, txn: CoreServerTransaction,
                 dialog: Dialog | None) -> None:
        self._ep = ep
        self._txn = txn
        self._cancelled: asyncio.Event | None = None
        self.dialog = dialog  # the dialog of an in-dialog request

    @property
    def request(self) -> Request:
        return self._txn.request

    @property
    def remote(self) -> Address:
        """Where responses go (the source address, §18.2.2 with RFC 3581)."""
        return self._txn.remote

    @property
    def cancelled(self) -> asyncio.Event:
        """Set when a CANCEL matched this INVITE (the 487 is already sent)."""
        if self._cancelled is None:
            self._cancelled = asyncio.Event()
        return self._cancelled

    @property
    def answered(self) -> bool:
        return self._txn.final_sent

    async def respond(self, status: int, reason: str | None = None, *,
                      headers: Iterable[Header] = (), body: bytes = b"",
                      content_type: str | None = None) -> None:
        self._ep._respond(self._txn, status, reason, headers, body, content_type)

    async def accept(self, *, headers: Iterable[Header] = (), body: bytes = b"",
                     content_type: str | None = None) -> Dialog:
        """200 to an INVITE (retransmitted until the ACK, RFC 3261 §13.3.1.4).

        Raises TransactionStateError when the INVITE was already answered (e.g. cancelled)."""
        if self._txn.request.method != "INVITE":
            raise SipError("accept() answers an INVITE")
        core_dialog = self._ep._respond(self._txn, 200, None, headers, body, content_type)
        if core_dialog is None:
            raise SipError("no dialog was created")
        return self._ep._wrap(core_dialog)


class Dialog:
    """A dialog as the application sees it (RFC 3261 §12); state lives in the core."""

    __slots__ = ("_confirmed", "_core", "_ep", "_terminated", "credentials", "on_request",
                 "termination_reason")  # fmt: skip

    def __init__(self, ep: SipEndpoint, core_dialog: CoreDialog) -> None:
        self._ep = ep
        self._core = core_dialog
        self._terminated: asyncio.Event | None = None
        self._confirmed: asyncio.Event | None = None
        self.on_request: RequestHandler | None = None
        self.credentials: DigestCredentials | None = None  # answers challenges in the dialog
        self.termination_reason: str | None = None

    @property
    def call_id(self) -> str:
        return self._core.call_id

    @property
    def local_tag(self) -> str:
        return self._core.local_tag

    @property
    def remote_tag(self) -> str:
        return self._core.remote_tag

    @property
    def local(self) -> NameAddr:
        return self._core.local

    @property
    def remote(self) -> NameAddr:
        return self._core.remote

    @property
    def remote_target(self) -> SipUri:
        return self._core.remote_target

    @property
    def route_set(self) -> list[NameAddr]:
        return self._core.route_set

    @property
    def local_cseq(self) -> int:
        return self._core.local_cseq

    @property
    def remote_cseq(self) -> int:
        return self._core.remote_cseq

    @property
    def peer(self) -> Address:
        return self._core.peer

    @property
    def session_interval(self) -> int | None:
        timer = self._core.session_timer
        return timer.interval if timer is not None else None

    @property
    def is_terminated(self) -> bool:
        return self._core.state is DialogState.TERMINATED

    @property
    def terminated(self) -> asyncio.Event:
        if self._terminated is None:
            self._terminated = asyncio.Event()
            if self.is_terminated:
                self._terminated.set()
        return self._terminated

    @property
    def confirmed(self) -> asyncio.Event:
        """Set once the ACK for our 2xx arrived (always set for a dialog we created as UAC)."""
        if self._confirmed is None:
            self._confirmed = asyncio.Event()
            if self._core.is_uac or self._core.answer is None:
                self._confirmed.set()
        return self._confirmed

    async def request(self, method: str, *, headers: Iterable[Header] = (), body: bytes = b"",
                      content_type: str | None = None) -> Response:
        """Send an in-dialog request and return its final response (a 491 is returned, not
        retried). A re-INVITE's 2xx is ACKed by the stack; BYE ends the dialog."""
        ep = self._ep
        extra = list(headers)
        auth: list[Header] = []
        for attempt in range(2):
            sent = extra + auth

            def start(owner: _Pending, sent: list[Header] = sent) -> ClientTransaction:
                return ep.core.dialog_request(self._core, method, headers=sent, body=body,
                                              content_type=content_type, owner=owner)

            response, _ = await ep._await(start)
            if attempt == 0 and response.status in (401, 407):
                auth = ep._authorize(response, self.credentials, method, self.remote_target,
                                     body)  # fmt: skip
                if auth:
                    continue
            return response
        raise AssertionError("unreachable")

    async def bye(self) -> Response:
        return await self.request("BYE")


class SipEndpoint:
    """A SIP user agent (UAC and UAS) on asyncio."""

    def __init__(self, config: SipConfig | None = None, *,
                 tls_client_context: ssl.SSLContext | None = None,
                 idle_timeout: float = 300.0) -> None:
        self.config = config or SipConfig()
        self.core = UserAgentCore(self.config.core_config())
        if self.config.guard is not None:
            self.core.guard = InboundGuard(self.config.guard)
        self.transports = TransportLayer(
            self._on_message, self._on_error, tls_client_context=tls_client_context,
            max_message_size=self.config.max_message_size, idle_timeout=idle_timeout,
        )  # fmt: skip
        self.core.connection_local = self.transports.connection_local
        self.on_request: RequestHandler | None = None
        self._digest = DigestSession()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def create(cls, config: SipConfig | None = None, *,
                     listen: Sequence[tuple[str, str, int]] = (("udp", "127.0.0.1", 0),),
                     tls_client_context: ssl.SSLContext | None = None,
                     ssl_context: ssl.SSLContext | None = None) -> SipEndpoint:
        """An endpoint listening on each ``(transport, host, port)``."""
        endpoint = cls(config, tls_client_context=tls_client_context)
        for transport, host, port in listen:
            await endpoint.listen(transport, host, port,
                                  ssl_context=ssl_context if transport == "tls" else None)
        return endpoint

    async def listen(self, transport: str, host: str, port: int = 0, *,
                     ssl_context: ssl.SSLContext | None = None,
                     advertise: str | None = None) -> Address:
        """Listen; the first address per transport goes into Via and Contact."""
        self._loop = asyncio.get_running_loop()
        address = await self.transports.listen(transport, host, port, ssl_context)
        shown = address if advertise is None else Address(address.transport, advertise,
                                                          address.port)  # fmt: skip
        self.core.local_addresses.setdefault(address.transport, shown)
        return address

    async def close(self) -> None:
        """Stop: requests still waiting for a response fail with SipTransportError."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        for txn in self.core.client_transactions():
            owner = txn.owner
            if isinstance(owner, _Pending) and not owner.future.done():
                owner.future.set_exception(SipTransportError("endpoint closed"))
        await self.transports.close()

    # --- UAC ----------------------------------------------------------------------------------

    async def invite(
        self,
        target: SipUri,
        *,
        from_: NameAddr,
        to: NameAddr,
        headers: Sequence[Header] = (),
        body: bytes = b"",
        content_type: str | None = None,
        credentials: DigestCredentials | None = None,
        contact_params: str = "",
        session_expires: int | None = None,
        on_provisional: Callable[[Response], None] | None = None,
        destination: Address | None = None,
    ) -> InviteResult:
        """Place a call; returns at the final response (a 2xx is ACKed by the stack).

        ``on_provisional`` sees 101-199 responses (100 Trying is hop by hop). A 401/407 is
        answered once with ``credentials``, a 422 once with the larger interval (RFC 4028
        §7.3), both in the same call (Call-ID, From tag, CSeq + 1). Cancelling the awaiting
        task sends CANCEL (once a provisional response arrived, RFC 3261 §9.1); a 2xx that
        still arrives is ACKed and ended with BYE. Raises SipTimeout / SipTransportError after
        every resolved address was tried (RFC 3263 §4.3)."""
        interval = session_expires
        min_se: int | None = None
        retried: set[int] = set()
        call = _CallState(from_)

        def extra() -> list[Header]:
            st = session_timer.request_headers(interval, min_se) if interval else []
            return [*headers, *st]

        response, dialog = await self._out_of_dialog(
            "INVITE", call, target, from_, to, extra, body, content_type, contact_params,
            on_provisional, destination, credentials, retried,
        )  # fmt: skip
        while response.status == 422 and interval and 422 not in retried:
            retried.add(422)
            new = session_timer.retry_interval(response, interval)
            if new is None:
                break
            interval = min_se = new
            response, dialog = await self._out_of_dialog(
                "INVITE", call, target, from_, to, extra, body, content_type, contact_params,
                on_provisional, destination, credentials, retried,
            )  # fmt: skip
        if dialog is None or not 200 <= response.status < 300:
            return InviteResult(response, None)
        wrapper = self._wrap(dialog)
        wrapper.credentials = credentials
        return InviteResult(response, wrapper)

    async def request(
        self,
        target: SipUri,
        method: str,
        *,
        from_: NameAddr,
        to: NameAddr,
        headers: Sequence[Header] = (),
        body: bytes = b"",
        content_type: str | None = None,
        credentials: DigestCredentials | None = None,
        destination: Address | None = None,
    ) -> Response:
        """An out-of-dialog request (OPTIONS, MESSAGE, ...): its final response."""
        if method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"use invite() / the stack for {method}")
        response, _ = await self._out_of_dialog(
            method, _CallState(from_), target, from_, to, lambda: list(headers), body,
            content_type, "", None, destination, credentials, set(),
        )  # fmt: skip
        return response

    async def _out_of_dialog(
        self,
        method: str,
        call: _CallState,
        target: SipUri,
        from_: NameAddr,
        to: NameAddr,
        extra: Callable[[], list[Header]],
        body: bytes,
        content_type: str | None,
        contact_params: str,
        on_provisional: Callable[[Response], None] | None,
        destination: Address | None,
        credentials: DigestCredentials | None,
        retried: set[int],
    ) -> tuple[Response, CoreDialog | None]:
        candidates = [destination] if destination is not None else (
            self._literal(target) or await self._resolve(target))  # fmt: skip
        error: SipError | None = None
        for address in candidates:
            try:
                await self._connect_unless_listening(address)
            except SipTransportError as unreachable:  # RFC 3263 §4.3: try the next address
                error = unreachable  # (a name of its own: mypyc types an `as` name only once)
                continue
            while True:
                call.cseq += 1
                contact = None
                if method in ("INVITE", "SUBSCRIBE", "REFER"):
                    contact = self._contact(address, from_.uri.user, contact_params)
                sent = extra() + call.auth

                def start(owner: _Pending, address: Address = address,
                          contact: str | None = contact,
                          sent: list[Header] = sent) -> ClientTransaction:
                    return self.core.send_request(
                        method, target, address, from_=call.from_value, to=str(to),
                        call_id=call.call_id, cseq=call.cseq, contact=contact, headers=sent,
                        body=body, content_type=content_type, owner=owner,
                    )  # fmt: skip

                try:
                    response, dialog = await self._await(start, on_provisional,
                                                         cancellable=method == "INVITE")
                except (SipTimeout, SipTransportError) as exc:
                    error = exc  # RFC 3263 §4.3: try the next address
                    break
                if response.status in (401, 407) and response.status not in retried:
                    retried.add(response.status)
                    call.auth = self._authorize(response, credentials, method, target, body)
                    if call.auth:
                        continue
                return response, dialog
        raise error or SipTransportError(f"no address for {target}")

    async def _connect_unless_listening(self, address: Address) -> None:
        """Open the TCP/TLS connection first when we do not listen on its transport: Via and
        Contact then carry its local address (RFC 5923), which exists only once connected."""
        if address.transport == "udp" or address.transport in self.core.local_addresses:
            return
        try:
            await self.transports.connect(address)
        except TransportError as exc:
            raise SipTransportError(str(exc)) from None

    def _contact(self, address: Address, user: str | None, params: str) -> str:
        try:
            return self.core.contact(address.transport, user, params, address)
        except NoTransport as exc:
            raise SipTransportError(str(exc)) from None

    @staticmethod
    def _literal(target: SipUri) -> list[Address] | None:
        try:
            return resolve_literal(target)
        except SipError as exc:
            raise SipTransportError(f"cannot resolve {target}: {exc}") from None

    async def _resolve(self, target: SipUri) -> list[Address]:
        try:
            addresses = await resolve(target)
        except SipError as exc:
            raise SipTransportError(f"cannot resolve {target}: {exc}") from None
        if not addresses:
            raise SipTransportError(f"no address for {target}")
        return addresses

    def _authorize(self, response: Response, credentials: DigestCredentials | None,
                   method: str, uri: SipUri, body: bytes) -> list[Header]:
        """RFC 3261 §22.2 / RFC 7616: Authorization for every challenge we can answer."""
        if credentials is None:
            return []
        if response.status == 401:
            challenge_name, answer_name = "WWW-Authenticate", "Authorization"
        else:
            challenge_name, answer_name = "Proxy-Authenticate", "Proxy-Authorization"
        answers: list[Header] = []
        for value in response.headers.get_all(challenge_name):
            try:
                challenge = parse_challenge(value)
                answers.append((answer_name, self._digest.authorization(
                    challenge, credentials, method, str(uri), body)))  # fmt: skip
            except SipError as exc:
                log.info("cannot answer %s challenge: %s", challenge_name, exc)
                continue
            break  # one answer per realm is enough for our peers
        return answers

    async def _await(
        self,
        start: Callable[[_Pending], ClientTransaction],
        on_provisional: Callable[[Response], None] | None = None,
        *,
        cancellable: bool = False,
    ) -> tuple[Response, CoreDialog | None]:
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[tuple[Response, CoreDialog | None]] = loop.create_future()
        pending = _Pending(future, on_provisional)
        self.core.now = loop.time()
        try:
            txn = start(pending)
        except NoTransport as exc:
            raise SipTransportError(str(exc)) from None
        self._process()
        try:
            return await future
        except asyncio.CancelledError:
            if cancellable and isinstance(txn, InviteClientTransaction):
                self.core.now = loop.time()
                self.core.cancel(txn)
                self._process()
            raise

    # --- UAS ----------------------------------------------------------------------------------

    def _respond(self, txn: CoreServerTransaction, status: int, reason: str | None,
                 headers: Iterable[Header], body: bytes,
                 content_type: str | None) -> CoreDialog | None:
        loop = asyncio.get_running_loop()
        self.core.now = loop.time()
        try:
            return self.core.respond(txn, status, reason, headers=headers, body=body,
                                     content_type=content_type)  # fmt: skip
        finally:
            if txn.final_sent:
                txn.owner = None  # its ServerTransaction refers to it: leave no cycle behind
            self._process()

    def _wrap(self, core_dialog: CoreDialog) -> Dialog:
        wrapper = core_dialog.user
        if not isinstance(wrapper, Dialog):
            wrapper = Dialog(self, core_dialog)
            core_dialog.user = wrapper
        return wrapper

    async def _run_handler(self, handler: RequestHandler, stx: ServerTransaction) -> None:
        try:
            await handler(stx)
        except TransactionStateError as exc:
            log.info("%s handler answered too late: %s", stx.request.method, exc)
            return
        except Exception:
            log.exception("%s handler failed", stx.request.method)
            self._answer_500(stx, "Handler Failed")
            return
        if not stx.answered:
            log.warning("%s handler returned without a final response",
                        stx.request.method)  # fmt: skip
            self._answer_500(stx, "No Response")

    def _answer_500(self, stx: ServerTransaction, reason: str) -> None:
        if stx.answered or stx._txn.terminated:
            return
        try:
            self._respond(stx._txn, 500, reason, (), b"", None)
        except SipError:
            log.debug("could not answer 500", exc_info=True)

    def _default(self, txn: CoreServerTransaction) -> None:
        """Answers when nobody handles the request (SIP-API.md defaults)."""
        request = txn.request
        method = request.method
        status = 501
        headers: tuple[Header, ...] = ()
        if txn.dialog is not None:
            if method in ("OPTIONS", "BYE", "INFO") or (method == "UPDATE" and not request.body):
                status = 200  # a bodiless UPDATE is a session refresh (RFC 4028)
            elif method in ("INVITE", "UPDATE"):
                status = 488
        elif method == "OPTIONS":
            status = 200
        elif method == "INVITE":
            status = 480
        else:
            status, headers = 405, (("Allow", ALLOW),)
        self.core.respond(txn, status, headers=headers)

    # --- the sans-IO pump ---------------------------------------------------------------------

    def _on_message(self, data: bytes, remote: Address, local: Address) -> None:
        loop = self._loop or asyncio.get_running_loop()
        try:
            self.core.receive(data, remote, local, loop.time())
        except Exception:
            log.exception("message from %s could not be processed", remote)
        self._process()

    def _on_error(self, remote: Address, exc: Exception) -> None:
        """A peer's doing (a stream it framed wrong, a reset) is counted and summarised like
        any refused message, so a peer cannot grow the log; our own failures are logged."""
        loop = self._loop or asyncio.get_running_loop()
        if isinstance(exc, SipParseError):
            self.core.refusals.note(exc.reason, None, remote.host, loop.time())
        elif isinstance(exc, ConnectionResetError):
            self.core.refusals.note("Connection Reset", None, remote.host, loop.time())
        else:
            log.info("transport error towards %s: %s", remote, exc)
        self.core.transport_error(remote, loop.time())
        self._process()

    def _on_timer(self) -> None:
        due = self._timer_at or 0.0
        self._timer = None
        self._timer_at = None
        loop = self._loop or asyncio.get_running_loop()
        try:
            # asyncio may run a call_at handle up to its clock resolution early
            self.core.handle_timer(max(loop.time(), due))
        except Exception:
            log.exception("timer processing failed")
        self._process()

    def _process(self) -> None:
        core = self.core
        while (event := core.next_event()) is not None:
            try:
                self._dispatch(event)
            except Exception:
                log.exception("%s could not be handled", type(event).__name__)
        send = self.transports.send
        for data, remote in core.datagrams_to_send():
            send(data, remote)
        if self._closed:
            return
        deadline = core.next_timer()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            self._timer = loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            owner = event.transaction.owner
            if not isinstance(owner, _Pending) or owner.future.done():
                return
            if event.response.status < 200:
                if owner.on_provisional is not None:
                    owner.on_provisional(event.response)
            else:
                owner.future.set_result((event.response, event.dialog))
        elif isinstance(event, RequestReceived):
            self._request_received(event.transaction, event.dialog)
        elif isinstance(event, TransactionFailed):
            owner = event.transaction.owner
            if isinstance(owner, _Pending) and not owner.future.done():
                request = event.transaction.request
                if event.failure is Failure.TIMEOUT:
                    error: SipError = SipTimeout(f"{request.method} {request.uri}: no response")
                else:
                    error = SipTransportError(f"{request.method} to {event.transaction.remote}"
                                              " could not be sent")  # fmt: skip
                owner.future.set_exception(error)
        elif isinstance(event, RequestCancelled):
            stx = event.transaction.owner
            if isinstance(stx, ServerTransaction):
                stx.cancelled.set()
        elif isinstance(event, DialogConfirmed):
            wrapper = event.dialog.user
            if isinstance(wrapper, Dialog) and wrapper._confirmed is not None:
                wrapper._confirmed.set()
        elif isinstance(event, DialogTerminated):
            wrapper = event.dialog.user
            if isinstance(wrapper, Dialog):
                wrapper.termination_reason = event.reason
                if wrapper._terminated is not None:
                    wrapper._terminated.set()

    def _request_received(self, txn: CoreServerTransaction, core_dialog: CoreDialog | None
                          ) -> None:  # fmt: skip
        wrapper = core_dialog.user if core_dialog is not None else None
        if core_dialog is not None:
            handler = wrapper.on_request if isinstance(wrapper, Dialog) else None
        else:
            handler = self.on_request
        if handler is None:
            self._default(txn)
            return
        stx = ServerTransaction(self, txn, wrapper if isinstance(wrapper, Dialog) else None)
        txn.owner = stx
        task = asyncio.get_running_loop().create_task(self._run_handler(handler, stx))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _CallState:
    """Call-ID, From (with tag), CSeq and credentials shared by the retries of one request
    (§8.1.3.5, §22.2)."""

    __slots__ = ("auth", "call_id", "cseq", "from_value")

    def __init__(self, from_: NameAddr) -> None:
        self.call_id = secrets.token_hex(12)
        self.from_value = str(from_.with_tag(secrets.token_hex(6)))
        self.cseq = 0
        self.auth: list[Header] = []


__all__ = [
    "Dialog",
    "InviteResult",
    "ServerTransaction",
    "SipConfig",
    "SipEndpoint",
    "SipTimeout",
    "SipTransportError",
]
