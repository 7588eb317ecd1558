"""RFC 3261 §17 transactions driven by a fake clock: every timer, at the RFC's times."""

from __future__ import annotations

import pytest

from src_client.sip.message import Request, Response, make_response, parse_message
from src_client.sip.timers import TimerConfig, TimerHeap
from src_client.sip.transaction import (
    ClientTransaction,
    Failure,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    Transaction,
    TransactionStateError,
)
from src_client.sip.transport import Address

UDP = Address("udp", "192.0.2.1", 5060)
TCP = Address("tcp", "192.0.2.1", 5060)


class FakeTU:
    """The transaction user: records what the transaction does and when."""

    def __init__(self, config: TimerConfig | None = None) -> None:
        self.timers = TimerHeap()
        self.timer_config = config or TimerConfig()
        self.now = 0.0
        self.sent: list[tuple[float, bytes]] = []
        self.responses: list[int] = []
        self.failures: list[Failure] = []
        self.terminated_at: float | None = None
        self.lingered: tuple[float, bytes | None] | None = None

    def send(self, data: bytes, remote: Address) -> None:
        self.sent.append((self.now, data))

    def transaction_response(self, txn: ClientTransaction, response: Response) -> None:
        self.responses.append(response.status)

    def transaction_failed(self, txn: Transaction, failure: Failure) -> None:
        self.failures.append(failure)

    def transaction_terminated(self, txn: Transaction) -> None:
        self.terminated_at = self.now

    def linger(self, txn: Transaction, delay: float, now: float, resend: bytes | None) -> None:
        """Keep the transaction itself waiting, so its Completed/Confirmed behaviour shows."""
        self.lingered = (delay, resend)
        self.timers.schedule(now + delay, lambda _: txn.linger_over())

    def run_until(self, until: float) -> None:
        """Fire each timer at its own deadline, as a real event loop would."""
        while (deadline := self.timers.next_deadline()) is not None and deadline <= until:
            self.now = deadline
            self.timers.run_due(deadline)
        self.now = until

    def send_times(self, start: bytes) -> list[float]:
        return [t for t, data in self.sent if data.startswith(start)]


def request(method: str = "INVITE", branch: str = "z9hG4bKabc") -> Request:
    text = (
        f"{method} sip:bob@192.0.2.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.9:5060;rport;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@192.0.2.9>;tag=a1\r\n"
        "To: <sip:bob@192.0.2.1>\r\n"
        "Call-ID: call-1\r\n"
        f"CSeq: 1 {method}\r\n"
        "Route: <sip:proxy.example.com;lr>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag=None if status == 100 else "b2")


def client(kind: type[ClientTransaction], tu: FakeTU, remote: Address = UDP,
           method: str = "INVITE") -> ClientTransaction:
    req = request(method)
    txn = kind(tu, req, remote, ("z9hG4bKabc", method), req.to_bytes())
    txn.start(tu.now)
    return txn


# --- client INVITE (§17.1.1) --------------------------------------------------------------


def test_invite_timer_a_doubles_without_cap_until_timer_b() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu)
    tu.run_until(100)
    # sent at 0, then A fires at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5; B at 32 ends it
    assert tu.send_times(b"INVITE") == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tu.failures == [Failure.TIMEOUT]
    assert tu.terminated_at == 32.0
    assert txn.state is State.TERMINATED


def test_invite_over_tcp_is_sent_once_and_times_out_at_64_t1() -> None:
    tu = FakeTU()
    client(InviteClientTransaction, tu, TCP)
    tu.run_until(100)
    assert tu.send_times(b"INVITE") == [0]
    assert tu.failures == [Failure.TIMEOUT] and tu.terminated_at == 32.0


def test_custom_t1_scales_every_timer() -> None:
    tu = FakeTU(TimerConfig(t1=0.1, t2=0.4, t4=0.5))
    client(InviteClientTransaction, tu)
    tu.run_until(100)
    assert tu.send_times(b"INVITE") == pytest.approx([0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3])
    assert tu.terminated_at == pytest.approx(6.4)


def test_provisional_stops_retransmission_and_disarms_timer_b() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu)
    tu.run_until(1.0)
    txn.receive_response(response(txn.request, 180), tu.now)
    tu.run_until(200)
    assert tu.send_times(b"INVITE") == [0, 0.5]
    assert tu.responses == [180]
    assert tu.failures == []
    assert txn.state is State.PROCEEDING  # Timer B only acts in Calling


def test_non_2xx_is_acked_inside_the_transaction_and_timer_d_absorbs_retransmits() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu)
    tu.run_until(0.2)
    final = response(txn.request, 486)
    txn.receive_response(final, tu.now)
    assert tu.responses == [486] and txn.state is State.COMPLETED
    acks = [data for _, data in tu.sent if data.startswith(b"ACK")]
    ack = parse_message(acks[0])
    assert isinstance(ack, Request)
    # §17.1.1.3: same Request-URI, top Via, From, Call-ID, Route; To of the response; CSeq ACK
    assert str(ack.uri) == "sip:bob@192.0.2.1"
    assert ack.headers.get_all("Via") == txn.request.headers.get_all("Via")
    assert ack.headers.get("To") == final.headers.get("To")
    assert ack.headers.get("CSeq") == "1 ACK"
    assert ack.headers.get("Route") == "<sip:proxy.example.com;lr>"
    tu.run_until(10)
    txn.receive_response(final, tu.now)  # retransmitted 486: ACK again, not passed up
    assert len(tu.send_times(b"ACK")) == 2 and tu.responses == [486]
    tu.run_until(100)
    assert tu.terminated_at == pytest.approx(32.2)  # Timer D: 32 s on UDP


def test_non_2xx_over_tcp_terminates_at_once() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu, TCP)
    txn.receive_response(response(txn.request, 503), 0.0)
    assert tu.send_times(b"ACK") == [0.0]
    assert txn.state is State.TERMINATED and tu.terminated_at == 0.0


def test_2xx_terminates_the_client_invite_transaction() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu)
    txn.receive_response(response(txn.request, 200), 0.1)
    assert tu.responses == [200] and txn.terminated
    assert tu.send_times(b"ACK") == []  # the ACK for a 2xx belongs to the core
    tu.run_until(100)
    assert tu.send_times(b"INVITE") == [0]


def test_transport_error_fails_the_transaction() -> None:
    tu = FakeTU()
    txn = client(InviteClientTransaction, tu)
    txn.fail(Failure.TRANSPORT)
    assert tu.failures == [Failure.TRANSPORT] and txn.terminated
    tu.run_until(100)
    assert tu.send_times(b"INVITE") == [0]


# --- client non-INVITE (§17.1.2) ----------------------------------------------------------


def test_non_invite_timer_e_doubles_capped_at_t2_until_timer_f() -> None:
    tu = FakeTU()
    client(NonInviteClientTransaction, tu, method="OPTIONS")
    tu.run_until(100)
    assert tu.send_times(b"OPTIONS") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert tu.failures == [Failure.TIMEOUT] and tu.terminated_at == 32.0


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    tu = FakeTU()
    txn = client(NonInviteClientTransaction, tu, method="BYE")
    tu.run_until(0.7)
    txn.receive_response(response(txn.request, 100), tu.now)
    tu.run_until(100)
    # after the 100 at 0.7, the pending E at 1.5 fires with T2 intervals from there on
    assert tu.send_times(b"BYE") == [0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert tu.failures == [Failure.TIMEOUT]


def test_non_invite_final_then_timer_k() -> None:
    tu = FakeTU()
    txn = client(NonInviteClientTransaction, tu, method="BYE")
    tu.run_until(0.2)
    final = response(txn.request, 200)
    txn.receive_response(final, tu.now)
    txn.receive_response(final, tu.now)  # retransmission absorbed
    assert tu.responses == [200] and txn.state is State.COMPLETED
    tu.run_until(100)
    assert tu.terminated_at == pytest.approx(5.2)  # Timer K = T4
    assert tu.send_times(b"BYE") == [0]


def test_non_invite_over_tcp_has_no_retransmission_and_no_timer_k() -> None:
    tu = FakeTU()
    txn = client(NonInviteClientTransaction, tu, TCP, method="BYE")
    tu.run_until(10)
    assert tu.send_times(b"BYE") == [0]
    txn.receive_response(response(txn.request, 200), tu.now)
    assert txn.terminated and tu.terminated_at == 10


# --- server INVITE (§17.2.1) --------------------------------------------------------------


def test_server_invite_absorbs_retransmissions_with_last_provisional() -> None:
    tu = FakeTU()
    req = request()
    txn = InviteServerTransaction(tu, req, UDP, ("k",))
    txn.receive_request(req, 0.0)  # nothing sent yet: nothing to repeat
    assert tu.sent == []
    txn.respond(response(req, 180), 0.0)
    txn.receive_request(req, 0.5)
    assert len(tu.send_times(b"SIP/2.0 180")) == 2


def test_server_invite_non_2xx_timer_g_capped_at_t2_and_timer_h() -> None:
    tu = FakeTU()
    req = request()
    txn = InviteServerTransaction(tu, req, UDP, ("k",))
    txn.respond(response(req, 486), 0.0)
    tu.run_until(100)
    assert tu.send_times(b"SIP/2.0 486") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5,
                                             27.5, 31.5]  # fmt: skip
    assert tu.failures == [Failure.TIMEOUT] and tu.terminated_at == 32.0


def test_server_invite_ack_confirms_then_timer_i() -> None:
    tu = FakeTU()
    req = request()
    txn = InviteServerTransaction(tu, req, UDP, ("k",))
    txn.respond(response(req, 404), 0.0)
    tu.run_until(1.0)
    txn.receive_request(request("ACK"), tu.now)
    assert txn.state is State.CONFIRMED
    txn.receive_request(request("ACK"), tu.now)  # ACK retransmission absorbed
    tu.run_until(100)
    assert tu.send_times(b"SIP/2.0 404") == [0, 0.5]
    assert tu.terminated_at == 6.0  # Timer I = T4
    assert tu.failures == []


def test_server_invite_retransmitted_invite_gets_the_final_again() -> None:
    tu = FakeTU()
    req = request()
    txn = InviteServerTransaction(tu, req, TCP, ("k",))
    txn.respond(response(req, 603), 0.0)
    txn.receive_request(req, 0.1)
    assert len(tu.send_times(b"SIP/2.0 603")) == 2
    txn.receive_request(request("ACK"), 0.2)
    assert txn.terminated and tu.terminated_at == 0.0  # Timer I = 0 on TCP


def test_server_invite_2xx_terminates_and_later_responses_are_refused() -> None:
    tu = FakeTU()
    req = request()
    txn = InviteServerTransaction(tu, req, UDP, ("k",))
    txn.respond(response(req, 200), 0.0)
    assert txn.terminated
    with pytest.raises(TransactionStateError):
        txn.respond(response(req, 487), 0.0)


# --- server non-INVITE (§17.2.2) ----------------------------------------------------------


def test_server_non_invite_trying_absorbs_then_completed_repeats_final_then_timer_j() -> None:
    tu = FakeTU()
    req = request("OPTIONS")
    txn = NonInviteServerTransaction(tu, req, UDP, ("k",))
    txn.receive_request(req, 0.1)
    assert tu.sent == []  # Trying: no response to repeat
    txn.respond(response(req, 200), 0.2)
    tu.run_until(1.0)
    txn.receive_request(req, 1.0)
    assert tu.send_times(b"SIP/2.0 200") == [0, 1.0]  # FakeTU.now is 0 at the first send
    tu.run_until(100)
    assert tu.terminated_at == pytest.approx(32.2)  # Timer J = 64*T1 on UDP
    with pytest.raises(TransactionStateError):
        txn.respond(response(req, 500), tu.now)


def test_server_non_invite_provisional_repeated_and_tcp_has_no_timer_j() -> None:
    tu = FakeTU()
    req = request("INFO")
    txn = NonInviteServerTransaction(tu, req, TCP, ("k",))
    txn.respond(response(req, 100), 0.0)
    txn.receive_request(req, 0.0)
    assert len(tu.send_times(b"SIP/2.0 100")) == 2 and txn.state is State.PROCEEDING
    txn.respond(response(req, 200), 0.0)
    assert txn.terminated


def test_timer_config_values() -> None:
    cfg = TimerConfig()
    assert (cfg.a, cfg.b, cfg.e, cfg.f, cfg.g, cfg.h) == (0.5, 32, 0.5, 32, 0.5, 32)
    assert (cfg.d(False), cfg.i(False), cfg.j(False), cfg.k(False)) == (32, 5, 32, 5)
    assert (cfg.d(True), cfg.i(True), cfg.j(True), cfg.k(True)) == (0, 0, 0, 0)
    with pytest.raises(ValueError):
        TimerConfig(t1=5, t2=4)


def test_timer_heap_lazy_cancellation_and_compaction() -> None:
    heap = TimerHeap()
    fired: list[float] = []
    entries = [heap.schedule(float(i), fired.append) for i in range(3000)]
    for entry in entries[:2500]:
        heap.cancel(entry)
    heap.cancel(entries[0])  # twice is harmless
    assert len(heap) == 500
    assert heap.next_deadline() == 2500.0
    assert heap.run_due(2600.0) == 101
    assert fired[0] == 2500.0 and fired[-1] == 2600.0
