"""Session timers (RFC 4028): negotiation functions and both roles on the fake-clock core."""

from __future__ import annotations

import pytest
from sipcore_harness import Net

from src_client.sip import session_timer
from src_client.sip.core import (
    CoreConfig,
    DialogTerminated,
    RequestReceived,
    ResponseReceived,
    UserAgentCore,
)
from src_client.sip.dialog import Dialog, DialogState
from src_client.sip.errors import SipParseError
from src_client.sip.message import Request, make_response, parse_message
from src_client.sip.transport import Address
from src_client.sip.uri import parse_uri

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def request(extra: str) -> Request:
    msg = parse_message(
        ("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
         "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
         f"{extra}Content-Length: 0\r\n\r\n").encode()
    )  # fmt: skip
    assert isinstance(msg, Request)
    return msg


# --- negotiation functions ----------------------------------------------------------------


def test_parse_session_expires() -> None:
    assert session_timer.parse_session_expires("1800") == (1800, None)
    assert session_timer.parse_session_expires("90 ; refresher=UAS") == (90, "uas")
    for bad in ("", "abc", "-5", "90;refresher=proxy"):
        with pytest.raises(SipParseError):
            session_timer.parse_session_expires(bad)
    assert session_timer.parse_min_se(None) == 90
    assert session_timer.parse_min_se("30") == 90  # never below the RFC floor
    assert session_timer.parse_min_se("600") == 600


def test_uas_rejects_short_intervals() -> None:
    assert session_timer.too_small(request("Session-Expires: 60\r\n"), 90) == 90
    assert session_timer.too_small(request("Session-Expires: 100\r\n"), 120) == 120
    assert session_timer.too_small(request("Session-Expires: 1800\r\n"), 90) is None
    assert session_timer.too_small(request(""), 90) is None


def test_uas_answer_picks_the_refresher() -> None:
    timer, headers = session_timer.answer(
        request("Supported: timer\r\nSession-Expires: 1800\r\n"))
    assert timer == session_timer.SessionTimer(1800, we_refresh=False)
    assert headers == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    timer, headers = session_timer.answer(
        request("Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n"))
    assert timer is not None and timer.we_refresh
    # a proxy inserted the header for a UAC without timer support: the UAS must refresh
    timer, headers = session_timer.answer(request("Session-Expires: 1800\r\n"))
    assert timer is not None and timer.we_refresh
    assert headers == [("Session-Expires", "1800;refresher=uas")]
    assert session_timer.answer(request("Supported: timer\r\n")) == (None, [])


def test_uac_reads_the_2xx_and_the_422() -> None:
    req = request("Session-Expires: 100\r\n")
    response = make_response(req, 200, to_tag="t",
                             headers=[("Session-Expires", "100;refresher=uas")])
    assert session_timer.from_response(response) == session_timer.SessionTimer(100, False)
    response = make_response(req, 200, to_tag="t", headers=[("Session-Expires", "100")])
    assert session_timer.from_response(response) == session_timer.SessionTimer(100, True)
    assert session_timer.from_response(make_response(req, 200, to_tag="t")) is None
    too_brief = make_response(req, 422, to_tag="t", headers=[("Min-SE", "300")])
    assert session_timer.retry_interval(too_brief, 100) == 300
    assert session_timer.retry_interval(make_response(req, 422, to_tag="t"), 100) is None


def test_deadlines() -> None:
    assert session_timer.SessionTimer(1800, True).deadline(10.0) == 910.0
    assert session_timer.SessionTimer(1800, False).deadline(0.0) == 1800 - 32
    assert session_timer.SessionTimer(90, False).deadline(0.0) == 60  # 90 - 90/3
    assert session_timer.SessionTimer(90, True).header(we_are_uac=True) == "90;refresher=uac"
    assert session_timer.SessionTimer(90, True).header(we_are_uac=False) == "90;refresher=uas"


# --- both roles on the core ----------------------------------------------------------------


def setup(session_expires: str, uas_config: CoreConfig | None = None
          ) -> tuple[Net, UserAgentCore, UserAgentCore, Dialog, Dialog]:  # fmt: skip
    net = Net()
    uac, uas = net.add(A), net.add(B, uas_config)
    uac.send_request(
        "INVITE", parse_uri("sip:bob@127.0.0.1:5062"), B, from_="<sip:alice@127.0.0.1>;tag=a1",
        to="<sip:bob@127.0.0.1>", call_id="st", cseq=1, contact=uac.contact("udp", "alice"),
        headers=[("Session-Expires", session_expires)], body=SDP,
        content_type="application/sdp", owner="test",
    )  # fmt: skip
    net.pump()
    (received,) = net.take(B, RequestReceived)
    uas_dialog = uas.respond(received.transaction, 200, body=SDP, content_type="application/sdp")
    net.pump()
    (uac_dialog,) = uac.dialogs()
    assert uas_dialog is not None
    net.take(A, ResponseReceived)
    return net, uac, uas, uac_dialog, uas_dialog


def answer_all(net: Net, at: Address, status: int = 200) -> list[Request]:
    """Answer every request the core surfaced at ``at``; returns them."""
    core = net.cores[at]
    requests = []
    for event in net.take(at, RequestReceived):
        requests.append(event.transaction.request)
        core.respond(event.transaction, status)
    net.pump()
    return requests


def test_uac_refreshes_with_update_at_half_interval() -> None:
    net, _uac, _uas, ud, sd = setup("120")
    assert ud.session_timer == session_timer.SessionTimer(120, we_refresh=True)
    assert sd.session_timer == session_timer.SessionTimer(120, we_refresh=False)
    for until in (59.9, 60.0, 119.9, 120.0, 180.0):
        net.run_until(until)
        answer_all(net, B)
    assert net.times(A, "UPDATE") == [60.0, 120.0, 180.0]
    update = net.sent(A, "UPDATE")[0].message
    assert isinstance(update, Request)
    assert update.headers.get("Session-Expires") == "120;refresher=uac"
    assert net.times(B, "BYE") == []  # each refresh reset the refreshee's timer
    assert ud.state is sd.state is DialogState.CONFIRMED


def test_refreshee_sends_bye_before_expiry_when_no_refresh_comes() -> None:
    net, _uac, _uas, ud, _sd = setup("120")
    net.drop = lambda s: s.first_line.startswith("UPDATE")
    net.run_until(100)
    assert net.times(B, "BYE")[0] == 88.0  # 120 - min(32, 120/3)
    assert [e.reason for e in net.take(B, DialogTerminated)] == ["session expired"]
    answer_all(net, A)
    assert ud.state is DialogState.TERMINATED


def test_uas_as_refresher_refreshes_the_uac() -> None:
    net, _uac, _uas, ud, sd = setup("100;refresher=uas")
    assert sd.session_timer is not None and sd.session_timer.we_refresh
    assert ud.session_timer is not None and not ud.session_timer.we_refresh
    net.run_until(50)
    (update,) = answer_all(net, A)
    assert update.method == "UPDATE"
    assert update.headers.get("Session-Expires") == "100;refresher=uac"  # UAS of the dialog
    # ... is the UAC of this transaction: the label follows the transaction (RFC 4028 §7.4)
    net.run_until(100)
    answer_all(net, A)
    assert net.times(B, "UPDATE") == [50.0, 100.0]
    assert net.times(A, "BYE") == []


def test_refresh_uses_reinvite_with_the_last_sdp_when_update_is_not_allowed() -> None:
    net, _uac, _uas, ud, _sd = setup("120")
    ud.peer_allows_update = False
    net.run_until(60)
    (event,) = net.take(B, RequestReceived)
    assert event.transaction.request.method == "INVITE"
    assert event.transaction.request.body == SDP
    net.cores[B].respond(event.transaction, 200, body=SDP, content_type="application/sdp")
    net.pump()
    assert net.times(A, "ACK") == [0.0, 60.0]


def test_short_interval_is_refused_with_422() -> None:
    net = Net()
    uac, _uas = net.add(A), net.add(B, CoreConfig(min_se=300))
    uac.send_request(
        "INVITE", parse_uri("sip:bob@127.0.0.1:5062"), B, from_="<sip:a@127.0.0.1>;tag=1",
        to="<sip:b@127.0.0.1>", call_id="s", cseq=1, contact=uac.contact("udp", "a"),
        headers=session_timer.request_headers(120, None), owner="test",
    )  # fmt: skip
    net.pump()
    assert net.take(B, RequestReceived) == []
    final = [e.response for e in net.take(A, ResponseReceived) if e.response.status >= 200]
    assert [r.status for r in final] == [422]
    assert final[0].headers.get("Min-SE") == "300"


def test_refresh_answered_422_is_retried_with_the_larger_interval() -> None:
    net, _uac, uas, ud, _sd = setup("120")
    uas.config = CoreConfig(min_se=300)
    net.run_until(60)
    updates = net.sent(A, "UPDATE")
    assert [s.time for s in updates] == [60.0, 60.0]
    retry = updates[1].message
    assert isinstance(retry, Request)
    assert retry.headers.get("Session-Expires") == "300;refresher=uac"
    assert retry.headers.get("Min-SE") == "300"
    answer_all(net, B)
    assert ud.session_timer == session_timer.SessionTimer(300, we_refresh=True)


def test_refresh_answered_481_ends_the_dialog() -> None:
    net, _uac, uas, ud, sd = setup("120")
    uas._terminate(sd, "forgotten", send_bye=False)  # the peer lost the dialog
    net.run_until(60)
    assert ud.state is DialogState.TERMINATED
    assert [e.reason for e in net.take(A, DialogTerminated)] == ["UPDATE 481"]


