"""SipEndpoint over real loopback sockets: a UAC endpoint calls a UAS endpoint in-process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from src_client.sip.auth import DigestCredentials, verify_authorization
from src_client.sip.endpoint import (
    Dialog,
    ServerTransaction,
    SipConfig,
    SipEndpoint,
    SipTimeout,
    SipTransportError,
)
from src_client.sip.transport import Address
from src_client.sip.uri import NameAddr, parse_name_addr, parse_uri

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
ALICE = parse_name_addr("<sip:alice@127.0.0.1>")
BOB = parse_name_addr("<sip:bob@127.0.0.1>")
FAST = SipConfig(t1=0.05, t2=0.4, t4=0.5)
WAIT = 5.0


@pytest.fixture
async def pair() -> AsyncIterator[tuple[SipEndpoint, SipEndpoint]]:
    uac = await SipEndpoint.create(FAST, listen=[("udp", "127.0.0.1", 0), ("tcp", "127.0.0.1", 0)])
    uas = await SipEndpoint.create(FAST, listen=[("udp", "127.0.0.1", 0), ("tcp", "127.0.0.1", 0)])
    yield uac, uas
    await uac.close()
    await uas.close()


def target(ep: SipEndpoint, transport: str = "udp") -> tuple[NameAddr, Address]:
    address = ep.transports.local_address(transport)
    assert address is not None
    param = "" if transport == "udp" else f";transport={transport}"
    return parse_name_addr(f"<sip:bob@127.0.0.1:{address.port}{param}>"), address


class Answerer:
    """A UAS application: accepts INVITEs and remembers the dialogs."""

    def __init__(self) -> None:
        self.dialogs: list[Dialog] = []
        self.requests: list[str] = []
        self.got_dialog = asyncio.Event()

    async def __call__(self, stx: ServerTransaction) -> None:
        self.requests.append(stx.request.method)
        if stx.request.method == "INVITE":
            dialog = await stx.accept(body=SDP, content_type="application/sdp")
            self.dialogs.append(dialog)
            self.got_dialog.set()
        else:
            await stx.respond(200)


async def call(uac: SipEndpoint, uas: SipEndpoint, transport: str = "udp",
               **kw: object) -> tuple[Dialog, Dialog, Answerer]:
    app = Answerer()
    uas.on_request = app
    to, _ = target(uas, transport)
    result = await asyncio.wait_for(uac.invite(
        to.uri, from_=ALICE, to=BOB, body=SDP, content_type="application/sdp",
        **kw),  # type: ignore[arg-type]
        WAIT)  # fmt: skip
    assert result.response.status == 200 and result.dialog is not None
    await asyncio.wait_for(app.got_dialog.wait(), WAIT)
    uas_dialog = app.dialogs[0]
    await asyncio.wait_for(uas_dialog.confirmed.wait(), WAIT)
    return result.dialog, uas_dialog, app


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_invite_ack_bye_from_uac(pair: tuple[SipEndpoint, SipEndpoint],
                                       transport: str) -> None:
    uac, uas = pair
    ud, sd, _ = await call(uac, uas, transport)
    assert (ud.call_id, ud.local_tag, ud.remote_tag) == (sd.call_id, sd.remote_tag, sd.local_tag)
    assert ud.peer.transport == transport
    response = await asyncio.wait_for(ud.bye(), WAIT)
    assert response.status == 200
    await asyncio.wait_for(sd.terminated.wait(), WAIT)
    assert sd.termination_reason == "BYE received"
    assert ud.terminated.is_set() and ud.termination_reason == "BYE sent"
    assert uac.core.dialog_count == uas.core.dialog_count == 0


async def test_bye_from_uas(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair
    ud, sd, _ = await call(uac, uas)
    assert (await asyncio.wait_for(sd.request("BYE"), WAIT)).status == 200
    await asyncio.wait_for(ud.terminated.wait(), WAIT)
    assert ud.termination_reason == "BYE received"


async def test_reinvite_update_options_in_dialog(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair
    ud, sd, _ = await call(uac, uas)
    # defaults without a dialog handler
    assert (await ud.request("INVITE", body=SDP, content_type="application/sdp")).status == 488
    assert (await ud.request("UPDATE")).status == 200  # a bodiless UPDATE refreshes
    assert (await ud.request("OPTIONS")).status == 200
    # with a handler: the re-INVITE is accepted and ACKed automatically
    seen: list[str] = []

    async def handler(stx: ServerTransaction) -> None:
        seen.append(stx.request.method)
        assert stx.dialog is sd
        if stx.request.method == "INVITE":
            assert await stx.accept(body=SDP, content_type="application/sdp") is sd
        else:
            await stx.respond(200)

    sd.on_request = handler
    assert (await ud.request("INVITE", body=SDP, content_type="application/sdp")).status == 200
    assert (await ud.request("INFO", body=b"x", content_type="text/plain")).status == 200
    assert (await sd.request("UPDATE", body=SDP, content_type="application/sdp")).status == 488
    assert seen == ["INVITE", "INFO"]
    assert ud.local_cseq == 6 and sd.remote_cseq == 6
    await ud.bye()


async def test_out_of_dialog_options(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair
    to, _ = target(uas)
    response = await uac.request(to.uri, "OPTIONS", from_=ALICE, to=BOB)
    assert response.status == 200 and "INVITE" in (response.headers.get("Allow") or "")
    response = await uac.request(to.uri, "MESSAGE", from_=ALICE, to=BOB, body=b"hi",
                                 content_type="text/plain")  # fmt: skip
    assert response.status == 405


async def test_digest_challenge_is_answered_once(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair
    attempts: list[str | None] = []

    async def protected(stx: ServerTransaction) -> None:
        authorization = stx.request.headers.get("Authorization")
        attempts.append(authorization)
        if authorization and verify_authorization(authorization, "secret", "INVITE", "lab"):
            await stx.accept(body=SDP, content_type="application/sdp")
            return
        challenge = 'Digest realm="lab", nonce="n0nce", qop="auth", algorithm=SHA-256'
        await stx.respond(401, headers=[("WWW-Authenticate", challenge)])

    uas.on_request = protected
    to, _ = target(uas)
    result = await uac.invite(to.uri, from_=ALICE, to=BOB, body=SDP,
                              content_type="application/sdp",
                              credentials=DigestCredentials("alice", "secret"))  # fmt: skip
    assert result.response.status == 200 and result.dialog is not None
    assert attempts[0] is None and attempts[1] is not None and "SHA-256" in attempts[1]
    assert result.dialog.local_cseq == 2  # the retry counted up CSeq in the same call
    await result.dialog.bye()
    wrong = await uac.invite(to.uri, from_=ALICE, to=BOB,
                             credentials=DigestCredentials("alice", "wrong"))  # fmt: skip
    assert wrong.response.status == 401 and wrong.dialog is None  # answered once, no loop
    assert "secret" not in repr(DigestCredentials("alice", "secret"))


async def test_cancelling_the_invite_task_sends_cancel(
    pair: tuple[SipEndpoint, SipEndpoint],
) -> None:
    uac, uas = pair
    ringing = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(stx: ServerTransaction) -> None:
        await stx.respond(180)
        await stx.cancelled.wait()
        cancelled.set()

    uas.on_request = slow
    to, _ = target(uas)
    task = asyncio.create_task(uac.invite(to.uri, from_=ALICE, to=BOB,
                                          on_provisional=lambda r: ringing.set()))
    await asyncio.wait_for(ringing.wait(), WAIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), WAIT)
    for _ in range(50):  # the 487 and its ACK are on their way
        if not uas.core.client_transactions() and uas.core.transaction_count <= 1:
            break
        await asyncio.sleep(0.02)
    assert uas.core.dialog_count == 0 and uac.core.dialog_count == 0


async def test_failing_handler_is_answered_500(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair

    async def broken(stx: ServerTransaction) -> None:
        raise RuntimeError("application bug")

    uas.on_request = broken
    to, _ = target(uas)
    result = await uac.invite(to.uri, from_=ALICE, to=BOB)
    assert result.response.status == 500 and result.dialog is None

    async def silent(stx: ServerTransaction) -> None:
        return None

    uas.on_request = silent
    response = await uac.request(to.uri, "OPTIONS", from_=ALICE, to=BOB)
    assert response.status == 500


async def test_session_timer_is_negotiated(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, uas = pair
    ud, sd, _ = await call(uac, uas, session_expires=1800)
    assert ud.session_interval == sd.session_interval == 1800
    await ud.bye()


async def test_no_answer_raises_sip_timeout() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    uac = await SipEndpoint.create(SipConfig(t1=0.01, t2=0.04, t4=0.05))
    try:
        with pytest.raises(SipTimeout):
            await asyncio.wait_for(
                uac.invite(parse_uri(f"sip:bob@127.0.0.1:{port}"), from_=ALICE, to=BOB), WAIT)
    finally:
        await uac.close()
        silent.close()


async def test_unreachable_tcp_target_raises_transport_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    uac = await SipEndpoint.create(FAST, listen=[("tcp", "127.0.0.1", 0)])
    try:
        with pytest.raises(SipTransportError):
            await asyncio.wait_for(uac.invite(
                parse_uri(f"sip:bob@127.0.0.1:{port};transport=tcp"), from_=ALICE, to=BOB),
                WAIT)  # fmt: skip
    finally:
        await uac.close()


async def test_large_request_switches_to_tcp(pair: tuple[SipEndpoint, SipEndpoint]) -> None:
    uac, _ = pair
    for _ in range(10):  # SIP serves UDP and TCP on one port number: find one free for both
        uas = SipEndpoint(FAST)
        udp = await uas.listen("udp", "127.0.0.1", 0)
        try:
            await uas.listen("tcp", "127.0.0.1", udp.port)
            break
        except OSError:  # that number is some TCP socket's ephemeral port right now
            await uas.close()
    transports: list[str] = []

    async def answer(stx: ServerTransaction) -> None:
        transports.append(stx.remote.transport)
        await stx.accept(body=SDP, content_type="application/sdp")

    uas.on_request = answer
    big = SDP + b"a=x-padding:" + b"p" * 1500 + b"\r\n"
    try:
        result = await uac.invite(parse_uri(f"sip:bob@127.0.0.1:{udp.port}"), from_=ALICE,
                                  to=BOB, body=big, content_type="application/sdp")
        assert result.response.status == 200 and result.dialog is not None
        assert transports == ["tcp"]  # RFC 3261 §18.1.1: over 1300 bytes -> TCP
        assert (await result.dialog.bye()).status == 200
    finally:
        await uas.close()


async def test_challenged_bye_is_retried_with_credentials(
    pair: tuple[SipEndpoint, SipEndpoint],
) -> None:
    uac, uas = pair
    ud, sd, _ = await call(uac, uas, credentials=DigestCredentials("alice", "secret"))
    byes: list[str | None] = []

    async def guarded(stx: ServerTransaction) -> None:
        authorization = stx.request.headers.get("Authorization")
        byes.append(authorization)
        if authorization and verify_authorization(authorization, "secret", "BYE", "lab"):
            await stx.respond(200)
        else:
            await stx.respond(401, headers=[("WWW-Authenticate", 'Digest realm="lab", nonce="x"')])

    sd.on_request = guarded
    assert (await asyncio.wait_for(ud.bye(), WAIT)).status == 200
    assert len(byes) == 2 and byes[0] is None
    await asyncio.wait_for(sd.terminated.wait(), WAIT)


async def test_close_fails_requests_in_flight() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    uac = await SipEndpoint.create(FAST)
    try:
        task = asyncio.create_task(uac.invite(
            parse_uri(f"sip:bob@127.0.0.1:{silent.getsockname()[1]}"), from_=ALICE, to=BOB))
        await asyncio.sleep(0.05)
        await uac.close()
        with pytest.raises(SipTransportError):
            await asyncio.wait_for(task, WAIT)
    finally:
        silent.close()


async def test_422_is_retried_with_the_larger_interval(
    pair: tuple[SipEndpoint, SipEndpoint],
) -> None:
    uac, _ = pair
    uas = await SipEndpoint.create(SipConfig(t1=0.05, t2=0.4, t4=0.5, min_se=300))
    try:
        ud, sd, _ = await call(uac, uas, session_expires=120)
        assert ud.session_interval == sd.session_interval == 300
        assert ud.local_cseq == 2  # the retry was the same call, CSeq + 1
        await ud.bye()
    finally:
        await uas.close()
