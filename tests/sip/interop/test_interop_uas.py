"""SIPp UAC scenarios from configs/sipp/ calling our UAS (SipEndpoint), over UDP and TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from src_client.sip.endpoint import Dialog, ServerTransaction, SipEndpoint
from src_client.sipp import SippResult, SippRun

SippFactory = Callable[..., SippRun]
SDP = (
    b"v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40002 RTP/AVP 0\r\n"
)
WAIT = 10.0

pytestmark = pytest.mark.parametrize("transport", ["udp", "tcp"])


def client(sipp: SippFactory, scenario: str, ep: SipEndpoint, transport: str,
           calls: int = 1) -> SippRun:  # fmt: skip
    local = ep.transports.local_address(transport)
    assert local is not None
    return sipp(scenario, transport=transport, calls=calls, rate=10,
                remote=(local.host, local.port))  # fmt: skip


def assert_passed(result: SippResult, calls: int = 1) -> None:
    assert result.returncode == 0 and result.successful == calls, result.summary()


class Answerer:
    """UAS application: optionally rings, waits, then accepts with SDP."""

    def __init__(self, delay: float = 0.0, ring: bool = False) -> None:
        self.delay = delay
        self.ring = ring
        self.invites = 0
        self.dialogs: list[Dialog] = []
        self.cancelled: list[ServerTransaction] = []

    async def __call__(self, stx: ServerTransaction) -> None:
        if stx.request.method != "INVITE":
            await stx.respond(405)
            return
        self.invites += 1
        if self.ring:
            await stx.respond(180)
        if self.delay:
            try:
                await asyncio.wait_for(stx.cancelled.wait(), self.delay)
            except TimeoutError:
                pass
            else:
                self.cancelled.append(stx)
                return  # the stack already answered 487
        self.dialogs.append(await stx.accept(body=SDP, content_type="application/sdp"))


async def test_call_set_up_and_hung_up_by_sipp(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    app = Answerer()
    endpoint.on_request = app
    async with client(sipp, "uac_call.xml", endpoint, transport, calls=3) as run:
        result = await run.wait()
    assert_passed(result, calls=3)
    assert app.invites == 3
    for dialog in app.dialogs:
        await asyncio.wait_for(dialog.terminated.wait(), WAIT)  # BYE from SIPp
    assert endpoint.core.dialog_count == 0


async def test_cancel_before_answer(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    app = Answerer(delay=WAIT, ring=True)
    endpoint.on_request = app
    async with client(sipp, "uac_cancel.xml", endpoint, transport) as run:
        result = await run.wait()
    assert_passed(result)  # 200 to CANCEL, 487 with a To tag, ACK absorbed
    assert app.invites == 1 and len(app.cancelled) == 1 and not app.dialogs


async def test_retransmitted_invite_is_absorbed(
    endpoint: SipEndpoint, sipp: SippFactory, transport: str
) -> None:
    app = Answerer(delay=0.4)
    endpoint.on_request = app
    async with client(sipp, "uac_retrans.xml", endpoint, transport) as run:
        result = await run.wait()
    assert_passed(result)
    if transport == "udp":
        assert result.retransmissions >= 2, result.summary()  # the copies were really sent
    assert app.invites == 1 and len(app.dialogs) == 1
    await asyncio.wait_for(app.dialogs[0].terminated.wait(), WAIT)
