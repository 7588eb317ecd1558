"""RFC 3261 §17 transactions, sans-IO.

A transaction never touches a socket or a clock: it is fed messages and deadlines by its
transaction user (the UA core, :mod:`.core`) and answers through the :class:`TransactionUser`
protocol (``send``, response/failure/termination notices) and the core's :class:`TimerHeap`.
Every timer of §17 is here: A, B, D (client INVITE), E, F, K (client non-INVITE), G, H, I
(server INVITE) and J (server non-INVITE); over reliable transports the retransmission timers
are never started and D, I, J, K are zero, so the transaction terminates at once (§17.1.1.2,
§17.1.2.2, §17.2.1, §17.2.2). The wait of D, I, J or K, where all that is left is to absorb
retransmissions, is handed to the user with what answers them (``TransactionUser.linger``).

Following RFC 3261 (not RFC 6026), INVITE transactions terminate on a 2xx: retransmitting the
2xx and re-sending the ACK for retransmitted 2xx responses is the UA core's job (§13.3.1.4,
§13.2.2.4), which keeps per-call state small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from .errors import SipError
from .headers import Headers
from .message import Request, Response
from .timers import TimerConfig, TimerEntry, TimerHeap

if TYPE_CHECKING:
    from .dialog import Dialog
    from .transport import Address


class TransactionStateError(SipError):
    """A response was given to a transaction that can no longer send it (e.g. after CANCEL)."""


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class Failure(Enum):
    """Why a transaction ended without a final response exchange."""

    TIMEOUT = "timeout"  # Timer B / F (client), Timer H (server: no ACK)
    TRANSPORT = "transport"  # the transport reported a failure to send


class TransactionUser(Protocol):
    """What a transaction needs from the layer above it (the UA core)."""

    timers: TimerHeap
    timer_config: TimerConfig

    def send(self, data: bytes, remote: Address) -> None: ...

    def transaction_response(self, txn: ClientTransaction, response: Response) -> None: ...

    def transaction_failed(self, txn: Transaction, failure: Failure) -> None: ...

    def transaction_terminated(self, txn: Transaction) -> None: ...

    def linger(self, txn: Transaction, delay: float, now: float, resend: bytes | None) -> None:
        """``txn`` entered Completed/Confirmed over an unreliable transport: for ``delay``
        seconds (Timer D, I, J or K) its retransmissions are absorbed, each answered with
        ``resend`` when given (the ACK of a non-2xx, the last response), and then it ends. The
        user calls ``txn.linger_over()`` when the wait is over, or at once if it absorbs the
        retransmissions itself (the UA core does: a table entry is lighter than the object)."""


def is_reliable(remote: Address) -> bool:
    return remote.transport != "udp"


class Transaction:
    """State shared by the four transaction kinds.

    ``_retransmit`` holds timer A/E/G and ``_timeout`` holds B/F/H or, once the transaction has
    completed, D/I/J/K: no transaction ever needs more than two timers at once.
    """

    __slots__ = (
        "_interval",
        "_retransmit",
        "_timeout",
        "dialog",
        "key",
        "owner",
        "reliable",
        "remote",
        "request",
        "state",
        "tu",
    )

    def __init__(self, tu: TransactionUser, request: Request, remote: Address,
                 key: tuple[str, ...]) -> None:
        self.tu = tu
        self.request = request
        self.remote = remote
        self.key = key
        self.reliable = is_reliable(remote)
        self.state = State.TRYING
        self.owner: object = None  # whatever the core's user associates with the transaction
        self.dialog: Dialog | None = None
        self._retransmit: TimerEntry | None = None
        self._timeout: TimerEntry | None = None
        self._interval = tu.timer_config.t1

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def fail(self, failure: Failure) -> None:
        """End the transaction and report ``failure``: the transport could not deliver our
        message (§17.1.1.2, §17.1.2.2, §17.2.4), or the core gives up on it (§9.1)."""
        if self.state is State.TERMINATED:
            return
        self._terminate()
        self.tu.transaction_failed(self, failure)

    def _terminate(self) -> None:
        timers = self.tu.timers
        timers.cancel(self._retransmit)
        timers.cancel(self._timeout)
        self._retransmit = self._timeout = None
        self.state = State.TERMINATED
        self.tu.transaction_terminated(self)

    def _wait_then_terminate(self, delay: float, now: float, resend: bytes | None = None) -> None:
        """Linger in Completed/Confirmed for ``delay`` (zero on reliable transports)."""
        timers = self.tu.timers
        timers.cancel(self._retransmit)
        timers.cancel(self._timeout)
        self._retransmit = self._timeout = None
        if delay <= 0:
            self._terminate()
        else:
            self.tu.linger(self, delay, now, resend)

    def linger_over(self) -> None:
        """The Completed/Confirmed wait the user took over (see TransactionUser.linger) ended."""
        if self.state is not State.TERMINATED:
            self._terminate()


# --- client transactions (§17.1) -------------------------------------------------------------


class ClientTransaction(Transaction, ABC):
    """Common to both client kinds: the request is serialised once and resent verbatim."""

    __slots__ = ("data",)

    def __init__(self, tu: TransactionUser, request: Request, remote: Address,
                 key: tuple[str, ...], data: bytes) -> None:
        super().__init__(tu, request, remote, key)
        self.data = data

    @abstractmethod
    def start(self, now: float) -> None: ...

    @abstractmethod
    def receive_response(self, response: Response, now: float) -> None: ...

    @abstractmethod
    def receive_trying(self) -> None:
        """A provisional response arrived: stop retransmitting (INVITE) or slow down to T2."""


class InviteClientTransaction(ClientTransaction):
    """§17.1.1: Calling -> Proceeding -> Completed (non-2xx, ACK sent here) -> Terminated."""

    __slots__ = ("_ack",)

    def __init__(self, tu: TransactionUser, request: Request, remote: Address,
                 key: tuple[str, ...], data: bytes) -> None:
        super().__init__(tu, request, remote, key, data)
        self._ack: bytes | None = None

    def start(self, now: float) -> None:
        cfg = self.tu.timer_config
        self.state = State.CALLING
        self.tu.send(self.data, self.remote)
        if not self.reliable:
            self._interval = cfg.a
            self._retransmit = self.tu.timers.schedule(now + cfg.a, self._timer_a)
        self._timeout = self.tu.timers.schedule(now + cfg.b, self._timer_b)

    def _timer_a(self, now: float) -> None:
        if self.state is not State.CALLING:
            self._retransmit = None
            return
        self.tu.send(self.data, self.remote)
        self._interval *= 2  # no T2 cap for INVITE (§17.1.1.2)
        self._retransmit = self.tu.timers.schedule(now + self._interval, self._timer_a)

    def receive_trying(self) -> None:
        if self.state is State.CALLING:
            self.state = State.PROCEEDING
            self.tu.timers.cancel(self._retransmit)
            self._retransmit = None

    def _timer_b(self, now: float) -> None:
        self._timeout = None
        if self.state is State.CALLING:
            self._terminate()
            self.tu.transaction_failed(self, Failure.TIMEOUT)

    def receive_response(self, response: Response, now: float) -> None:
        state = self.state
        status = response.status
        if state is State.COMPLETED:
            if status >= 300 and self._ack is not None:
                self.tu.send(self._ack, self.remote)  # retransmitted final: ACK again
            return
        if state is State.TERMINATED:
            return
        if status < 200:
            self.receive_trying()
            self.tu.transaction_response(self, response)
        elif status < 300:
            self.tu.transaction_response(self, response)
            self._terminate()
        else:
            self.state = State.COMPLETED
            self._ack = build_ack(self.request, response).to_bytes()
            self.tu.send(self._ack, self.remote)
            self._wait_then_terminate(self.tu.timer_config.d(self.reliable), now, self._ack)
            self.tu.transaction_response(self, response)


def build_ack(request: Request, response: Response) -> Request:
    """§17.1.1.3: the ACK for a non-2xx final response, part of the INVITE transaction."""
    src = request.headers
    headers = Headers()
    headers.add("Via", src.get_all("Via")[0])
    for route in src.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", src.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", src.get("Call-ID") or "")
    number = (src.get("CSeq") or "0").split(None, 1)[0]
    headers.add("CSeq", f"{number} ACK")
    return Request("ACK", request.uri, headers)


class NonInviteClientTransaction(ClientTransaction):
    """§17.1.2: Trying -> Proceeding -> Completed -> Terminated."""

    __slots__ = ()

    def start(self, now: float) -> None:
        cfg = self.tu.timer_config
        self.state = State.TRYING
        self.tu.send(self.data, self.remote)
        if not self.reliable:
            self._interval = cfg.e
            self._retransmit = self.tu.timers.schedule(now + cfg.e, self._timer_e)
        self._timeout = self.tu.timers.schedule(now + cfg.f, self._timer_f)

    def _timer_e(self, now: float) -> None:
        if self.state is State.TRYING:
            self._interval = min(self._interval * 2, self.tu.timer_config.t2)
        elif self.state is State.PROCEEDING:
            self._interval = self.tu.timer_config.t2
        else:
            self._retransmit = None
            return
        self.tu.send(self.data, self.remote)
        self._retransmit = self.tu.timers.schedule(now + self._interval, self._timer_e)

    def _timer_f(self, now: float) -> None:
        self._timeout = None
        if self.state in (State.TRYING, State.PROCEEDING):
            self._terminate()
            self.tu.transaction_failed(self, Failure.TIMEOUT)

    def receive_response(self, response: Response, now: float) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return  # Completed absorbs retransmitted finals
        if response.status < 200:
            self.receive_trying()
        else:
            self.state = State.COMPLETED
            self._wait_then_terminate(self.tu.timer_config.k(self.reliable), now)
        self.tu.transaction_response(self, response)

    def receive_trying(self) -> None:
        if self.state is State.TRYING:
            self.state = State.PROCEEDING


# --- server transactions (§17.2) -------------------------------------------------------------


class ServerTransaction(Transaction, ABC):
    """Common to both server kinds: remembers the last response to answer retransmissions."""

    __slots__ = ("last_response", "last_status", "local_tag")

    def __init__(self, tu: TransactionUser, request: Request, remote: Address,
                 key: tuple[str, ...]) -> None:
        super().__init__(tu, request, remote, key)
        self.state = State.PROCEEDING if request.method == "INVITE" else State.TRYING
        self.last_response: bytes | None = None
        self.last_status = 0
        self.local_tag: str | None = None  # To tag of our responses, the same for all of them

    @property
    def final_sent(self) -> bool:
        return self.last_status >= 200

    @abstractmethod
    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of the request (or, for INVITE, the ACK) matched this transaction."""

    @abstractmethod
    def respond(self, response: Response, now: float) -> None: ...

    def _send(self, response: Response) -> None:
        self.last_response = response.to_bytes()
        self.last_status = response.status
        self.tu.send(self.last_response, self.remote)


class InviteServerTransaction(ServerTransaction):
    """§17.2.1: Proceeding -> Completed (non-2xx) -> Confirmed (ACK) -> Terminated.

    A 2xx terminates the transaction at once; the core retransmits it until the ACK.
    """

    __slots__ = ()

    def receive_request(self, request: Request, now: float) -> None:
        state = self.state
        if request.method == "ACK":
            if state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._wait_then_terminate(self.tu.timer_config.i(self.reliable), now)
            return
        if state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            self.tu.send(self.last_response, self.remote)

    def respond(self, response: Response, now: float) -> None:
        if self.state is not State.PROCEEDING:
            raise TransactionStateError(f"INVITE transaction already {self.state.value}")
        self._send(response)
        status = response.status
        if status < 200:
            return
        if status < 300:
            self._terminate()
            return
        cfg = self.tu.timer_config
        self.state = State.COMPLETED
        if not self.reliable:
            self._interval = cfg.g
            self._retransmit = self.tu.timers.schedule(now + cfg.g, self._timer_g)
        self._timeout = self.tu.timers.schedule(now + cfg.h, self._timer_h)

    def _timer_g(self, now: float) -> None:
        if self.state is not State.COMPLETED or self.last_response is None:
            self._retransmit = None
            return
        self.tu.send(self.last_response, self.remote)
        self._interval = min(self._interval * 2, self.tu.timer_config.t2)
        self._retransmit = self.tu.timers.schedule(now + self._interval, self._timer_g)

    def _timer_h(self, now: float) -> None:
        self._timeout = None
        if self.state is State.COMPLETED:
            self._terminate()
            self.tu.transaction_failed(self, Failure.TIMEOUT)


class NonInviteServerTransaction(ServerTransaction):
    """§17.2.2: Trying -> Proceeding -> Completed -> Terminated."""

    __slots__ = ()

    def receive_request(self, request: Request, now: float) -> None:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            self.tu.send(self.last_response, self.remote)

    def respond(self, response: Response, now: float) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            raise TransactionStateError(
                f"{self.request.method} transaction already {self.state.value}"
            )
        self._send(response)
        if response.status < 200:
            self.state = State.PROCEEDING
            return
        self.state = State.COMPLETED
        self._wait_then_terminate(self.tu.timer_config.j(self.reliable), now, self.last_response)
