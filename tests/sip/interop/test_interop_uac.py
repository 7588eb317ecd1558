"""Our UAC (SipEndpoint) against SIPp UAS scenarios from configs/sipp/, over UDP and TCP.

Each scenario checks what our stack sends with regular expressions; SIPp's verdict (exit code
0 and one successful call) is what these tests assert, plus what our side observed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from src_client.sip.auth import DigestCredentials
from src_client.sip.endpoint import (
    InviteResult,
    ServerTransaction,
    SipConfig,
    SipEndpoint,
    SipTimeout,
)
from src_client.sip.message import cseq
from src_client.sip.transport import Address
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.sipp import SippResult, SippRun

SippFactory = Callable[..., SippRun]

SDP = (
    b"v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
)
ALICE = parse_name_addr("<sip:alice@127.0.0.1>")
WAIT = 10.0

pytestmark = pytest.mark.parametrize("transport", ["udp", "tcp"])


async def call(ep: SipEndpoint, server: SippRun, transport: str, **kwargs: object) -> InviteResult:
    suffix = "" if transport == "udp" else f";transport={transport}"
    uri = parse_uri(f"sip:service@127.0.0.1:{server.port}{suffix}")
    return await asyncio.wait_for(
        ep.invite(
            uri,
            from_=ALICE,
            to=parse_name_addr(f"<{uri}>"),
            body=SDP,
            content_type="application/sdp",
            **kwargs,  # type: ignore[arg-type]
        ),
        WAIT,
    )


def assert_passed(result: SippResult, calls: int = 1) -> None:
    assert result.returncode == 0 and result.successful == calls, result.summary()


async def test_answered_call(endpoint: SipEndpoint, sipp: SippFactory, transport: str) -> None:
    server = sipp("uas_answer.xml", transport=transport)
    await server.start()
    provisional: list[int] = []
    result = await call(endpoint, server, transport,
                        on_provisional=lambda r: provisional.append(r.status))  # fmt: skip
    assert result.response.status == 200 and result.dialog is not None
    assert 180 in provisional
    assert b"m=audio" in result.response.body
    bye = await asyncio.wait_for(result.dialog.bye(), WAIT)
    assert bye.status == 200
    assert result.dialog.is_terminated
    assert_passed(await server.wait())


@pytest.mark.parametrize("status", [486, 503])
async def test_rejected_call_is_acked(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str, status: int
) -> None:
    server = sipp(f"uas_reject_{status}.xml", transport=transport)
    await server.start()
    result = await call(endpoint, server, transport)
    assert result.response.status == status and result.dialog is None
    assert_passed(await server.wait())  # the ACK arrived with the INVITE's branch and CSeq


async def test_digest_challenge_answered(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    server = sipp("uas_auth.xml", transport=transport,
                  keys={"user": "alice", "password": "s3cr3t-pw"})  # fmt: skip
    await server.start()
    result = await call(endpoint, server, transport,
                        credentials=DigestCredentials("alice", "s3cr3t-pw"))  # fmt: skip
    assert result.response.status == 200 and result.dialog is not None
    assert cseq(result.response)[0] == 2  # the retry took the next CSeq (§8.1.3.5)
    assert (await asyncio.wait_for(result.dialog.bye(), WAIT)).status == 200
    assert_passed(await server.wait())  # SIPp's verifyauth accepted our digest


async def test_wrong_password_is_refused(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    server = sipp("uas_auth.xml", transport=transport, timeout=5,
                  keys={"user": "alice", "password": "right"})  # fmt: skip
    await server.start()
    result = await call(endpoint, server, transport,
                        credentials=DigestCredentials("alice", "wrong"))  # fmt: skip
    assert result.response.status == 403 and result.dialog is None
    await server.stop()


async def test_retransmitted_2xx_is_acked_again(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    server = sipp("uas_lost_200.xml", transport=transport)
    await server.start()
    acks: list[bytes] = []
    two_acks = asyncio.Event()
    send = endpoint.transports.send

    def spy(data: bytes, remote: Address) -> None:  # watch what our stack puts on the wire
        if data.startswith(b"ACK "):
            acks.append(data)
            if len(acks) == 2:
                two_acks.set()
        send(data, remote)

    endpoint.transports.send = spy  # type: ignore[method-assign]
    result = await call(endpoint, server, transport)
    assert result.dialog is not None
    # SIPp sends an in-dialog OPTIONS (answered by the default handler), then its 200 again.
    await asyncio.wait_for(two_acks.wait(), WAIT)
    # §13.2.2.4: one ACK per 2xx received, with the INVITE's CSeq (SIPp checks the number).
    assert all(b"\r\nCSeq: 1 ACK\r\n" in ack for ack in acks)
    assert (await asyncio.wait_for(result.dialog.bye(), WAIT)).status == 200
    assert_passed(await server.wait())


async def test_in_dialog_requests_from_the_uas(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    server = sipp("uas_indialog.xml", transport=transport)
    await server.start()
    result = await call(endpoint, server, transport)
    assert result.dialog is not None
    dialog = result.dialog
    seen: list[str] = []

    async def in_dialog(stx: ServerTransaction) -> None:
        seen.append(stx.request.method)
        if stx.request.method == "INVITE":
            await stx.respond(200, body=SDP, content_type="application/sdp")
        else:
            await stx.respond(200)

    dialog.on_request = in_dialog
    await asyncio.wait_for(dialog.terminated.wait(), WAIT)
    assert seen == ["OPTIONS", "INVITE", "BYE"]
    assert_passed(await server.wait())


async def test_unanswered_invite_times_out(sipp: SippFactory, transport: str) -> None:
    config = SipConfig(t1=0.02, t2=0.4, t4=0.5)  # Timer B = 64*T1 = 1.28 s
    ep = await SipEndpoint.create(config, listen=[(transport, "127.0.0.1", 0)])
    try:
        server = sipp("uas_no_answer.xml", transport=transport, extra=("-d", "3000"))
        await server.start()
        with pytest.raises(SipTimeout):
            await call(ep, server, transport)
        result = await server.wait()
        assert_passed(result)  # no CANCEL (no provisional came) and nothing else arrived
    finally:
        await ep.close()
