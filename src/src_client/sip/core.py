"""The sans-IO SIP user agent core (RFC 3261 §8, §12-§17, RFC 4028), aioquic style.

Feed it datagrams/stream messages with :meth:`UserAgentCore.receive`, wake it at
:meth:`next_timer` with :meth:`handle_timer`, then drain :meth:`datagrams_to_send` and
:meth:`next_event`. It owns every transaction, dialog and timer (one heap for all of them), so
an idle dialog costs memory only: no task, no callback handle, no logger.

What the core does on its own, without its user:
- absorbs retransmissions (server transactions), answers retransmitted INVITEs after the 2xx;
- stamps ``received``/``rport`` into the top Via of requests (§18.2.1, RFC 3581) and sends
  responses back per §18.2.2; drops responses with more than one Via (§8.1.3.3);
- keeps 100 Trying hop by hop: it stops retransmission but is never surfaced, and it is
  matched without a full parse (the commonest message on the UAC side);
- 100 Trying to every INVITE, 481 to requests for unknown dialogs and unmatched CANCELs,
  491/500 on re-INVITE glare (§14.2), 500 to out-of-order in-dialog requests (§12.2.2),
  420 for unsupported Require (§8.2.2.3), 416 for unknown URI schemes, 422 for short session
  intervals (RFC 4028 §9), 400 with the parser's reason for malformed requests;
- ACKs every 2xx to its INVITEs, and again for each retransmitted 2xx (§13.2.2.4); a 2xx that
  matches no dialog (a fork, or an INVITE we cancelled) is ACKed and ended with BYE;
- retransmits its own 2xx to INVITE until the ACK, and after 64*T1 ends the call with BYE
  (§13.3.1.4);
- answers CANCEL with 200 and the INVITE with 487 (§9.2); sends CANCEL for a cancelled client
  INVITE once a provisional response arrived (§9.1);
- runs session timers: refreshes at half the interval or sends BYE before expiry (RFC 4028).
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from ipaddress import ip_address

from . import session_timer
from .dialog import Dialog, DialogKey, DialogState, build_request, contact_uri
from .errors import SipError, SipParseError
from .guard import InboundGuard, Refusal, Refusals
from .headers import Headers
from .message import (
    Request,
    Response,
    build_response,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    salvage,
    to_header,
    top_via,
)
from .syntax import iter_outside
from .timers import TimerConfig, TimerEntry, TimerHeap
from .transaction import (
    ClientTransaction,
    Failure,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    Transaction,
)
from .transport import Address
from .uri import SipUri, Via, parse_name_addr, parse_via

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"
_DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
_MAGIC = "z9hG4bK"
_ADDRESS_CACHE_LIMIT = 4096


class RequestPending(SipError):
    """An INVITE/UPDATE offer is already outstanding in this dialog (RFC 3261 §14.1)."""


class NoTransport(SipError):
    """We do not listen on the transport a request needs (no Via/Contact to write)."""


class DialogGone(SipError):
    """The dialog was terminated; no more requests can be sent in it."""


@dataclass(frozen=True, slots=True)
class CoreConfig:
    timers: TimerConfig = field(default_factory=TimerConfig)
    user_agent: str = "src-client"
    mtu: int = 1300  # §18.1.1: larger requests go over TCP when we listen on TCP
    max_message_size: int = 65535
    min_se: int = session_timer.MIN_SE_FLOOR  # RFC 4028: shortest interval we accept
    supported: tuple[str, ...] = ("timer",)  # option tags we understand (Require check)


# --- events ------------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestReceived:
    """A new request for the user; answer it with :meth:`UserAgentCore.respond`."""

    transaction: ServerTransaction
    dialog: Dialog | None


@dataclass(slots=True)
class ResponseReceived:
    """A response to a request the user sent; ``dialog`` is set for 2xx to INVITE."""

    transaction: ClientTransaction
    response: Response
    dialog: Dialog | None


@dataclass(slots=True)
class TransactionFailed:
    transaction: ClientTransaction
    failure: Failure


@dataclass(slots=True)
class RequestCancelled:
    """A CANCEL matched this INVITE; the core already answered it with 487."""

    transaction: ServerTransaction


@dataclass(slots=True)
class DialogConfirmed:
    """The ACK for our 2xx arrived (it may carry the SDP answer to a 2xx offer)."""

    dialog: Dialog
    ack: Request


@dataclass(slots=True)
class DialogTerminated:
    dialog: Dialog
    reason: str


Event = (
    RequestReceived
    | ResponseReceived
    | TransactionFailed
    | RequestCancelled
    | DialogConfirmed
    | DialogTerminated
)


class _Internal:
    """Owner of a transaction the core started for itself; ``purpose`` steers its outcome."""

    __slots__ = ("purpose",)

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose


_CORE = _Internal("core")  # BYE, CANCEL: outcome does not matter
_REFRESH = _Internal("refresh")  # session refresh


class _PendingAnswer:
    """A 2xx to INVITE retransmitted by the UAS core until the ACK (§13.3.1.4)."""

    __slots__ = ("cseq", "data", "dest", "entry", "interval", "started")

    def __init__(self, data: bytes, dest: Address, number: int, started: float,
                 interval: float) -> None:
        self.data = data
        self.dest = dest
        self.cseq = number
        self.started = started
        self.interval = interval
        self.entry: TimerEntry | None = None


#: a lingering transaction: (deadline, bytes that answer a retransmission, where they go)
_Lingering = tuple[float, bytes | None, Address | None]
#: Lingering transactions end in batches, at most this late: at thousands of calls a second
#: their deadlines are a fraction of a millisecond apart, and one wake-up each would cost an
#: event-loop timer per call. Absorbing retransmissions 0.1 s longer than T4 or 64*T1 harms
#: nobody.
_LINGER_SLACK = 0.1


def _tag() -> str:
    return secrets.token_hex(6)


@lru_cache(maxsize=1024)
def _is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _stamp_via(headers: Headers, via: Via, remote: Address) -> None:
    """§18.2.1 and RFC 3581 §4: record the source address in the top Via (``received``, and
    ``rport`` filled in when asked for) so responses carry it back. Idempotent."""
    if via.host == remote.host and not via.has_param("rport"):
        return
    params = [(k, str(remote.port) if k == "rport" else v)
              for k, v in via.params if k != "received"]  # fmt: skip
    params.append(("received", remote.host))
    # Only the top value is rewritten; the rest is kept as written, unsplit, because only
    # the top one was checked (a later Via may be malformed and is merely copied).
    vias = [value.lstrip() for name, value in headers if name == "Via"]
    top = next(iter_outside(vias[0], ","))
    vias[0] = str(via.replace(params=tuple(params))) + vias[0][len(top):]
    headers.remove("Via")
    for value in vias:
        headers.add("Via", value)


class UserAgentCore:
    """One SIP user agent (UAC and UAS at once): transactions, dialogs, timers."""

    def __init__(self, config: CoreConfig | None = None) -> None:
        self.config = config or CoreConfig()
        self.timer_config = self.config.timers
        self.timers = TimerHeap()
        #: our listening address per transport ("udp", "tcp", "tls"), for Via and Contact
        self.local_addresses: dict[str, Address] = {}
        #: the local address of our open connection to a remote address (the transport's
        #: look-up): Via and Contact for a stream transport we do not listen on
        self.connection_local: Callable[[Address], Address | None] | None = None
        #: who may start requests, how fast, with which credentials (None: anyone, any rate)
        self.guard: InboundGuard | None = None
        #: what was refused or dropped, by reason: for /metrics and a log that stays small
        self.refusals = Refusals()
        self._client: dict[tuple[str, ...], ClientTransaction] = {}
        self._server: dict[tuple[str, ...], ServerTransaction] = {}
        self._dialogs: dict[DialogKey, Dialog] = {}
        # initial INVITEs answered 2xx in the last 64*T1, (Call-ID, From tag, CSeq) -> (our
        # tag, expiry), in expiry order: what RFC 6026's Accepted state does, for one entry
        self._answered: dict[tuple[str, str, int], tuple[str, float]] = {}
        self._cancelling: dict[InviteClientTransaction, bool] = {}  # -> CANCEL sent
        self._size_switched: dict[ClientTransaction, Address] = {}  # -> original UDP target
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        #: time of the current input; receive() and handle_timer() set it, and a user calling
        #: send_request()/respond()/cancel() from outside those sets it first
        self.now = 0.0
        self._branch_prefix = _MAGIC + secrets.token_hex(4)
        self._branch_seq = 0
        self._addresses: dict[tuple[str, str, int, str | None], Address] = {}
        self._contacts: dict[tuple[Address, str | None, str], str] = {}
        # Transactions in Completed/Confirmed over UDP, waiting out Timer D, I, J or K only to
        # absorb retransmissions: key -> (deadline, what answers a retransmission, where it
        # goes). At 3,000 calls/s some 15,000 of them wait at once; kept as their objects,
        # they were a fifth of the live objects the cyclic collector walks (see linger()).
        self._lingering_client: dict[tuple[str, ...], _Lingering] = {}
        self._lingering_server: dict[tuple[str, ...], _Lingering] = {}
        # the same keys in deadline order, one queue per wait length: (deadline, client?, key)
        self._linger_queues: dict[float, deque[tuple[float, bool, tuple[str, ...]]]] = {}

    # --- the sans-IO interface -------------------------------------------------------------

    def receive(self, data: bytes, remote: Address, local: Address | None, now: float) -> None:
        """One complete message from ``remote`` (a datagram, or a framed stream message)."""
        self.now = now
        if data.startswith(b"SIP/2.0 100 ") and self._trying(data):
            return
        try:
            msg = parse_message(data, max_size=self.config.max_message_size)
        except SipParseError as exc:
            self._malformed(exc, data, remote)
            return
        try:
            if isinstance(msg, Response):
                self._on_response(msg, remote)
            else:
                self._on_request(msg, remote)
        except SipParseError as exc:
            if isinstance(msg, Request):
                exc.partial = msg
            self._malformed(exc, data, remote)

    def _trying(self, data: bytes) -> bool:
        """Fast path for the commonest message: a 100 Trying only moves its transaction to
        Proceeding (§17.1.1.2), so find it by top-Via branch and CSeq method without a full
        parse. Returns False (take the normal path) for anything unusual."""
        end = data.find(b"\r\n\r\n")
        head = data[:end].lower()
        via = head.find(b"\r\nvia:")
        if end < 0 or via < 0 or head.find(b"\r\nvia:", via + 6) >= 0 or b"\r\nv:" in head:
            return False
        line_end = head.find(b"\r\n", via + 6)
        line = data[via + 6 : line_end if line_end >= 0 else end]
        at = line.find(b";branch=")
        cseq_at = head.find(b"\r\ncseq:")
        if b"," in line or at < 0 or cseq_at < 0:
            return False
        branch = line[at + 8 :].split(b";", 1)[0].strip()
        cseq_end = head.find(b"\r\n", cseq_at + 7)
        parts = data[cseq_at + 7 : cseq_end if cseq_end >= 0 else end].split()
        if len(parts) != 2:
            return False
        try:
            key = (branch.decode(), parts[1].decode())
        except UnicodeDecodeError:
            return False
        txn = self._client.get(key)
        if txn is not None:
            txn.receive_trying()
            self._trying_received(txn)
        return True

    def _trying_received(self, txn: ClientTransaction) -> None:
        """100 Trying is hop by hop: never surfaced, but it releases a deferred CANCEL (§9.1)."""
        if self._cancelling.get(txn) is False:  # type: ignore[call-overload]
            self._send_cancel(txn)  # type: ignore[arg-type]

    def handle_timer(self, now: float) -> None:
        self.now = now
        self.timers.run_due(now)

    def next_timer(self) -> float | None:
        return self.timers.next_deadline()

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def transport_error(self, remote: Address, now: float) -> None:
        """The transport failed to reach ``remote``: fail the transactions that use it."""
        self.now = now
        failed: list[Transaction] = [t for t in self._client.values() if t.remote == remote]
        failed += [t for t in self._server.values() if t.remote == remote]
        for txn in failed:
            txn.fail(Failure.TRANSPORT)

    # --- counters for tests and benchmarks -------------------------------------------------

    @property
    def dialog_count(self) -> int:
        return len(self._dialogs)

    @property
    def transaction_count(self) -> int:
        """Transactions in progress or lingering (Timers D, I, J, K)."""
        return (len(self._client) + len(self._server) + len(self._lingering_client)
                + len(self._lingering_server))  # fmt: skip

    def dialogs(self) -> Iterable[Dialog]:
        return self._dialogs.values()

    def client_transactions(self) -> list[ClientTransaction]:
        return list(self._client.values())

    # --- TransactionUser protocol -----------------------------------------------------------

    def send(self, data: bytes, remote: Address) -> None:
        self._out.append((data, remote))

    def linger(self, txn: Transaction, delay: float, now: float, resend: bytes | None) -> None:
        """Take over a transaction's Completed/Confirmed wait (§17.1.1.2, §17.1.2.2, §17.2.1,
        §17.2.2) as a table entry and end the object now: a retransmission that matches the
        key is answered with ``resend`` (responses: only a final non-2xx, as the INVITE client
        transaction does) or absorbed, and after ``delay`` (+ up to _LINGER_SLACK) the key is
        forgotten."""
        client = isinstance(txn, ClientTransaction)
        table = self._lingering_client if client else self._lingering_server
        deadline = now + delay
        table[txn.key] = (deadline, resend, txn.remote if resend is not None else None)
        queue = self._linger_queues.get(delay)
        if queue is None:
            queue = self._linger_queues[delay] = deque()
        if not queue:
            self.timers.schedule(deadline + _LINGER_SLACK, partial(self._linger_due, queue))
        queue.append((deadline, client, txn.key))
        txn.linger_over()

    def _linger_due(self, queue: deque[tuple[float, bool, tuple[str, ...]]], now: float) -> None:
        while queue and queue[0][0] <= now:
            deadline, client, key = queue.popleft()
            table = self._lingering_client if client else self._lingering_server
            entry = table.get(key)
            if entry is not None and entry[0] == deadline:  # not a newer wait for the same key
                del table[key]
        if queue:
            self.timers.schedule(queue[0][0] + _LINGER_SLACK, partial(self._linger_due, queue))

    def _absorbed(self, table: dict[tuple[str, ...], _Lingering], key: tuple[str, ...],
                  answer: bool) -> bool:
        """True when ``key`` lingers in ``table``; sends its answer if ``answer``."""
        entry = table.get(key)
        if entry is None:
            return False
        _, resend, remote = entry
        if answer and resend is not None and remote is not None:
            self.send(resend, remote)
        return True

    def transaction_terminated(self, txn: Transaction) -> None:
        if isinstance(txn, ClientTransaction):
            if self._client.get(txn.key) is txn:
                del self._client[txn.key]
            self._cancelling.pop(txn, None)  # type: ignore[call-overload]
        elif self._server.get(txn.key) is txn:
            del self._server[txn.key]

    def transaction_failed(self, txn: Transaction, failure: Failure) -> None:
        if not isinstance(txn, ClientTransaction):
            # Timer H or a failed response send (§17.2.1, §17.2.4): the request is over
            if txn.dialog is not None and txn.request.method == "INVITE":
                txn.dialog.pending_in = False
            return
        udp = self._size_switched.pop(txn, None)
        if udp is not None and failure is Failure.TRANSPORT:
            self._restart_over_udp(txn, udp)  # §18.1.1: TCP for size failed, fall back
            return
        dialog = txn.dialog
        method = txn.request.method
        if dialog is not None:
            if method in ("INVITE", "UPDATE"):
                dialog.pending_out = None
            if method != "BYE" and dialog.state is not DialogState.TERMINATED:
                # §12.2.1.2: a timed out in-dialog request ends the dialog
                self._terminate(dialog, f"{method} {failure.value}", send_bye=True)
        if not isinstance(txn.owner, _Internal):
            self._events.append(TransactionFailed(txn, failure))

    def transaction_response(self, txn: ClientTransaction, response: Response) -> None:
        owner = txn.owner
        method = txn.request.method
        status = response.status
        if status == 100:
            self._trying_received(txn)
            return
        dialog = txn.dialog
        if status >= 200:
            self._size_switched.pop(txn, None)
        if method == "INVITE":
            dialog = self._invite_response(txn, response)
        elif dialog is not None and status >= 200:
            if method == "UPDATE":
                dialog.pending_out = None
                if status < 300:
                    self._refresh_target(dialog, response)
                    self._renegotiate_uac(dialog, response)
            if status in (408, 481) and dialog.state is not DialogState.TERMINATED:
                self._terminate(dialog, f"{method} {status}", send_bye=status == 408)
        if owner is _REFRESH:
            self._refresh_outcome(txn, response)
        elif not isinstance(owner, _Internal):
            self._events.append(ResponseReceived(txn, response, dialog))

    # --- sending requests (UAC) -------------------------------------------------------------

    def new_branch(self) -> str:
        self._branch_seq += 1
        return f"{self._branch_prefix}{self._branch_seq}"

    def via(self, transport: str, branch: str, remote: Address | None = None) -> str:
        local, reused = self._local(transport, remote)
        host = f"[{local.host}]" if ":" in local.host else local.host
        alias = ";alias" if reused else ""  # RFC 5923 §5: reuse this connection toward us
        return f"SIP/2.0/{transport.upper()} {host}:{local.port};rport{alias};branch={branch}"

    def contact(self, transport: str, user: str | None, params: str = "",
                remote: Address | None = None) -> str:
        """Our Contact value for ``transport`` (shared string: dialogs keep a reference)."""
        local, _ = self._local(transport, remote)
        key = (local, user, params)
        value = self._contacts.get(key)
        if value is None:
            scheme = "sips" if transport == "tls" else "sip"
            host = f"[{local.host}]" if ":" in local.host else local.host
            userinfo = f"{user}@" if user else ""
            tparam = "" if transport == "udp" else f";transport={transport}"
            value = f"<{scheme}:{userinfo}{host}:{local.port}{tparam}>{params}"
            if len(self._contacts) < _ADDRESS_CACHE_LIMIT:
                self._contacts[key] = value
        return value

    def _local(self, transport: str, remote: Address | None) -> tuple[Address, bool]:
        """Our address for Via and Contact toward ``remote``, and whether it is that of a
        connection we opened rather than a listener's.

        Without a listener for a stream transport (TLS toward an SRS, say) it is the local
        address of our connection to ``remote``: the peer answers over that connection
        (§18.2.2) and reaches us in the dialog through it (RFC 5923). With no such connection
        yet, the host of any listener and the transport's default port: the transport opens
        the connection when the message is sent, and the answer comes back over it.
        """
        local = self.local_addresses.get(transport)
        if local is not None:
            return local, False
        if transport not in ("tcp", "tls") or remote is None or not self.local_addresses:
            raise NoTransport(f"no local {transport} transport")
        connected = self.connection_local(remote) if self.connection_local else None
        if connected is not None:
            return connected, True
        host = next(iter(self.local_addresses.values())).host
        return self._address(transport, host, _DEFAULT_PORTS[transport], None), True

    def send_request(
        self,
        method: str,
        uri: SipUri,
        remote: Address,
        *,
        from_: str,
        to: str,
        call_id: str,
        cseq: int,
        contact: str | None = None,
        routes: Sequence[str] = (),
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        owner: object = None,
    ) -> ClientTransaction:
        """Start an out-of-dialog request (or an initial INVITE) to ``remote``.

        ``from_`` carries our tag; the caller keeps Call-ID, tag and CSeq across retries (auth,
        422) so they form one call (§8.1.3.5, §22.2).
        """
        extra = list(headers)
        if method == "INVITE":
            extra += [("Allow", ALLOW), ("Supported", ", ".join(self.config.supported))]
        extra.append(("User-Agent", self.config.user_agent))
        branch = self.new_branch()
        request = build_request(
            method, uri, via=self.via(remote.transport, branch, remote), from_=from_, to=to,
            call_id=call_id, cseq=cseq, routes=routes, contact=contact, headers=extra,
            body=body, content_type=content_type,
        )  # fmt: skip
        return self._start(request, remote, branch, owner, None)

    def dialog_request(
        self,
        dialog: Dialog,
        method: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        owner: object = None,
    ) -> ClientTransaction:
        """Send a request inside ``dialog`` (re-INVITE, UPDATE, BYE, OPTIONS, INFO, ...).

        A re-INVITE/UPDATE is a session refresh too, so it carries Session-Expires when a
        session timer runs (RFC 4028 §7.4). A BYE ends the dialog at once (§15.1.1).
        """
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"{method} is sent by the stack, not as a new request")
        if dialog.state is DialogState.TERMINATED and not (
            method == "BYE" and dialog.pending_out == "BYE"  # e.g. answering a 401 to our BYE
        ):
            raise DialogGone(f"dialog {dialog.call_id} is terminated")
        remote = dialog.peer
        branch = self.new_branch()
        via = self.via(remote.transport, branch, remote)  # raises before any state changes
        extra = list(headers)
        if method in ("INVITE", "UPDATE"):
            if dialog.pending_out is not None or (method == "INVITE" and dialog.pending_in):
                raise RequestPending(f"{dialog.pending_out or 'INVITE'} already pending")
            dialog.pending_out = method
            timer = dialog.session_timer
            if timer is not None and not any(n.lower() == "session-expires" for n, _ in extra):
                extra += [("Session-Expires", timer.header(we_are_uac=True)),
                          ("Supported", "timer")]  # fmt: skip
            if body:
                dialog.local_body = (body, content_type)
        extra.append(("User-Agent", self.config.user_agent))
        request = dialog.create_request(method, via=via, headers=extra, body=body,
                                        content_type=content_type)  # fmt: skip
        if method == "INVITE":
            dialog.last_invite_cseq = dialog.local_cseq
        txn = self._start(request, remote, branch, owner, dialog)
        if method == "BYE":
            dialog.pending_out = "BYE"
            self._terminate(dialog, "BYE sent", send_bye=False)
        return txn

    def cancel(self, txn: InviteClientTransaction) -> None:
        """Cancel our INVITE (§9.1): at once if a provisional arrived, else when one does.

        A 2xx that still arrives is ACKed and the call ended with BYE.
        """
        if txn.terminated or txn in self._cancelling:
            return
        self._cancelling[txn] = False
        if txn.state is State.PROCEEDING:
            self._send_cancel(txn)

    def _start(self, request: Request, remote: Address, branch: str, owner: object,
               dialog: Dialog | None) -> ClientTransaction:
        data = request.to_bytes()
        original = remote
        if (
            remote.transport == "udp"
            and len(data) > self.config.mtu
            and "tcp" in self.local_addresses
            and request.uri.transport != "udp"
        ):
            remote = self._address("tcp", remote.host, remote.port, None)
            request.headers.set("Via", self.via("tcp", branch))
            data = request.to_bytes()
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        txn = cls(self, request, remote, (branch, request.method), data)
        txn.owner = owner
        txn.dialog = dialog
        self._client[txn.key] = txn
        if remote is not original:
            self._size_switched[txn] = original
        txn.start(self.now)
        return txn

    def _restart_over_udp(self, txn: ClientTransaction, udp: Address) -> None:
        request = txn.request
        branch = self.new_branch()
        request.headers.set("Via", self.via("udp", branch))
        cls = type(txn)
        retry = cls(self, request, udp, (branch, request.method), request.to_bytes())
        retry.owner = txn.owner
        retry.dialog = txn.dialog
        self._client[retry.key] = retry
        retry.start(self.now)

    def _send_cancel(self, txn: InviteClientTransaction) -> None:
        request = txn.request
        src = request.headers
        items = [("Via", src.get_all("Via")[0])]
        items += [("Route", route) for route in src.get_all("Route")]
        items += [
            ("Max-Forwards", "70"),
            ("From", src.get("From") or ""),
            ("To", src.get("To") or ""),
            ("Call-ID", src.get("Call-ID") or ""),
            ("CSeq", f"{cseq(request)[0]} CANCEL"),
            ("User-Agent", self.config.user_agent),
        ]
        cancel = Request("CANCEL", request.uri, Headers(items))
        ctxn = NonInviteClientTransaction(
            self, cancel, txn.remote, (txn.key[0], "CANCEL"), cancel.to_bytes()
        )
        ctxn.owner = _CORE
        self._client[ctxn.key] = ctxn
        self._cancelling[txn] = True
        ctxn.start(self.now)
        # §9.1: without a final response 64*T1 after the CANCEL, the INVITE is given up
        self.timers.schedule(self.now + 64 * self.timer_config.t1,
                             partial(self._cancel_expired, txn))  # fmt: skip

    def _cancel_expired(self, txn: InviteClientTransaction, now: float) -> None:
        if not txn.terminated and txn.state is not State.COMPLETED:
            txn.fail(Failure.TIMEOUT)

    def _send_ack(self, dialog: Dialog, number: int) -> None:
        if dialog.ack_branch is not None and dialog.ack_branch[0] == number:
            branch = dialog.ack_branch[1]  # a retransmitted 2xx: the very same ACK again
        else:
            branch = self.new_branch()
            dialog.ack_branch = (number, branch)
        ack = dialog.create_request("ACK", via=self.via(dialog.peer.transport, branch, dialog.peer),
                                    number=number)  # fmt: skip
        self.send(ack.to_bytes(), dialog.peer)

    # --- responses (UAC side) ----------------------------------------------------------------

    def _on_response(self, response: Response, remote: Address) -> None:
        vias = response.headers.get_all("Via")
        if len(vias) != 1:
            log.debug("dropping response with %d Via values from %s", len(vias), remote)
            return  # §8.1.3.3
        via = top_via(response)
        method = cseq(response)[1]
        key = (via.branch or "", method)
        txn = self._client.get(key)
        if txn is not None:
            txn.receive_response(response, self.now)
        elif self._absorbed(self._lingering_client, key, response.status >= 300):
            return  # a retransmitted final: ACK again if it was a non-2xx to INVITE
        elif method == "INVITE" and 200 <= response.status < 300:
            self._stray_2xx(response, remote)
        # any other stray response is dropped (§17.1.3)

    def _invite_response(self, txn: ClientTransaction, response: Response) -> Dialog | None:
        status = response.status
        dialog = txn.dialog
        if status < 200:
            if self._cancelling.get(txn) is False:  # type: ignore[call-overload]
                self._send_cancel(txn)  # type: ignore[arg-type]
            return dialog
        cancelled = self._cancelling.pop(txn, None) is not None  # type: ignore[call-overload]
        if dialog is not None:  # re-INVITE
            dialog.pending_out = None
            if status < 300:
                self._refresh_target(dialog, response)
                self._send_ack(dialog, cseq(response)[0])
                self._renegotiate_uac(dialog, response)
            elif status in (408, 481) and dialog.state is not DialogState.TERMINATED:
                self._terminate(dialog, f"re-INVITE {status}", send_bye=status == 408)
            return dialog
        if status >= 300:
            return None
        to_tag = to_header(response).tag
        if not to_tag:
            log.info("2xx to INVITE without To tag from %s dropped", txn.remote)
            return None
        dialog = self._new_uac_dialog(response, txn.request.uri, txn.remote, txn.request)
        if cancelled:
            self._terminate(dialog, "cancelled", send_bye=True)
        return dialog

    def _new_uac_dialog(self, response: Response, request_uri: SipUri, remote: Address,
                        request: Request | None) -> Dialog:
        contact = (request.headers.get("Contact") if request is not None else None) or ""
        dialog = Dialog.from_uac(response, request_uri=request_uri, peer=remote,
                                 contact=contact)  # fmt: skip
        dialog.peer = self._next_hop(dialog, remote)
        dialog.state = DialogState.CONFIRMED
        if request is not None and request.body:
            dialog.local_body = (request.body, request.headers.get("Content-Type"))
        self._dialogs[dialog.key] = dialog
        self._send_ack(dialog, dialog.last_invite_cseq)
        self._renegotiate_uac(dialog, response)
        return dialog

    def _stray_2xx(self, response: Response, remote: Address) -> None:
        """§13.2.2.4: re-ACK a retransmitted 2xx; ACK and BYE a 2xx from an unknown fork."""
        from_tag = from_header(response).tag or ""
        to_tag = to_header(response).tag or ""
        dialog = self._dialogs.get((call_id(response), from_tag, to_tag))
        number = cseq(response)[0]
        if dialog is not None:
            self._send_ack(dialog, number)
            return
        contact = response.headers.get("Contact")
        if not to_tag or contact is None:
            return
        dialog = Dialog.from_uac(response, request_uri=parse_name_addr(contact).uri, peer=remote,
                                 contact="")  # fmt: skip
        dialog.state = DialogState.CONFIRMED
        self._send_ack(dialog, number)
        txn = self._start_bye(dialog)
        log.info("2xx for no dialog (Call-ID %s): ACK and BYE sent to %s", dialog.call_id,
                 txn.remote)  # fmt: skip

    def _start_bye(self, dialog: Dialog) -> ClientTransaction:
        branch = self.new_branch()
        bye = dialog.create_request(
            "BYE", via=self.via(dialog.peer.transport, branch, dialog.peer),
            headers=[("User-Agent", self.config.user_agent)],
        )  # fmt: skip
        return self._start(bye, dialog.peer, branch, _CORE, None)

    # --- requests (UAS side) ----------------------------------------------------------------

    def _on_request(self, request: Request, remote: Address) -> None:
        via = top_via(request)
        method = request.method
        branch = via.branch or ""
        sent_by = f"{via.host}:{via.port or ''}"
        txn_method = "INVITE" if method == "ACK" else method
        if branch.startswith(_MAGIC):
            key: tuple[str, ...] = (branch, sent_by, txn_method)
        else:  # RFC 2543 peer (§17.2.3): match on the dialog-identifying fields instead
            key = (call_id(request), from_header(request).tag or "", str(cseq(request)[0]),
                   str(via), txn_method)  # fmt: skip
        txn = self._server.get(key)
        if txn is not None:
            txn.receive_request(request, self.now)
            return
        if self._absorbed(self._lingering_server, key, True):
            return  # a retransmission: the last response again (or an ACK absorbed)
        _stamp_via(request.headers, via, remote)
        if method == "ACK":
            self._on_ack(request)
            return
        dest = self._response_address(via, remote)
        if method == "CANCEL":
            self._on_cancel(request, key, dest)
            return
        if method == "INVITE" and self._answered and self._absorb_invite(request):
            return
        refusal = self._guarded(request, remote)
        if refusal is not None and refusal.status is None:
            return
        cls = InviteServerTransaction if method == "INVITE" else NonInviteServerTransaction
        txn = cls(self, request, dest, key)
        self._server[key] = txn
        if refusal is not None and refusal.status is not None:
            self.respond(txn, refusal.status, headers=refusal.headers)
            return
        if method == "INVITE":
            self.respond(txn, 100)
        try:
            admitted = self._admit(txn)
        except SipParseError as exc:
            self.respond(txn, 400, exc.reason)
            return
        if not admitted:
            return
        self._events.append(RequestReceived(txn, txn.dialog))

    def _guarded(self, request: Request, remote: Address) -> Refusal | None:
        """The guard's verdict on a new request that is not in a dialog we know (counted and
        logged here); None when it may go on."""
        guard = self.guard
        if guard is None:
            return None
        to_tag = to_header(request).tag
        if to_tag is not None and (call_id(request), to_tag,
                                   from_header(request).tag or "") in self._dialogs:
            return None
        refusal = guard.check(request, remote.host, self.now)
        if refusal is not None:
            self.refusals.note(refusal.reason, refusal.status, remote.host, self.now)
        return refusal

    def _admit(self, txn: ServerTransaction) -> bool:
        """§8.2 and §12.2.2 checks; answers and returns False when the request is refused."""
        request = txn.request
        method = request.method
        if request.uri.scheme not in ("sip", "sips"):
            self.respond(txn, 416)
            return False
        required = [t.strip() for t in request.headers.get_all("Require")]
        unsupported = [t for t in required if t and t.lower() not in self.config.supported]
        if unsupported and method != "CANCEL":
            self.respond(txn, 420, headers=[("Unsupported", ", ".join(unsupported))])
            return False
        to_tag = to_header(request).tag
        number = cseq(request)[0]
        if method == "INVITE" and contact_uri(request) is None:
            self.respond(txn, 400, "Missing Contact")  # §8.1.1.8: needed for the dialog
            return False
        if to_tag is None:
            return self._session_interval_ok(txn)
        dialog = self._dialogs.get((call_id(request), to_tag, from_header(request).tag or ""))
        if dialog is None or dialog.state is DialogState.TERMINATED:
            self.respond(txn, 481)
            return False
        if not dialog.accept_remote_cseq(number):
            self.respond(txn, 500, "CSeq Out of Order")
            return False
        txn.dialog = dialog
        if method == "INVITE" or (method == "UPDATE" and request.body):
            if dialog.pending_out is not None:
                self.respond(txn, 491)  # §14.2 glare: our own offer is outstanding
                return False
            if method == "INVITE" and dialog.pending_in:
                retry = str(random.randint(0, 10))
                self.respond(txn, 500, headers=[("Retry-After", retry)])
                return False
        if method == "BYE" and dialog.state is DialogState.EARLY:
            self._end_early_uas(dialog)
        if method in ("INVITE", "UPDATE") and not self._session_interval_ok(txn):
            return False
        if method == "INVITE":
            dialog.pending_in = True
        return True

    def _absorb_invite(self, request: Request) -> bool:
        """An INVITE retransmitted after its transaction ended with our 2xx: send the 2xx
        again instead of starting a second call."""
        if to_header(request).tag is not None:
            return False
        self._expire_answered()
        key = (call_id(request), from_header(request).tag or "", cseq(request)[0])
        found = self._answered.get(key)
        if found is None:
            return False
        dialog = self._dialogs.get((key[0], found[0], key[1]))
        answer = dialog.answer if dialog is not None else None
        if isinstance(answer, _PendingAnswer):
            self.send(answer.data, answer.dest)
        return True  # after the ACK (or the end of the call) it is just dropped

    def _expire_answered(self) -> None:
        """Drop up to two expired entries, oldest first: amortised O(1) per call, and the
        table drains while traffic goes on."""
        answered = self._answered
        for _ in range(2):
            if not answered:
                return
            key = next(iter(answered))
            if answered[key][1] > self.now:
                return
            del answered[key]

    def _session_interval_ok(self, txn: ServerTransaction) -> bool:
        if txn.request.method not in ("INVITE", "UPDATE"):
            return True
        min_se = session_timer.too_small(txn.request, self.config.min_se)
        if min_se is None:
            return True
        self.respond(txn, 422, headers=[("Min-SE", str(min_se))])
        return False

    def _end_early_uas(self, dialog: Dialog) -> None:
        """§15.1.2: a BYE in an early dialog: the pending INVITE gets 487."""
        invite = dialog.answer
        if isinstance(invite, InviteServerTransaction) and not invite.final_sent:
            self.respond(invite, 487)
            self._events.append(RequestCancelled(invite))

    def _on_ack(self, ack: Request) -> None:
        to_tag = to_header(ack).tag or ""
        dialog = self._dialogs.get((call_id(ack), to_tag, from_header(ack).tag or ""))
        if dialog is None:
            return
        answer = dialog.answer
        if not isinstance(answer, _PendingAnswer) or answer.cseq != cseq(ack)[0]:
            return
        self.timers.cancel(answer.entry)
        dialog.answer = None
        self._events.append(DialogConfirmed(dialog, ack))

    def _on_cancel(self, request: Request, key: tuple[str, ...], dest: Address) -> None:
        ctxn = NonInviteServerTransaction(self, request, dest, key)
        self._server[key] = ctxn
        invite = self._server.get((*key[:-1], "INVITE"))
        if not isinstance(invite, InviteServerTransaction):
            self.respond(ctxn, 481)
            return
        ctxn.local_tag = invite.local_tag
        self.respond(ctxn, 200)
        if not invite.final_sent:
            self.respond(invite, 487)
            self._events.append(RequestCancelled(invite))

    # --- responding (UAS side) ---------------------------------------------------------------

    def respond(
        self,
        txn: ServerTransaction,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        contact_user: str | None = None,
    ) -> Dialog | None:
        """Answer ``txn``; returns the dialog a 1xx/2xx to INVITE creates or continues.

        Raises :class:`TransactionStateError` when the transaction already has its final
        response (e.g. the INVITE was cancelled).
        """
        request = txn.request
        method = request.method
        dialog = txn.dialog
        in_dialog = to_header(request).tag is not None
        extra = list(headers)
        to_tag: str | None = None
        creates = False
        if status > 100 and not in_dialog:
            to_tag = txn.local_tag = txn.local_tag or _tag()
            creates = method == "INVITE" and status < 300
        if method in ("INVITE", "UPDATE") and 100 < status < 300:
            transport = txn.remote.transport
            if contact_user is None:
                contact_user = request.uri.user
            contact = dialog.contact if dialog is not None else self.contact(
                transport, contact_user, remote=txn.remote)  # fmt: skip
            extra += [("Contact", contact), ("Allow", ALLOW)]
            if creates:
                extra += [("Record-Route", rr) for rr in request.headers.get_all("Record-Route")]
        timer: session_timer.SessionTimer | None = None
        if 200 <= status < 300 and method in ("INVITE", "UPDATE"):
            timer, st_headers = session_timer.answer(request)
            extra += st_headers
            if timer is None and dialog is not None and dialog.session_timer is not None:
                timer = dialog.session_timer
        elif method == "OPTIONS" and 200 <= status < 300:
            # §11.2: Allow and Supported once each, the user's own when it gave them
            given = {n.lower() for n, _ in extra}
            extra += [(name, value) for name, value in (
                ("Allow", ALLOW), ("Supported", ", ".join(self.config.supported)))
                if name.lower() not in given]  # fmt: skip
        if method == "INVITE" and 100 < status < 300 and not any(
            n.lower() == "supported" for n, _ in extra
        ):
            extra.append(("Supported", ", ".join(self.config.supported)))
        response = make_response(request, status, reason, to_tag=to_tag, headers=extra,
                                 body=body, content_type=content_type)  # fmt: skip
        txn.respond(response, self.now)
        if method == "INVITE":
            return self._invite_answered(txn, response, dialog, creates, timer)
        if dialog is not None and status >= 200:
            if method == "BYE" and status not in (401, 407):  # a challenge: the BYE comes again
                self._terminate(dialog, "BYE received", send_bye=False)
            elif method == "UPDATE" and status < 300:
                self._refresh_target(dialog, request)
                self._set_session_timer(dialog, timer)
        return dialog

    def _invite_answered(self, txn: ServerTransaction, response: Response, dialog: Dialog | None,
                         creates: bool, timer: session_timer.SessionTimer | None) -> Dialog | None:
        status = response.status
        request = txn.request
        if dialog is None and 100 < status < 300:
            dialog = self._dialogs.get((call_id(request), txn.local_tag or "",
                                        from_header(request).tag or ""))  # fmt: skip
            if dialog is None:
                contact = response.headers.get("Contact") or ""
                dialog = Dialog.from_uas(request, response, peer=txn.remote, contact=contact)
                dialog.peer = self._next_hop(dialog, txn.remote)
                dialog.answer = txn
                txn.dialog = dialog
                self._dialogs[dialog.key] = dialog
            if status < 200:
                return dialog
        if dialog is None:
            return None
        if status < 200:
            return dialog
        dialog.pending_in = False
        if status >= 300:
            if creates or dialog.state is DialogState.EARLY:
                self._terminate(dialog, f"INVITE answered {status}", send_bye=False)
            elif status in (408, 481):  # unlikely from us, but keep §12.2.1.2 symmetric
                self._terminate(dialog, f"re-INVITE {status}", send_bye=False)
            return dialog
        if dialog.state is DialogState.EARLY:
            dialog.state = DialogState.CONFIRMED
        else:
            self._refresh_target(dialog, request)
        if response.body:
            dialog.local_body = (response.body, response.headers.get("Content-Type"))
        self._set_session_timer(dialog, timer)
        answer = _PendingAnswer(txn.last_response or b"", txn.remote, cseq(request)[0],
                                self.now, self.timer_config.t1)  # fmt: skip
        answer.entry = self.timers.schedule(self.now + answer.interval,
                                            partial(self._retransmit_2xx, dialog))  # fmt: skip
        dialog.answer = answer
        if to_header(request).tag is None:
            self._expire_answered()
            self._answered[(dialog.call_id, dialog.remote_tag, answer.cseq)] = (
                dialog.local_tag, self.now + 64 * self.timer_config.t1)
        return dialog

    def _retransmit_2xx(self, dialog: Dialog, now: float) -> None:
        answer = dialog.answer
        if not isinstance(answer, _PendingAnswer):
            return
        cfg = self.timer_config
        if now - answer.started >= 64 * cfg.t1:
            # §13.3.1.4: no ACK: the dialog is confirmed but the session ends
            dialog.answer = None
            self._terminate(dialog, "no ACK", send_bye=True)
            return
        self.send(answer.data, answer.dest)
        answer.interval = min(answer.interval * 2, cfg.t2)
        when = min(now + answer.interval, answer.started + 64 * cfg.t1)
        answer.entry = self.timers.schedule(when, partial(self._retransmit_2xx, dialog))

    # --- session timers (RFC 4028) -----------------------------------------------------------

    def _renegotiate_uac(self, dialog: Dialog, response: Response) -> None:
        timer = session_timer.from_response(response)
        if timer is None:
            timer = dialog.session_timer  # a refresh without the header keeps the interval
        self._set_session_timer(dialog, timer)

    def _set_session_timer(self, dialog: Dialog, timer: session_timer.SessionTimer | None) -> None:
        self.timers.cancel(dialog.timer_entry)
        dialog.timer_entry = None
        dialog.session_timer = timer
        if timer is not None and dialog.state is not DialogState.TERMINATED:
            dialog.timer_entry = self.timers.schedule(timer.deadline(self.now),
                                                      partial(self._session_due, dialog))

    def _session_due(self, dialog: Dialog, now: float) -> None:
        dialog.timer_entry = None
        timer = dialog.session_timer
        if timer is None or dialog.state is DialogState.TERMINATED:
            return
        if not timer.we_refresh:
            self._terminate(dialog, "session expired", send_bye=True)
            return
        self._send_refresh(dialog, timer.interval, min_se=None)

    def _send_refresh(self, dialog: Dialog, interval: int, min_se: int | None) -> None:
        timer = dialog.session_timer
        if timer is None:
            return
        if dialog.pending_out is not None or dialog.pending_in:
            # an offer is in flight (and will refresh the session): try again shortly
            dialog.timer_entry = self.timers.schedule(self.now + 2 * self.timer_config.t1,
                                                      partial(self._session_due, dialog))
            return
        st = session_timer.SessionTimer(interval, we_refresh=True)
        headers = [("Session-Expires", st.header(we_are_uac=True)), ("Supported", "timer")]
        if min_se is not None:
            headers.append(("Min-SE", str(min_se)))
        if dialog.peer_allows_update or dialog.local_body is None:
            self.dialog_request(dialog, "UPDATE", headers=headers, owner=_REFRESH)
        else:
            body, ctype = dialog.local_body
            self.dialog_request(dialog, "INVITE", headers=headers, body=body,
                                content_type=ctype, owner=_REFRESH)  # fmt: skip

    def _refresh_outcome(self, txn: ClientTransaction, response: Response) -> None:
        dialog = txn.dialog
        status = response.status
        if dialog is None or status < 200 or dialog.state is DialogState.TERMINATED:
            return
        if status < 300:
            return  # the 2xx path already restarted the timer
        if status == 422 and dialog.session_timer is not None:
            interval = session_timer.retry_interval(response, dialog.session_timer.interval)
            if interval is not None:
                dialog.session_timer.interval = interval
                self._send_refresh(dialog, interval, min_se=interval)
                return
        if status == 491:
            delay = random.uniform(2.1, 4.0)  # §14.1
            dialog.timer_entry = self.timers.schedule(self.now + delay,
                                                      partial(self._session_due, dialog))
            return
        self._terminate(dialog, f"session refresh failed ({status})", send_bye=True)

    # --- dialog end ----------------------------------------------------------------------------

    def _terminate(self, dialog: Dialog, reason: str, *, send_bye: bool) -> None:
        if dialog.state is DialogState.TERMINATED:
            return
        was_confirmed = dialog.state is DialogState.CONFIRMED
        dialog.state = DialogState.TERMINATED
        self.timers.cancel(dialog.timer_entry)
        dialog.timer_entry = None
        answer = dialog.answer
        if isinstance(answer, _PendingAnswer):
            self.timers.cancel(answer.entry)
        dialog.answer = None
        if self._dialogs.get(dialog.key) is dialog:
            del self._dialogs[dialog.key]
        if send_bye and was_confirmed:
            self._start_bye(dialog)
        self._events.append(DialogTerminated(dialog, reason))

    # --- addressing ----------------------------------------------------------------------------

    def _address(self, transport: str, host: str, port: int, server_name: str | None) -> Address:
        """Interned addresses: thousands of dialogs with one peer share one object."""
        key = (transport, host, port, server_name)
        address = self._addresses.get(key)
        if address is None:
            address = Address(transport, host, port, server_name=server_name)
            if len(self._addresses) < _ADDRESS_CACHE_LIMIT:
                self._addresses[key] = address
        return address

    def _response_address(self, via: Via, remote: Address) -> Address:
        """§18.2.2 with RFC 3581: reliable -> the same connection; UDP -> the source address
        when rport was asked for, else the source IP and the sent-by port."""
        if remote.transport != "udp" or via.has_param("rport"):
            return remote
        return self._address("udp", remote.host, via.port or 5060, None)

    def _refresh_target(self, dialog: Dialog, msg: Request | Response) -> None:
        dialog.refresh_target(msg)
        dialog.peer = self._next_hop(dialog, dialog.peer)

    def _next_hop(self, dialog: Dialog, fallback: Address) -> Address:
        """The transport address of the first route or the remote target when it is an IP
        literal (§12.2.1.1, §8.1.2); a host name keeps the address the dialog was set up over
        (the endpoint may re-resolve it)."""
        uri = dialog.next_hop
        if not _is_ip(uri.host):
            return self._address(fallback.transport, fallback.host, fallback.port,
                                 fallback.server_name)  # fmt: skip
        transport = uri.transport or ("tls" if uri.scheme == "sips" else fallback.transport)
        if transport not in _DEFAULT_PORTS:
            transport = fallback.transport
        port = uri.port or _DEFAULT_PORTS[transport]
        server_name = fallback.server_name if transport == "tls" else None
        return self._address(transport, uri.host, port, server_name)

    # --- bad input -------------------------------------------------------------------------------

    def _malformed(self, exc: SipParseError, data: bytes, remote: Address) -> None:
        """RFC 3261 §8.2 and RFC 4475: answer a malformed request 400 (505 for another SIP
        version, 513 when too large) whenever a response can be formed from it; drop the
        rest (responses, ACKs, no usable Via). Either way it is counted and logged through
        ``refusals``, never once per message."""
        partial = exc.partial
        source = salvage(data, self.config.max_message_size) if partial is None else partial
        if source is None or source.method == "ACK":
            self.refusals.note(exc.reason, None, remote.host, self.now)
            return
        status = _PARSE_ERROR_STATUS.get(exc.reason, 400)
        via = source.headers.parsed("Via", parse_via)  # salvage() and the parser checked it
        _stamp_via(source.headers, via, remote)
        # §8.2.6.2: a To tag on every non-100 response to a request without one
        response = build_response(source.headers, status, exc.reason, to_tag=_tag())
        self.refusals.note(exc.reason, status, remote.host, self.now)
        self.send(response.to_bytes(), self._response_address(via, remote))


#: the parse errors that are not answered 400 (RFC 3261 §21.5.6, §21.5.14)
_PARSE_ERROR_STATUS = {"Version Not Supported": 505, "Message Too Large": 513}
