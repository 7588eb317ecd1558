"""Dialog state (RFC 3261 §12): tags, CSeq, route sets, target refresh, request building."""

from __future__ import annotations

import pytest

from src_client.sip.dialog import Dialog, build_request
from src_client.sip.message import Request, Response, make_response, parse_message
from src_client.sip.transport import Address
from src_client.sip.uri import parse_uri

PEER = Address("udp", "192.0.2.1", 5060)
CONTACT = "<sip:alice@192.0.2.9:5060>"


def parse_request(text: str) -> Request:
    msg = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(msg, Request)
    return msg


INVITE = parse_request(
    "INVITE sip:bob@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx\n"
    "Max-Forwards: 70\n"
    'From: "Alice" <sip:alice@example.com>;tag=a1\n'
    "To: <sip:bob@example.com>\n"
    "Call-ID: d1@192.0.2.9\n"
    "CSeq: 314 INVITE\n"
    "Contact: <sip:alice@192.0.2.9:5060>\n"
    "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\n"
    "Content-Length: 0\n\n"
)


def ok(request: Request, contact: str = "<sip:bob@192.0.2.1:5070>") -> Response:
    response = make_response(request, 200, to_tag="b1",
                             headers=[("Contact", contact), ("Allow", "INVITE, ACK, UPDATE")])
    for rr in request.headers.get_all("Record-Route"):
        response.headers.add("Record-Route", rr)
    return response


def uac_dialog() -> Dialog:
    return Dialog.from_uac(ok(INVITE), request_uri=INVITE.uri, peer=PEER, contact=CONTACT)


def test_uac_dialog_state_from_the_2xx() -> None:
    dialog = uac_dialog()
    assert dialog.key == ("d1@192.0.2.9", "a1", "b1")
    assert dialog.is_uac and dialog.local_cseq == 314 and dialog.remote_cseq == 0
    assert str(dialog.remote_target) == "sip:bob@192.0.2.1:5070"
    # §12.1.2: the UAC's route set is the Record-Route of the response, reversed
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1.example.com;lr",
                                                      "sip:p2.example.com;lr"]  # fmt: skip
    assert dialog.local.display_name == "Alice" and dialog.local.tag == "a1"
    assert dialog.remote.tag == "b1"
    assert dialog.peer_allows_update


def test_uas_dialog_state_from_the_request() -> None:
    response = make_response(INVITE, 200, to_tag="b1", headers=[("Contact", CONTACT)])
    dialog = Dialog.from_uas(INVITE, response, peer=PEER, contact=CONTACT)
    assert dialog.key == ("d1@192.0.2.9", "b1", "a1")
    assert not dialog.is_uac and dialog.remote_cseq == 314 and dialog.local_cseq == 0
    assert str(dialog.remote_target) == "sip:alice@192.0.2.9:5060"
    # §12.1.1: the UAS keeps Record-Route order
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p2.example.com;lr",
                                                      "sip:p1.example.com;lr"]  # fmt: skip
    bye = dialog.create_request("BYE", via="SIP/2.0/UDP h;branch=z9hG4bK1")
    assert bye.headers.get("From") == response.headers.get("To")
    assert bye.headers.get("To") == INVITE.headers.get("From")
    assert bye.headers.get("CSeq") == "1 BYE"


def test_uas_dialog_needs_a_contact() -> None:
    request = parse_request(
        "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKy\n"
        "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\n"
        "Content-Length: 0\n\n"
    )
    with pytest.raises(ValueError):
        Dialog.from_uas(request, make_response(request, 200, to_tag="t"), peer=PEER, contact="")


@pytest.mark.parametrize(
    "field", ["via", "from_", "to", "call_id", "contact", "routes", "headers", "content_type"]
)
def test_request_builder_refuses_line_breaks_in_every_value(field: str) -> None:
    """Values reach build_request from the API and from configuration: none may end a header
    line early (the fixed names skip validation, the values never do)."""
    evil = "x\r\nVia: SIP/2.0/UDP evil"
    fields: dict[str, object] = {
        "via": "SIP/2.0/UDP h;branch=z9hG4bK1", "from_": "<sip:a@x>;tag=1", "to": "<sip:b@y>",
        "call_id": "c", "contact": "<sip:a@h>", "routes": ["<sip:p;lr>"],
        "headers": [("X-A", "1")], "content_type": "application/sdp",
    }  # fmt: skip
    fields[field] = [evil] if field == "routes" else [("X-A", evil)] if field == "headers" else evil
    with pytest.raises(ValueError, match="line break"):
        build_request("OPTIONS", parse_uri("sip:b@y"), cseq=1, **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="line break"):
        build_request("OPTIONS\r\nX: y", parse_uri("sip:b@y"), cseq=1, via="v", from_="f", to="t",
                      call_id="c")  # fmt: skip


def test_loose_routing_keeps_the_remote_target_as_request_uri() -> None:
    dialog = uac_dialog()
    bye = dialog.create_request("BYE", via="SIP/2.0/UDP h;branch=z9hG4bK1")
    assert str(bye.uri) == "sip:bob@192.0.2.1:5070"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.headers.get("CSeq") == "315 BYE" and dialog.local_cseq == 315
    assert bye.headers.get("Call-ID") == "d1@192.0.2.9"
    assert bye.headers.get("Contact") is None
    assert [name for name, _ in bye.headers][:3] == ["Via", "Route", "Route"]
    assert str(dialog.next_hop) == "sip:p1.example.com;lr"


def test_strict_routing_puts_the_first_route_in_the_request_uri() -> None:
    invite = parse_request(
        INVITE.to_bytes().decode().replace(
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;maddr=10.0.0.1>",
        ).replace("\r\n", "\n")
    )
    dialog = Dialog.from_uac(ok(invite), request_uri=invite.uri, peer=PEER, contact=CONTACT)
    reinvite = dialog.create_request("INVITE", via="SIP/2.0/UDP h;branch=z9hG4bK2")
    assert str(reinvite.uri) == "sip:p1.example.com"  # maddr is not allowed there (§19.1.1)
    assert reinvite.headers.get_all("Route") == ["<sip:p2.example.com;lr>",
                                                 "<sip:bob@192.0.2.1:5070>"]  # fmt: skip
    assert reinvite.headers.get("Contact") == CONTACT


def test_ack_reuses_the_invite_cseq_and_target_refresh() -> None:
    dialog = uac_dialog()
    reinvite = dialog.create_request("INVITE", via="SIP/2.0/UDP h;branch=z9hG4bK3")
    assert reinvite.headers.get("CSeq") == "315 INVITE"
    ack = dialog.create_request("ACK", via="SIP/2.0/UDP h;branch=z9hG4bK4", number=315)
    assert ack.headers.get("CSeq") == "315 ACK" and dialog.local_cseq == 315
    dialog.refresh_target(ok(reinvite, contact="<sip:bob@192.0.2.77:5080>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.77:5080"
    dialog.refresh_target(make_response(reinvite, 200))  # no Contact: target unchanged
    assert str(dialog.remote_target) == "sip:bob@192.0.2.77:5080"


def test_remote_cseq_must_not_go_backwards() -> None:
    response = make_response(INVITE, 200, to_tag="b1", headers=[("Contact", CONTACT)])
    dialog = Dialog.from_uas(INVITE, response, peer=PEER, contact=CONTACT)
    assert dialog.accept_remote_cseq(315)
    assert dialog.accept_remote_cseq(400)  # gaps are fine (§12.2.2)
    assert not dialog.accept_remote_cseq(399)
    assert dialog.remote_cseq == 400
