"""The sans-IO UA core: two cores (UAC and UAS) on a simulated network with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sipcore_harness import Net

from src_client.sip.core import (
    DialogConfirmed,
    DialogTerminated,
    RequestCancelled,
    RequestPending,
    RequestReceived,
    ResponseReceived,
    TransactionFailed,
    UserAgentCore,
)
from src_client.sip.dialog import Dialog, DialogState
from src_client.sip.message import Request, Response, cseq, make_response, to_header, top_via
from src_client.sip.transaction import Failure, InviteClientTransaction, ServerTransaction
from src_client.sip.transport import Address
from src_client.sip.uri import parse_uri

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)
C = Address("udp", "127.0.0.1", 5099)  # a peer played by the test (raw messages)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def pair(transport: str = "udp") -> tuple[Net, UserAgentCore, UserAgentCore, Address, Address]:
    a, b = Address(transport, A.host, A.port), Address(transport, B.host, B.port)
    net = Net()
    return net, net.add(a), net.add(b), a, b


def invite(net: Net, uac: UserAgentCore, dst: Address, *, call: str = "c1",
           headers: list[tuple[str, str]] | None = None) -> InviteClientTransaction:
    txn = uac.send_request(
        "INVITE", parse_uri(f"sip:bob@{dst.host}:{dst.port}"), dst,
        from_="<sip:alice@127.0.0.1>;tag=a1", to="<sip:bob@127.0.0.1>", call_id=call, cseq=1,
        contact=uac.contact(dst.transport, "alice"), headers=headers or [], body=SDP,
        content_type="application/sdp", owner="test",
    )  # fmt: skip
    net.pump()
    assert isinstance(txn, InviteClientTransaction)
    return txn


def incoming(net: Net, at: Address, method: str = "INVITE") -> ServerTransaction:
    found = [e for e in net.take(at, RequestReceived) if e.transaction.request.method == method]
    assert len(found) == 1, found
    return found[0].transaction  # type: ignore[no-any-return]


def statuses(net: Net, at: Address) -> list[int]:
    return [e.response.status for e in net.take(at, ResponseReceived)]


def established(transport: str = "udp") -> tuple[Net, UserAgentCore, UserAgentCore, Dialog,
                                                  Dialog, Address, Address]:
    net, uac, uas, a, b = pair(transport)
    invite(net, uac, b)
    server = incoming(net, b)
    uas_dialog = uas.respond(server, 200, body=SDP, content_type="application/sdp")
    net.pump()
    responses = net.take(a, ResponseReceived)
    uac_dialog = responses[-1].dialog
    assert uac_dialog is not None and uas_dialog is not None
    assert net.take(b, DialogConfirmed)
    return net, uac, uas, uac_dialog, uas_dialog, a, b


# --- INVITE / 2xx / ACK / BYE ------------------------------------------------------------


def test_call_setup_and_teardown() -> None:
    net, uac, uas, a, b = pair()
    invite(net, uac, b)
    assert [s.first_line for s in net.log[:2]] == [
        "INVITE sip:bob@127.0.0.1:5062 SIP/2.0", "SIP/2.0 100 Trying"]  # fmt: skip
    server = incoming(net, b)
    uas.respond(server, 180)
    uas_dialog = uas.respond(server, 200, body=SDP, content_type="application/sdp")
    net.pump()
    assert statuses(net, a) == [180, 200]  # 100 Trying is hop by hop, not surfaced
    assert len(net.sent(a, "ACK")) == 1
    (confirmed,) = net.take(b, DialogConfirmed)
    assert confirmed.dialog is uas_dialog
    (uac_dialog,) = uac.dialogs()
    assert uas_dialog is not None
    assert uac_dialog.key == ("c1", "a1", uas_dialog.local_tag)
    assert uas_dialog.key == ("c1", uas_dialog.local_tag, "a1")
    assert uac_dialog.state is uas_dialog.state is DialogState.CONFIRMED
    assert str(uac_dialog.remote_target) == "sip:bob@127.0.0.1:5062"
    assert str(uas_dialog.remote_target) == "sip:alice@127.0.0.1:5061"
    assert uas_dialog.remote_cseq == 1 and uac_dialog.local_cseq == 1

    bye = uac.dialog_request(uac_dialog, "BYE", owner="bye")
    assert uac_dialog.state is DialogState.TERMINATED  # §15.1.1: ended when BYE is sent
    net.pump()
    server_bye = incoming(net, b, "BYE")
    assert server_bye.dialog is uas_dialog
    uas.respond(server_bye, 200)
    net.pump()
    assert [e.response.status for e in net.take(a, ResponseReceived)
            if e.transaction is bye] == [200]  # fmt: skip
    assert [e.reason for e in net.take(b, DialogTerminated)] == ["BYE received"]
    assert [e.reason for e in net.take(a, DialogTerminated)] == ["BYE sent"]
    assert cseq(net.sent(a, "BYE")[0].message) == (2, "BYE")
    net.run_until(100)
    assert uac.dialog_count == uas.dialog_count == 0
    assert uac.transaction_count == uas.transaction_count == 0
    assert uac.next_timer() is None and uas.next_timer() is None


def test_2xx_retransmitted_until_ack_and_re_acked_by_the_uac() -> None:
    net, uac, uas, a, b = pair()
    net.drop = lambda s: s.first_line.startswith("ACK") and s.time < 3.0
    invite(net, uac, b)
    uas.respond(incoming(net, b), 200, body=SDP, content_type="application/sdp")
    net.run_until(100)
    assert net.times(b, "SIP/2.0 200") == [0, 0.5, 1.5, 3.5]
    assert net.times(a, "ACK") == [0, 0.5, 1.5, 3.5]  # each 2xx re-ACKed by the UAC core
    acks = {s.data for s in net.sent(a, "ACK")}
    assert len(acks) == 1  # §13.2.2.4: the same ACK each time, branch included
    assert len(net.take(b, DialogConfirmed)) == 1
    assert statuses(net, a) == [200]  # retransmissions are not surfaced


def test_2xx_without_ack_gives_up_after_64_t1_with_bye() -> None:
    net, uac, uas, a, b = pair()
    net.drop = lambda s: s.first_line.startswith("ACK")
    invite(net, uac, b)
    uas.respond(incoming(net, b), 200, body=SDP, content_type="application/sdp")
    net.run_until(31.9)
    assert net.times(b, "SIP/2.0 200") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5,
                                           27.5, 31.5]  # fmt: skip
    net.run_until(33)
    assert net.times(b, "BYE")[0] == 32.0
    assert [e.reason for e in net.take(b, DialogTerminated)] == ["no ACK"]
    bye = incoming(net, a, "BYE")
    assert bye.dialog is not None
    uac.respond(bye, 200)
    net.pump()
    assert uac.dialog_count == uas.dialog_count == 0


def test_2xx_over_tcp_is_still_retransmitted_by_the_uas_core() -> None:
    net, uac, uas, a, b = pair("tcp")
    net.drop = lambda s: s.first_line.startswith("ACK") and s.time < 1.0
    invite(net, uac, b)
    uas.respond(incoming(net, b), 200, body=SDP, content_type="application/sdp")
    net.run_until(100)
    assert net.times(a, "INVITE") == [0]  # no Timer A over TCP
    assert net.times(b, "SIP/2.0 200") == [0, 0.5, 1.5]  # §13.3.1.4 is end to end


def test_non_2xx_is_acked_by_the_transaction_and_creates_no_dialog() -> None:
    net, uac, uas, a, b = pair()
    invite(net, uac, b)
    server = incoming(net, b)
    uas.respond(server, 180)
    uas.respond(server, 486)
    net.pump()
    assert statuses(net, a) == [180, 486]
    ack = net.sent(a, "ACK")[0].message
    assert isinstance(ack, Request)
    assert top_via(ack).branch == top_via(net.sent(a, "INVITE")[0].message).branch
    net.run_until(100)
    assert net.times(b, "SIP/2.0 486") == [0]  # the ACK stopped Timer G
    assert uac.dialog_count == uas.dialog_count == 0  # the early dialog ended with the 486
    assert uas.transaction_count == uac.transaction_count == 0


def test_invite_timeout_is_reported() -> None:
    net, uac, _uas, a, b = pair()
    net.drop = lambda s: s.dst == b
    txn = invite(net, uac, b)
    net.run_until(100)
    (failed,) = net.take(a, TransactionFailed)
    assert failed.transaction is txn and failed.failure is Failure.TIMEOUT
    assert net.times(a, "INVITE") == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]


def test_transport_error_fails_the_transaction() -> None:
    net, uac, _uas, a, b = pair("tcp")
    net.drop = lambda s: True
    txn = invite(net, uac, b)
    uac.transport_error(b, 0.1)
    net.pump()
    (failed,) = net.take(a, TransactionFailed)
    assert failed.transaction is txn and failed.failure is Failure.TRANSPORT


# --- CANCEL ------------------------------------------------------------------------------


def test_cancel_gets_200_and_the_invite_487() -> None:
    net, uac, uas, a, b = pair()
    txn = invite(net, uac, b)
    server = incoming(net, b)
    uas.respond(server, 180)
    net.pump()
    uac.cancel(txn)
    net.pump()
    cancel = net.sent(a, "CANCEL")[0].message
    assert isinstance(cancel, Request)
    assert top_via(cancel).branch == txn.key[0] and cseq(cancel) == (1, "CANCEL")
    assert [s.first_line for s in net.sent(b, "SIP/2.0 ")][-2:] == [
        "SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]  # fmt: skip
    (cancelled,) = net.take(b, RequestCancelled)
    assert cancelled.transaction is server
    assert statuses(net, a) == [180, 487]
    assert len(net.sent(a, "ACK")) == 1
    net.run_until(100)
    assert uac.dialog_count == uas.dialog_count == 0


def test_cancel_waits_for_a_provisional_response() -> None:
    net, uac, uas, a, b = pair()
    net.drop = lambda s: s.first_line == "SIP/2.0 100 Trying"
    txn = invite(net, uac, b)
    server = incoming(net, b)
    uac.cancel(txn)
    net.pump()
    assert net.sent(a, "CANCEL") == []  # §9.1: not before a provisional response
    uas.respond(server, 183)
    net.pump()
    assert len(net.sent(a, "CANCEL")) == 1
    assert statuses(net, a)[-1] == 487


def test_2xx_racing_a_cancel_is_acked_and_ended_with_bye() -> None:
    net, uac, uas, a, b = pair()
    txn = invite(net, uac, b)
    server = incoming(net, b)
    uac.cancel(txn)  # the 100 arrived, so the CANCEL leaves at once ...
    uas.respond(server, 200, body=SDP, content_type="application/sdp")  # ... but 200 wins
    net.pump()
    assert len(net.sent(a, "ACK")) == 1
    assert len(net.sent(a, "BYE")) == 1
    assert [e.reason for e in net.take(a, DialogTerminated)] == ["cancelled"]
    uas.respond(incoming(net, b, "BYE"), 200)
    net.pump()
    assert uac.dialog_count == uas.dialog_count == 0


def test_cancel_for_unknown_transaction_gets_481() -> None:
    net, _uac, _uas, _a, b = pair()
    raw = (
        "CANCEL sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKnope\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\n"
        "Call-ID: zz\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    )
    net.inject(raw.encode(), C, b)
    assert [s.first_line for s in net.sent(b, "SIP/2.0")] == [
        "SIP/2.0 481 Call/Transaction Does Not Exist"]  # fmt: skip


# --- matching, 481, 491, 400 -------------------------------------------------------------


def raw_request(method: str, *, branch: str = "z9hG4bK1", to_tag: str = "", cseq_no: int = 1,
                extra: str = "", sent_by: str = "127.0.0.1:5099", body: str = "") -> bytes:
    to = f"<sip:bob@127.0.0.1>{';tag=' + to_tag if to_tag else ''}"
    return (
        f"{method} sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {sent_by};branch={branch}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a9\r\nTo: {to}\r\n"
        f"Call-ID: raw-1\r\nCSeq: {cseq_no} {method}\r\n"
        f"Contact: <sip:alice@127.0.0.1:5061>\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def test_retransmitted_invite_is_absorbed_by_the_server_transaction() -> None:
    net, _uac, uas, _a, b = pair()
    net.inject(raw_request("INVITE"), C, b)
    net.inject(raw_request("INVITE"), C, b)
    server = incoming(net, b)  # exactly one
    assert len(net.sent(b, "SIP/2.0 100")) == 2  # the retransmission got the 100 again
    uas.respond(server, 200, body=SDP, content_type="application/sdp")
    net.pump()
    net.inject(raw_request("INVITE"), C, b)  # crosses our 2xx: 2xx again, no new call
    assert net.take(b, RequestReceived) == []
    assert len(net.sent(b, "SIP/2.0 200")) == 2


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    net, _uac, _uas, _a, b = pair()
    net.inject(raw_request("OPTIONS"), C, b)
    net.inject(raw_request("OPTIONS", sent_by="127.0.0.1:5098"), C, b)
    assert len(net.take(b, RequestReceived)) == 2


def test_in_dialog_request_for_unknown_dialog_gets_481() -> None:
    net, _uac, _uas, _a, b = pair()
    net.inject(raw_request("BYE", to_tag="unknown"), C, b)
    assert [s.first_line for s in net.sent(b, "SIP/2.0")] == [
        "SIP/2.0 481 Call/Transaction Does Not Exist"]  # fmt: skip
    net.inject(raw_request("ACK", branch="z9hG4bK2", to_tag="unknown"), C, b)
    assert len(net.sent(b, "SIP/2.0")) == 1  # a stray ACK is never answered


def test_malformed_request_gets_400_with_the_parser_reason() -> None:
    net, _uac, _uas, a, b = pair()
    data = raw_request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 40")
    net.inject(data, C, b)
    (sent,) = net.sent(b, "SIP/2.0")
    assert sent.first_line.startswith("SIP/2.0 400 ")
    assert "Content-Length" in sent.first_line
    assert to_header(sent.message).tag  # §8.2.6.2: the request had no To tag
    in_dialog = raw_request("INFO", to_tag="theirs").replace(b"Content-Length: 0",
                                                            b"Content-Length: 40")  # fmt: skip
    net.inject(in_dialog, C, b)
    assert to_header(net.sent(b, "SIP/2.0")[1].message).tag == "theirs"  # kept, not added
    net.inject(b"garbage\r\n\r\n", a, b)
    assert len(net.sent(b, "SIP/2.0")) == 2  # unanswerable: dropped


def test_unsupported_require_gets_420_and_unknown_scheme_416() -> None:
    net, _uac, _uas, _a, b = pair()
    net.inject(raw_request("OPTIONS", extra="Require: foo, timer\r\n"), C, b)
    (sent,) = net.sent(b, "SIP/2.0")
    assert sent.first_line == "SIP/2.0 420 Bad Extension"
    assert isinstance(sent.message, Response) and sent.message.headers.get("Unsupported") == "foo"
    data = raw_request("OPTIONS", branch="z9hG4bK7").replace(
        b"OPTIONS sip:bob@127.0.0.1:5062", b"OPTIONS tel:+15551234")
    net.inject(data, C, b)
    assert net.sent(b, "SIP/2.0")[-1].first_line == "SIP/2.0 416 Unsupported URI Scheme"


def test_stray_response_is_dropped() -> None:
    net, _uac, _uas, a, b = pair()
    raw = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKnothing\r\n"
        "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: q\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    net.inject(raw.encode(), b, a)
    assert net.log == [] and net.events[a] == []


def test_2xx_from_an_unknown_fork_is_acked_and_ended() -> None:
    net, _uac, _uas, a, b = pair()
    raw = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKgone\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=fork2\r\n"
        "Call-ID: f1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:5062>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    net.inject(raw.encode(), b, a)
    assert [s.first_line for s in net.sent(a, "")] == [
        "ACK sip:bob@127.0.0.1:5062 SIP/2.0", "BYE sip:bob@127.0.0.1:5062 SIP/2.0"]  # fmt: skip
    assert net.events[a] == []


def test_reinvite_glare_gets_491_on_both_sides() -> None:
    net, uac, uas, ud, sd, a, b = established()
    t1 = uac.dialog_request(ud, "INVITE", body=SDP, content_type="application/sdp")
    t2 = uas.dialog_request(sd, "INVITE", body=SDP, content_type="application/sdp")
    net.pump()
    assert [e.response.status for e in net.take(a, ResponseReceived) if e.transaction is t1] == [
        491]  # fmt: skip
    assert [e.response.status for e in net.take(b, ResponseReceived) if e.transaction is t2] == [
        491]  # fmt: skip
    assert ud.state is sd.state is DialogState.CONFIRMED
    assert ud.pending_out is None and sd.pending_out is None
    # after the glare both may try again; a second request while one is pending is refused
    uac.dialog_request(ud, "INVITE", body=SDP, content_type="application/sdp")
    with pytest.raises(RequestPending):
        uac.dialog_request(ud, "UPDATE", body=SDP, content_type="application/sdp")


def test_second_reinvite_while_first_is_unanswered_gets_500_retry_after() -> None:
    net, uac, uas, ud, _sd, _a, b = established()
    uac.dialog_request(ud, "INVITE", body=SDP, content_type="application/sdp")
    net.pump()
    first = incoming(net, b)
    ud.pending_out = None  # pretend the UAC lost track and sends another one
    uac.dialog_request(ud, "INVITE", body=SDP, content_type="application/sdp")
    net.pump()
    last = net.sent(b, "SIP/2.0 500")[-1].message
    assert isinstance(last, Response) and last.headers.get("Retry-After") is not None
    uas.respond(first, 200, body=SDP, content_type="application/sdp")
    net.pump()
    assert net.take(b, DialogConfirmed)


def test_out_of_order_cseq_gets_500() -> None:
    net, uac, uas, ud, _sd, _a, b = established()
    uac.dialog_request(ud, "OPTIONS")
    net.pump()
    uas.respond(incoming(net, b, "OPTIONS"), 200)
    ud.local_cseq = 0  # the next request reuses an old sequence number
    uac.dialog_request(ud, "INFO")
    net.pump()
    assert net.sent(b, "SIP/2.0")[-1].first_line == "SIP/2.0 500 CSeq Out of Order"


def test_bye_in_early_dialog_terminates_the_invite_with_487() -> None:
    net, _uac, uas, _a, b = pair()
    net.inject(raw_request("INVITE"), C, b)
    server = incoming(net, b)
    early = uas.respond(server, 180)
    assert early is not None and early.state is DialogState.EARLY
    net.inject(raw_request("BYE", branch="z9hG4bK3", to_tag=early.local_tag, cseq_no=2), C, b)
    assert net.sent(b, "SIP/2.0 487")
    assert net.take(b, RequestCancelled)
    bye = incoming(net, b, "BYE")
    uas.respond(bye, 200)
    net.pump()
    assert uas.dialog_count == 0


def test_uas_reinvite_refreshes_the_remote_target_and_is_acked() -> None:
    net, uac, uas, ud, sd, a, b = established()
    txn = uas.dialog_request(sd, "INVITE", body=SDP, content_type="application/sdp")
    net.pump()
    reinvite = incoming(net, a)
    assert reinvite.dialog is ud
    uac.respond(reinvite, 200, body=SDP, content_type="application/sdp")
    net.pump()
    assert [e.response.status for e in net.take(b, ResponseReceived)
            if e.transaction is txn] == [200]  # fmt: skip
    ack = net.sent(b, "ACK")[-1].message
    assert isinstance(ack, Request) and cseq(ack) == (1, "ACK")  # the UAS's first CSeq
    assert net.take(a, DialogConfirmed)
    assert sd.local_cseq == 1 and ud.remote_cseq == 1


def test_request_over_the_mtu_goes_over_tcp_and_falls_back_to_udp() -> None:
    net, uac, _uas, a, b = pair()
    uac.local_addresses["tcp"] = Address("tcp", a.host, a.port)
    big = b"x" * 1500
    txn = uac.send_request("MESSAGE", parse_uri("sip:bob@127.0.0.1:5062"), b,
                           from_="<sip:a@x>;tag=1", to="<sip:b@y>", call_id="m", cseq=1,
                           body=big, content_type="text/plain")  # fmt: skip
    assert txn.remote.transport == "tcp"
    assert top_via(txn.request).transport == "TCP"
    uac.transport_error(txn.remote, 0.0)  # no TCP listener there: §18.1.1 retries over UDP
    net.pump()
    sends = net.sent(a, "MESSAGE")
    assert [s.dst.transport for s in sends] == ["tcp", "udp"]
    assert top_via(sends[1].message).transport == "UDP"
    assert net.take(a, TransactionFailed) == []


def test_invite_without_usable_contact_gets_400_and_leaves_no_transaction() -> None:
    net, _uac, uas, _a, b = pair()
    no_contact = raw_request("INVITE").replace(b"Contact: <sip:alice@127.0.0.1:5061>\r\n", b"")
    net.inject(no_contact, C, b)
    bad_contact = raw_request("INVITE", branch="z9hG4bK9").replace(
        b"Contact: <sip:alice@127.0.0.1:5061>", b"Contact: <sip:alice@127.0.0.1:port>")
    net.inject(bad_contact, C, b)
    finals = [s.first_line for s in net.sent(b, "SIP/2.0 4")]
    assert finals[0] == "SIP/2.0 400 Missing Contact"
    assert finals[1].startswith("SIP/2.0 400 ") and len(finals) == 2
    assert net.take(b, RequestReceived) == []
    net.inject(raw_request("ACK", branch="z9hG4bK9"), C, b)
    net.run_until(100)
    assert len(net.sent(b, "SIP/2.0 400 Missing Contact")) == 11  # no ACK: Timer G until H
    assert len(net.sent(b, finals[1])) == 1  # ACKed
    assert uas.transaction_count == 0


def test_target_refresh_by_reinvite_2xx_moves_the_ack_and_later_requests() -> None:
    net, uac, _uas, ud, _sd, a, b = established()
    net.drop = lambda s: s.dst == b  # the test answers in the UAS's place
    uac.dialog_request(ud, "INVITE", body=SDP, content_type="application/sdp")
    net.pump()
    reinvite = net.sent(a, "INVITE")[-1].message
    assert isinstance(reinvite, Request)
    ok = make_response(reinvite, 200, headers=[("Contact", "<sip:bob@127.0.0.1:5070>")],
                       body=SDP, content_type="application/sdp")  # fmt: skip
    net.inject(ok.to_bytes(), b, a)
    moved = Address("udp", "127.0.0.1", 5070)
    assert net.sent(a, "ACK")[-1].dst == moved
    assert str(ud.remote_target) == "sip:bob@127.0.0.1:5070"
    uac.dialog_request(ud, "BYE")
    net.pump()
    assert net.sent(a, "BYE")[-1].dst == moved


def test_responses_carry_received_and_rport_of_the_source() -> None:
    net, _uac, _uas, _a, b = pair()
    data = raw_request("OPTIONS").replace(b"branch=z9hG4bK1", b"rport;branch=z9hG4bK1")
    source = Address("udp", "127.0.0.2", 40000)  # behind a NAT: not the sent-by address
    net.inject(data.replace(b"127.0.0.1:5099", b"10.0.0.7:5060"), source, b)
    (event,) = net.take(b, RequestReceived)
    net.cores[b].respond(event.transaction, 200)
    net.pump()
    (sent,) = net.sent(b, "SIP/2.0 200")
    assert sent.dst == source  # RFC 3581: back to the source port
    assert isinstance(sent.message, Response)
    via = top_via(sent.message)
    assert via.param("rport") == "40000" and via.param("received") == "127.0.0.2"
    assert via.host == "10.0.0.7" and via.branch == "z9hG4bK1"


def test_cancel_before_any_response_leaves_with_the_100_trying() -> None:
    net, uac, _uas, a, b = pair()
    txn = uac.send_request(
        "INVITE", parse_uri("sip:bob@127.0.0.1:5062"), b, from_="<sip:alice@127.0.0.1>;tag=a1",
        to="<sip:bob@127.0.0.1>", call_id="early-cancel", cseq=1,
        contact=uac.contact("udp", "alice"), owner="test",
    )  # fmt: skip
    assert isinstance(txn, InviteClientTransaction)
    uac.cancel(txn)  # nothing heard yet: the CANCEL waits (§9.1)
    assert [d for d, _ in uac.datagrams_to_send() if d.startswith(b"CANCEL")] == []
    net.log.clear()
    uac.send(txn.data, b)  # hand the INVITE to the network
    net.pump()
    assert len(net.sent(a, "CANCEL")) == 1  # released by the (fast-path) 100 Trying
    assert statuses(net, a) == [487]


def test_100_trying_in_unusual_form_takes_the_full_parser() -> None:
    net, uac, _uas, a, b = pair()
    net.drop = lambda s: s.dst == b
    txn = invite(net, uac, b)
    request = net.sent(a, "INVITE")[0].message
    assert isinstance(request, Request)
    trying = make_response(request, 100).to_bytes().replace(b"\r\nVia:", b"\r\nv:")
    net.inject(trying, b, a)
    assert txn.state.value == "Proceeding"
    net.run_until(10)
    assert net.times(a, "INVITE") == [0]  # no retransmission after the 100


_SAMPLES = [
    raw_request("INVITE"),
    raw_request("BYE", to_tag="x", extra="Route: <sip:p;lr>\r\n"),
    raw_request("OPTIONS", extra="Require: timer\r\nSession-Expires: 90;refresher=uac\r\n"),
    raw_request("UPDATE", to_tag="y", body="v=0\r\n"),
    raw_request("CANCEL"),
    raw_request("ACK", to_tag="z"),
    (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKq\r\n"
     b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: q\r\nCSeq: 1 INVITE\r\n"
     b"Contact: <sip:b@127.0.0.1:5062>\r\nRecord-Route: <sip:r;lr>\r\nContent-Length: 0\r\n\r\n"),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SAMPLES), st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=4)),
                                           max_size=4))  # fmt: skip
def test_mutated_messages_never_raise(sample: bytes, edits: list[tuple[int, bytes]]) -> None:
    """Bad input gets a 400 or is dropped; it never raises out of the core."""
    data = bytearray(sample)
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    net, _uac, uas, _a, b = pair()
    net.inject(bytes(data), C, b)
    net.inject(bytes(data), C, b)  # and again, as a retransmission
    for event in net.take(b, RequestReceived):
        uas.respond(event.transaction, 200)
    net.run_until(100)


def test_ack_and_cancel_are_not_user_requests() -> None:
    _net, uac, _uas, ud, _sd, _a, _b = established()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(ValueError):
            uac.dialog_request(ud, method)


def test_invite_retransmission_after_the_ack_is_dropped_until_64_t1() -> None:
    net, _uac, uas, _a, b = pair()
    net.inject(raw_request("INVITE"), C, b)
    uas.respond(incoming(net, b), 200, body=SDP, content_type="application/sdp")
    net.pump()
    (ok,) = net.sent(b, "SIP/2.0 200")
    to_tag = to_header(ok.message).tag or ""
    net.inject(raw_request("ACK", branch="z9hG4bKack", to_tag=to_tag), C, b)
    assert net.take(b, DialogConfirmed)
    net.run_until(10)
    net.inject(raw_request("INVITE"), C, b)  # a late copy of the original INVITE
    assert net.take(b, RequestReceived) == [] and len(net.sent(b, "SIP/2.0 200")) == 1
    net.run_until(40)
    net.inject(raw_request("INVITE", branch="z9hG4bKnew", cseq_no=5), C, b)  # new call
    net.inject(raw_request("INVITE"), C, b)  # 64*T1 later: a new request again
    assert len(net.take(b, RequestReceived)) == 2


# --- Completed / Confirmed: retransmissions absorbed until Timer D, I, J, K -----------------


def test_retransmitted_final_response_to_a_non_invite_is_absorbed_until_timer_k() -> None:
    net, uac, uas, uac_dialog, _uas_dialog, a, b = established()
    uac.dialog_request(uac_dialog, "BYE")
    net.pump()
    uas.respond(incoming(net, b, "BYE"), 200)
    net.pump()
    assert statuses(net, a) == [200]
    final = net.sent(b, "SIP/2.0 200")[-1].data
    sent_before = len(net.log)
    net.inject(final, b, a)  # the same 200 again, at once and just before T4 = 5 s
    net.now = 4.9
    net.inject(final, b, a)
    assert statuses(net, a) == [] and len(net.log) == sent_before  # no event, nothing sent
    assert uac.transaction_count >= 1  # the BYE's transaction still waits (Timer K)
    net.run_until(5.2)  # T4 = 5 s, ended in batches up to 0.1 s late
    assert uac.transaction_count == 0
    net.inject(final, b, a)  # now a stray response: dropped (§17.1.3)
    assert statuses(net, a) == []


def test_retransmitted_non_2xx_is_acked_again_until_timer_d() -> None:
    net, uac, uas, a, b = pair()
    invite(net, uac, b)
    server = incoming(net, b)
    uas.respond(server, 486)
    net.pump()
    assert statuses(net, a) == [486]
    final = net.sent(b, "SIP/2.0 486")[-1].data
    (ack,) = net.sent(a, "ACK")
    net.now = 31.0
    net.inject(final, b, a)
    acks = net.sent(a, "ACK")
    assert len(acks) == 2 and acks[1].data == ack.data  # the very same ACK again
    assert statuses(net, a) == []
    net.run_until(32.2)  # Timer D: 32 s over UDP
    net.inject(final, b, a)
    assert len(net.sent(a, "ACK")) == 2


def test_retransmitted_request_gets_the_same_final_response_until_timer_j() -> None:
    net, _uac, uas, _a, b = pair()
    net.inject(raw_request("OPTIONS"), C, b)
    uas.respond(incoming(net, b, "OPTIONS"), 200)
    net.pump()
    (first,) = net.sent(b, "SIP/2.0 200")
    net.now = 31.0  # Timer J = 64*T1 = 32 s
    net.inject(raw_request("OPTIONS"), C, b)
    again = net.sent(b, "SIP/2.0 200")
    assert len(again) == 2 and again[1].data == first.data and again[1].dst == first.dst
    assert net.take(b, RequestReceived) == []
    net.run_until(32.2)
    assert uas.transaction_count == 0
    net.inject(raw_request("OPTIONS"), C, b)  # after Timer J: a new request
    assert len(incoming(net, b, "OPTIONS").request.headers.get_all("Via")) == 1


def test_ack_retransmissions_are_absorbed_in_confirmed_until_timer_i() -> None:
    net, _uac, uas, _a, b = pair()
    net.inject(raw_request("INVITE"), C, b)
    uas.respond(incoming(net, b), 603)
    net.pump()
    ack = raw_request("ACK", to_tag=to_header(net.sent(b, "SIP/2.0 603")[0].message).tag or "")
    net.inject(ack, C, b)
    assert uas.transaction_count == 1  # Confirmed: waits Timer I = T4 for ACK retransmissions
    responses = len(net.sent(b, "SIP/2.0"))
    net.inject(ack, C, b)
    net.inject(raw_request("INVITE"), C, b)  # a late INVITE retransmission: absorbed too
    assert len(net.sent(b, "SIP/2.0")) == responses
    assert net.take(b, RequestReceived) == []
    net.run_until(5.2)
    assert uas.transaction_count == 0
