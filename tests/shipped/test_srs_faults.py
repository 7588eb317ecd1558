"""SRS faults injected for real against the shipped loop: ``src-client serve`` and the bundled
``src-client srs`` in their own processes, an SRS that is not there, refuses, stays silent,
hangs (SIGSTOP), dies (SIGKILL) or hangs up. Whatever the SRS does, the call goes on
undisturbed, a failed recording reports ``siprec-error`` (and one alert) before
``siprec-stopped``, and the call's media ends with the call."""

from __future__ import annotations

import asyncio
import base64
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import ACCOUNT, TOKEN, CallbackSink, Serve, Srs, free_port

from conftest import Party
from src_client.callgen import RtpPeer, place_call, speech_like
from src_client.sip.endpoint import Dialog, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri

UNREACHABLE = "31970"
LOST = "31971"
REJECTED = "31963"
TIMEOUT = "31964"
FAST_T1 = 0.05  # 64*T1 = 3.2 s: the answer timeout and Timer B


def siprec_twiml(callbacks: CallbackSink, callee: Party) -> str:
    return ('<Response><Start><Siprec name="r" connectorName="srs" track="both_tracks" '
            f'statusCallback="{callbacks.url}"/></Start>'
            f"<Dial><Sip>{callee.uri}</Sip></Dial></Response>")


@dataclass
class LiveCall:
    dialog: Dialog
    caller: RtpPeer
    answered_at: float


@asynccontextmanager
async def live_call(serve: Serve, callee: Party) -> AsyncIterator[LiveCall]:
    """A call through the daemon to the callee, the caller talking all along."""
    endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    talking: asyncio.Task[None] | None = None
    try:
        dialog = await place_call(endpoint, parse_uri(serve.sip_uri.format(user="100")),
                                  caller=parse_name_addr("<sip:alice@127.0.0.1>"), peer=caller)
        answered_at = time.monotonic()
        talking = asyncio.get_running_loop().create_task(caller.talk(speech_like(60)))
        yield LiveCall(dialog, caller, answered_at)
    finally:
        if talking is not None:
            talking.cancel()
        caller.close()
        await endpoint.close()


def has(event: str, count: int = 1) -> Any:
    return lambda received: [p.get("SiprecEvent") for p in received].count(event) >= count


def errors_of(callbacks: CallbackSink) -> list[str]:
    return [p["SiprecErrorCode"] for p in callbacks.received if p.get("SiprecEvent")
            == "siprec-error"]


async def alerts(serve: Serve) -> list[dict[str, Any]]:
    basic = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    async with (aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as http,
                http.get(f"{serve.api}/v1/Alerts") as response):
        assert response.status == 200, await response.text()
        body = await response.json()
    found: list[dict[str, Any]] = body["alerts"]
    return found


async def flowing(callee: Party, seconds: float = 0.6) -> int:
    """Packets the callee received over ``seconds`` (the caller talks at 50 packets/s)."""
    before = callee.callee.peer.counters.received
    await asyncio.sleep(seconds)
    return callee.callee.peer.counters.received - before


async def hang_up(call: LiveCall, callbacks: CallbackSink) -> None:
    response = await call.dialog.bye()
    assert response.status == 200
    await callbacks.wait_for(has("siprec-stopped"))


def clean(serve: Serve) -> None:
    assert serve.command is not None and not serve.command.tracebacks(), serve.command.output()


def metadata_session_id(srs: Srs) -> str:
    [xml] = sorted(srs.out.glob("*/metadata.xml"))
    found = re.search(r'<session session_id="([^"]+)"', xml.read_text())
    assert found is not None, xml.read_text()
    return found.group(1)


# ---------------------------------------------------------------------- before the answer


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_srs_not_listening_is_reported_unreachable_within_seconds(
    serve: Serve, callbacks: CallbackSink, callee: Party, transport: str
) -> None:
    # Nobody listens on the SRS port: over UDP the ICMP port unreachable, over TCP the refused
    # connection fails the INVITE at once (RFC 3261 §17.1.4, §18.4), not Timer B 32 s later.
    dead = f"sip:srs@127.0.0.1:{free_port()};transport={transport}"
    serve.connector("srs", dead)
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await callbacks.wait_for(has("siprec-stopped"), timeout=10)
        detected = time.monotonic() - call.answered_at
        print(f"SRS not listening ({transport}): reported in {detected:.2f} s")
        assert callbacks.events() == ["siprec-error", "siprec-stopped"]
        assert errors_of(callbacks) == [UNREACHABLE]
        assert detected < 3.0, detected
        assert await flowing(callee) > 10  # the call is not disturbed
        await call.dialog.bye()
    [alert] = await alerts(serve)
    assert alert["error_code"] == UNREACHABLE
    clean(serve)


async def test_unreachable_srs_reports_error_even_when_the_call_ends_at_once(
    serve: Serve, callbacks: CallbackSink, callee: Party
) -> None:
    serve.connector("srs", f"sip:srs@127.0.0.1:{free_port()};transport=udp")
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await call.dialog.bye()
        await callbacks.wait_for(has("siprec-stopped"), timeout=10)
    assert callbacks.events() == ["siprec-error", "siprec-stopped"]
    clean(serve)


async def test_rejecting_srs_reports_rejected(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    srs.options = ("--reject", "503")
    await srs.start()
    serve.connector("srs", srs.uri())
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await callbacks.wait_for(has("siprec-stopped"))
        assert callbacks.events() == ["siprec-error", "siprec-stopped"]
        assert errors_of(callbacks) == [REJECTED]
        assert await flowing(callee) > 10
        await call.dialog.bye()
    assert len(await alerts(serve)) == 1
    clean(serve)


async def test_rejecting_srs_fails_over_to_a_working_one(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party, tmp_path: Path
) -> None:
    srs.options = ("--reject", "503")
    await srs.start()
    good = Srs(tmp_path / "good")
    await good.start()
    try:
        serve.connector("srs", srs.uri(), failover=[good.uri()])
        serve.route(siprec_twiml(callbacks, callee))
        await serve.start()
        async with live_call(serve, callee) as call:
            await callbacks.wait_for(has("siprec-started"))
            await asyncio.sleep(0.5)
            await hang_up(call, callbacks)
        assert callbacks.events() == ["siprec-started", "siprec-stopped"]
        await _summary(good)
    finally:
        assert good.command is not None
        await good.command.kill()
    assert await alerts(serve) == []
    clean(serve)


async def test_silent_srs_is_cancelled_after_64_t1(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    srs.options = ("--no-answer",)
    await srs.start()
    serve.tables["sip"]["t1"] = FAST_T1
    serve.connector("srs", srs.uri())
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await callbacks.wait_for(has("siprec-stopped"), timeout=15)
        waited = time.monotonic() - call.answered_at
        print(f"silent SRS: CANCELled and reported in {waited:.2f} s")
        assert errors_of(callbacks) == [TIMEOUT]
        assert callbacks.events() == ["siprec-error", "siprec-stopped"]
        assert 64 * FAST_T1 * 0.8 < waited < 64 * FAST_T1 + 2.5, waited
        assert await flowing(callee) > 10
        await call.dialog.bye()
    assert len(await alerts(serve)) == 1
    clean(serve)


async def test_hung_srs_times_out_and_the_call_goes_on(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    await srs.start()
    assert srs.command is not None
    srs.command.send_signal(signal.SIGSTOP)  # the kernel still accepts, nobody answers
    try:
        serve.tables["sip"]["t1"] = FAST_T1
        serve.connector("srs", srs.uri())
        serve.route(siprec_twiml(callbacks, callee))
        await serve.start()
        async with live_call(serve, callee) as call:
            await callbacks.wait_for(has("siprec-stopped"), timeout=15)
            assert errors_of(callbacks) == [TIMEOUT]
            assert await flowing(callee) > 10
            await call.dialog.bye()
    finally:
        srs.command.send_signal(signal.SIGCONT)
    clean(serve)


# ---------------------------------------------------------------------- mid-recording


async def test_srs_killed_mid_recording_is_detected_within_15_s(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    await srs.start()
    assert srs.command is not None
    serve.connector("srs", srs.uri())  # the default keep-alive and T1
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await callbacks.wait_for(has("siprec-started"))
        await asyncio.sleep(1.0)
        await srs.command.kill()
        killed = time.monotonic()
        await callbacks.wait_for(has("siprec-error"), timeout=20)
        detected = time.monotonic() - killed
        print(f"SRS SIGKILL detected in {detected:.2f} s")
        assert detected < 15, detected
        assert errors_of(callbacks) == [LOST]
        await callbacks.wait_for(has("siprec-stopped"), timeout=2)
        assert callbacks.events() == ["siprec-started", "siprec-error", "siprec-stopped"]
        assert await flowing(callee) > 10
        [alert] = await alerts(serve)
        assert alert["error_code"] == LOST
        await call.dialog.bye()
    clean(serve)


async def test_srs_killed_mid_recording_fails_over_to_the_next_srs(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party, tmp_path: Path
) -> None:
    await srs.start()
    assert srs.command is not None
    second = Srs(tmp_path / "second")
    await second.start()
    try:
        serve.connector("srs", srs.uri(), failover=[second.uri()])
        serve.route(siprec_twiml(callbacks, callee))
        await serve.start()
        async with live_call(serve, callee) as call:
            await callbacks.wait_for(has("siprec-started"))
            await asyncio.sleep(1.0)
            await srs.command.kill()
            killed = time.monotonic()
            received = callee.callee.peer.counters.received
            await callbacks.wait_for(has("siprec-started", 2), timeout=20)
            resumed = time.monotonic() - killed
            print(f"SRS SIGKILL: recording resumed on the second SRS in {resumed:.2f} s")
            assert resumed < 15
            assert callbacks.events() == ["siprec-started", "siprec-error", "siprec-started"]
            assert errors_of(callbacks) == [LOST]
            # the caller <-> callee audio flowed all along: ~50 packets per second
            assert callee.callee.peer.counters.received - received > 40 * resumed
            assert await flowing(callee) > 10
            await asyncio.sleep(0.5)
            await hang_up(call, callbacks)
        assert callbacks.events()[-1] == "siprec-stopped"
        summary = await _summary(second)
        assert len(summary["labels"]) == 2, summary  # both tracks, recorded by the second SRS
        assert any(label["packets"] > 0 for label in summary["labels"].values()), summary
        assert len(await alerts(serve)) == 1
    finally:
        assert second.command is not None
        await second.command.kill()
    clean(serve)


async def test_hung_srs_mid_recording_fails_over_with_the_same_session_ids(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party, tmp_path: Path
) -> None:
    # SIGSTOP: no ICMP, no reset, just silence; the keep-alive finds it. Resumed afterwards,
    # the first SRS reads our BYE and writes its part: both parts carry the same RFC 7865
    # session id, so the two recordings can be stitched.
    await srs.start()
    assert srs.command is not None
    second = Srs(tmp_path / "second")
    await second.start()
    try:
        serve.connector("srs", srs.uri(), failover=[second.uri()], keepalive_interval=1)
        serve.route(siprec_twiml(callbacks, callee))
        await serve.start()
        async with live_call(serve, callee) as call:
            await callbacks.wait_for(has("siprec-started"))
            await asyncio.sleep(0.5)
            srs.command.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            await callbacks.wait_for(has("siprec-started", 2), timeout=15)
            print(f"SRS SIGSTOP: recording resumed in {time.monotonic() - stopped:.2f} s")
            srs.command.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.5)
            await hang_up(call, callbacks)
        await _summary(srs)
        await _summary(second)
        assert metadata_session_id(srs) == metadata_session_id(second)
        assert errors_of(callbacks) == [LOST]
    finally:
        srs.command.send_signal(signal.SIGCONT)
        assert second.command is not None
        await second.command.kill()
    clean(serve)


async def test_bye_from_the_srs_stops_the_recording_without_error(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    srs.options = ("--bye-after", "1")
    await srs.start()
    serve.connector("srs", srs.uri())
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    async with live_call(serve, callee) as call:
        await callbacks.wait_for(has("siprec-stopped"), timeout=10)
        assert callbacks.events() == ["siprec-started", "siprec-stopped"]
        assert await flowing(callee) > 10
        await call.dialog.bye()
    assert await alerts(serve) == []
    clean(serve)


async def test_callers_bye_ends_the_relay_at_once_while_the_srs_hangs(
    serve: Serve, srs: Srs, callbacks: CallbackSink, callee: Party
) -> None:
    await srs.start()
    assert srs.command is not None
    serve.connector("srs", srs.uri())
    serve.route(siprec_twiml(callbacks, callee))
    await serve.start()
    try:
        async with live_call(serve, callee) as call:
            await callbacks.wait_for(has("siprec-started"))
            assert await flowing(callee, 0.3) > 5
            srs.command.send_signal(signal.SIGSTOP)  # our BYE to it will wait
            response = await call.dialog.bye()
            assert response.status == 200
            await asyncio.sleep(0.05)  # packets already in flight
            after_bye = callee.callee.peer.counters.received
            await asyncio.sleep(1.0)  # the caller still sends; nothing may reach the callee
            assert callee.callee.peer.counters.received == after_bye
    finally:
        srs.command.send_signal(signal.SIGCONT)
    await callbacks.wait_for(has("siprec-stopped"), timeout=15)
    clean(serve)


async def _summary(srs: Srs) -> dict[str, Any]:
    for _ in range(100):
        found = srs.summaries()
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the SRS wrote no recording")
