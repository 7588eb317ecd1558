"""Dialog state (RFC 3261 §12), sans-IO, and the request builder shared with the core.

A dialog keeps its From/To values as the strings that went on the wire, so building an
in-dialog request costs no re-serialisation, and the parsed name-addr forms are derived on
demand. The UA core keeps its own per-dialog bookkeeping (2xx awaiting ACK, glare flags,
session timer) in the same ``__slots__`` object so that an established dialog is one small
object plus its strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING

from .headers import Headers
from .message import Request, Response, call_id, cseq, from_header, to_header
from .uri import NameAddr, SipUri, parse_name_addr

if TYPE_CHECKING:
    from .session_timer import SessionTimer
    from .timers import TimerEntry
    from .transport import Address

#: URI parameters not allowed in a Request-URI taken from a Route (RFC 3261 §19.1.1 table 1).
_NOT_IN_REQUEST_URI = frozenset(("method", "ttl", "maddr", "lr"))


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


DialogKey = tuple[str, str, str]  # (Call-ID, local tag, remote tag)


def build_request(
    method: str,
    uri: SipUri,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    routes: Iterable[str] = (),
    contact: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A request in the header order pjsip and SIPp use: Via, Route, Max-Forwards first.

    ``headers`` are validated by Headers.add(); the rest has fixed names, so only its values
    are checked."""
    items = [("via", "Via", via)]
    items += [("route", "Route", route) for route in routes]
    items += [
        ("max-forwards", "Max-Forwards", "70"),
        ("from", "From", from_),
        ("to", "To", to),
        ("call-id", "Call-ID", call_id),
        ("cseq", "CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        items.append(("contact", "Contact", contact))
    out = Headers.canonical(items)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return Request(method, uri, out, body)


def contact_uri(msg: Request | Response) -> SipUri | None:
    """The first Contact's URI, None without Contact (SipParseError when malformed)."""
    value = msg.headers.get("Contact")
    if value is None:
        return None
    return parse_name_addr(value).uri


class Dialog:
    """One dialog: the §12 state plus the core's per-dialog bookkeeping.

    ``remote_cseq`` is 0 while empty (sequence numbers are at least 1 on the wire in practice;
    §12.1.1 only needs "empty" to be distinguishable).
    """

    __slots__ = (
        "_route_set",
        "ack_branch",
        "answer",
        "call_id",
        "contact",
        "is_uac",
        "key",
        "last_invite_cseq",
        "local_body",
        "local_cseq",
        "local_header",
        "local_tag",
        "peer",
        "peer_allows_update",
        "pending_in",
        "pending_out",
        "remote_cseq",
        "remote_header",
        "remote_tag",
        "remote_target",
        "secure",
        "session_timer",
        "state",
        "timer_entry",
        "user",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_header: str,
        remote_header: str,
        remote_target: SipUri,
        route_set: Sequence[str],
        local_cseq: int,
        remote_cseq: int,
        is_uac: bool,
        secure: bool,
        peer: Address,
        contact: str,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.key: DialogKey = (call_id, local_tag, remote_tag)
        # (INVITE CSeq, Via branch) of our last ACK to a 2xx: a retransmitted 2xx gets the
        # same ACK again (RFC 3261 §13.2.2.4), not a new transaction-looking one
        self.ack_branch: tuple[int, str] | None = None
        self.local_header = local_header
        self.remote_header = remote_header
        self.remote_target = remote_target
        self._route_set: tuple[str, ...] = tuple(route_set)
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.is_uac = is_uac
        self.secure = secure
        self.peer = peer  # transport address of the next hop (first route or remote target)
        self.contact = contact  # our Contact value (shared string)
        self.state = DialogState.EARLY
        # core bookkeeping
        self.last_invite_cseq = local_cseq  # CSeq of our last INVITE, to re-ACK its 2xx
        self.local_body: tuple[bytes, str | None] | None = None  # last SDP we sent, for refreshes
        self.answer: object = None  # UAS: the pending INVITE, then its 2xx until the ACK
        self.pending_out: str | None = None  # method of our outstanding INVITE/UPDATE offer
        self.pending_in = False  # an incoming re-INVITE awaits our final response
        self.peer_allows_update = False
        self.session_timer: SessionTimer | None = None
        self.timer_entry: TimerEntry | None = None
        self.user: object = None

    # --- construction (§12.1) -------------------------------------------------------------

    @classmethod
    def from_uac(cls, response: Response, *, request_uri: SipUri, peer: Address,
                 contact: str) -> Dialog:
        """§12.1.2: the dialog a 2xx to our INVITE creates.

        Everything comes from the response (From, Call-ID and CSeq echo the request), so a 2xx
        that outlived its transaction can still be turned into a dialog to ACK and BYE.
        """
        record_route = response.headers.get_all("Record-Route")
        target = contact_uri(response) or request_uri
        dialog = cls(
            call_id=call_id(response),
            local_tag=from_header(response).tag or "",
            remote_tag=to_header(response).tag or "",
            local_header=response.headers.get("From") or "",
            remote_header=response.headers.get("To") or "",
            remote_target=target,
            route_set=record_route[::-1],
            local_cseq=cseq(response)[0],
            remote_cseq=0,
            is_uac=True,
            secure=request_uri.scheme == "sips" and peer.transport == "tls",
            peer=peer,
            contact=contact,
        )
        dialog._note_allow(response)
        return dialog

    @classmethod
    def from_uas(cls, request: Request, response: Response, *, peer: Address,
                 contact: str) -> Dialog:
        """§12.1.1: the dialog our 2xx (or 1xx with tag) to an INVITE creates."""
        target = contact_uri(request)
        if target is None:
            raise ValueError("dialog-creating request without Contact")
        dialog = cls(
            call_id=call_id(request),
            local_tag=to_header(response).tag or "",
            remote_tag=from_header(request).tag or "",
            local_header=response.headers.get("To") or "",
            remote_header=request.headers.get("From") or "",
            remote_target=target,
            route_set=request.headers.get_all("Record-Route"),
            local_cseq=0,
            remote_cseq=cseq(request)[0],
            is_uac=False,
            secure=request.uri.scheme == "sips" and peer.transport == "tls",
            peer=peer,
            contact=contact,
        )
        dialog._note_allow(request)
        return dialog

    # --- views ----------------------------------------------------------------------------

    @property
    def local(self) -> NameAddr:
        return parse_name_addr(self.local_header)

    @property
    def remote(self) -> NameAddr:
        return parse_name_addr(self.remote_header)

    @property
    def route_set(self) -> list[NameAddr]:
        return [parse_name_addr(route) for route in self._route_set]

    @property
    def next_hop(self) -> SipUri:
        """Where in-dialog requests go first (§12.2.1.1, then §8.1.2)."""
        return parse_name_addr(self._route_set[0]).uri if self._route_set else self.remote_target

    # --- updates --------------------------------------------------------------------------

    def refresh_target(self, msg: Request | Response) -> None:
        """§12.2: a target refresh request or its 2xx replaces the remote target."""
        target = contact_uri(msg)
        if target is not None:
            self.remote_target = target
        self._note_allow(msg)

    def accept_remote_cseq(self, number: int) -> bool:
        """§12.2.2: False (answer 500) when the request is older than the last one seen."""
        if self.remote_cseq and number < self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def _note_allow(self, msg: Request | Response) -> None:
        if "Allow" in msg.headers:
            allow = [value for name, value in msg.headers if name == "Allow"]
            methods = ",".join(allow).upper().replace(" ", "").split(",")
            self.peer_allows_update = "UPDATE" in methods

    # --- in-dialog requests (§12.2.1.1) ---------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        via: str,
        number: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """Build an in-dialog request; ``number`` overrides the CSeq (ACK reuses the INVITE's).

        Loose routing when the first route has ``lr``; otherwise strict routing: the first
        route becomes the Request-URI and the remote target the last Route.
        """
        if number is None:
            self.local_cseq = number = self.local_cseq + 1
        routes: Sequence[str] = self._route_set
        uri = self.remote_target
        if routes:
            first = parse_name_addr(routes[0]).uri
            if not first.has_param("lr"):
                kept = tuple(p for p in first.params if p[0] not in _NOT_IN_REQUEST_URI)
                uri = first.replace(params=kept, headers=())
                routes = [*routes[1:], f"<{self.remote_target}>"]
        contact = self.contact if method in ("INVITE", "UPDATE") else None
        return build_request(
            method,
            uri,
            via=via,
            from_=self.local_header,
            to=self.remote_header,
            call_id=self.call_id,
            cseq=number,
            routes=routes,
            contact=contact,
            headers=headers,
            body=body,
            content_type=content_type,
        )
