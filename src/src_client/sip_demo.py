"""SIP interop demo: our SIP stack against SIPp, the reference SIP test tool.

    python -m src_client.sip_demo

Over UDP and then TCP on 127.0.0.1: our UAC calls SIPp UAS scenarios (an answered call, a call
challenged with digest authentication, a call refused with 486), then a SIPp UAC calls our
UAS.  The SIPp scenarios (configs/sipp/) check every message our stack sends with regular
expressions, so SIPp's own verdict is part of the result.  Prints one line per call and a
report; exits 1 if anything failed.  Everything is bounded: the whole run takes a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .sip.auth import DigestCredentials
from .sip.endpoint import Dialog, ServerTransaction, SipConfig, SipEndpoint
from .sip.message import cseq
from .sip.uri import SipUri, parse_name_addr, parse_uri
from .sipp import SippResult, SippRun, sipp_available

SDP = (
    b"v=0\r\no=src-client 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
STEP_TIMEOUT = 8.0  # per SIPp run; the whole demo stays well under 30 s
DEMO_USER, DEMO_PASSWORD = "alice", "demo-password"  # the SIPp UAS's test account


@dataclass
class Step:
    """One SIPp run and what our side saw during it."""

    transport: str
    title: str
    scenario: str
    expected: list[int]
    statuses: list[int] = field(default_factory=list)
    setup_ms: list[float] = field(default_factory=list)
    sipp: SippResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.statuses == self.expected
            and self.sipp is not None
            and self.sipp.returncode == 0
            and self.sipp.successful == len(self.expected)
        )


class Demo:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: list[Step] = []

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.2f}s] {text}", flush=True)

    async def run(self) -> bool:
        for transport in ("udp", "tcp"):
            await self.uac(transport, "our UAC -> SIPp UAS: answered calls", "uas_answer.xml",
                           expected=[200, 200])  # fmt: skip
            await self.uac(transport, "our UAC -> SIPp UAS: digest challenge (401)",
                           "uas_auth.xml", expected=[200],
                           keys={"user": DEMO_USER, "password": DEMO_PASSWORD},
                           credentials=DigestCredentials(DEMO_USER, DEMO_PASSWORD))  # fmt: skip
            await self.uac(transport, "our UAC -> SIPp UAS: busy (486)", "uas_reject_486.xml",
                           expected=[486])  # fmt: skip
            await self.uas(transport, "SIPp UAC -> our UAS: answered call", "uac_call.xml",
                           calls=2)  # fmt: skip
        return self.report()

    async def guarded(self, step: Step, body: Callable[[], Awaitable[None]]) -> None:
        self.steps.append(step)
        self.say(f"{step.transport.upper():3} {step.title} ({step.scenario})")
        try:
            await asyncio.wait_for(body(), STEP_TIMEOUT)
        except Exception as exc:  # reported as a failed step: the demo goes on with the next
            step.error = f"{type(exc).__name__}: {exc}"
        verdict = "ok" if step.ok else "FAILED"
        detail = step.sipp.summary(max_errors=600) if step.sipp else ""
        if step.error:
            detail = f"{step.error}; {detail}"
        self.say(f"    -> {verdict}: {detail}")

    async def uac(self, transport: str, title: str, scenario: str, *, expected: list[int],
                  keys: dict[str, str] | None = None,
                  credentials: DigestCredentials | None = None) -> None:  # fmt: skip
        step = Step(transport, title, scenario, expected)

        async def body() -> None:
            endpoint = await SipEndpoint.create(SipConfig(), listen=[(transport, "127.0.0.1", 0)])
            server = SippRun(scenario, transport=transport, calls=len(expected),
                             timeout=STEP_TIMEOUT - 1, keys=keys or {})  # fmt: skip
            try:
                await server.start()
                suffix = "" if transport == "udp" else f";transport={transport}"
                target = parse_uri(f"sip:service@127.0.0.1:{server.port}{suffix}")
                for number in range(1, len(expected) + 1):
                    await self.one_call(endpoint, step, number, target, credentials)
                step.sipp = await server.wait()
            finally:
                await server.stop()
                await endpoint.close()

        await self.guarded(step, body)

    async def one_call(self, endpoint: SipEndpoint, step: Step, number: int, target: SipUri,
                       credentials: DigestCredentials | None) -> None:  # fmt: skip
        seen: list[str] = []
        began = time.perf_counter()
        result = await endpoint.invite(
            target,
            from_=parse_name_addr("<sip:demo@127.0.0.1>"),
            to=parse_name_addr(f"<{target}>"),
            body=SDP,
            content_type="application/sdp",
            credentials=credentials,
            on_provisional=lambda r: seen.append(f"{r.status} {r.reason}"),
        )
        setup = (time.perf_counter() - began) * 1000
        final = result.response
        step.statuses.append(final.status)
        step.setup_ms.append(setup)
        if cseq(final)[0] > 1:  # the INVITE was sent again: it had been challenged
            seen.insert(0, "401 Unauthorized -> INVITE again with Authorization (digest)")
        line = f"    call {number}: {', '.join([*seen, f'{final.status} {final.reason}'])}"
        line += f" in {setup:.1f} ms"
        if result.dialog is not None:
            began = time.perf_counter()
            bye = await result.dialog.bye()
            line += f"; BYE {bye.status} in {(time.perf_counter() - began) * 1000:.1f} ms"
        self.say(line)

    async def uas(self, transport: str, title: str, scenario: str, *, calls: int) -> None:
        step = Step(transport, title, scenario, [200] * calls)

        async def answer(stx: ServerTransaction) -> None:
            began = time.perf_counter()
            if stx.request.method != "INVITE":
                await stx.respond(405)
                return
            await stx.respond(180)
            dialog: Dialog = await stx.accept(body=SDP, content_type="application/sdp")
            step.statuses.append(200)
            step.setup_ms.append((time.perf_counter() - began) * 1000)
            self.say(f"    incoming call {len(step.statuses)} from {stx.remote}: "
                     f"180 Ringing, 200 OK (Call-ID {dialog.call_id})")  # fmt: skip

        async def body() -> None:
            endpoint = await SipEndpoint.create(SipConfig(), listen=[(transport, "127.0.0.1", 0)])
            endpoint.on_request = answer
            local = endpoint.transports.local_address(transport)
            assert local is not None
            client = SippRun(scenario, transport=transport, calls=calls, rate=20,
                             remote=(local.host, local.port), timeout=STEP_TIMEOUT - 1)  # fmt: skip
            try:
                await client.start()
                step.sipp = await client.wait()
            finally:
                await client.stop()
                await endpoint.close()

        await self.guarded(step, body)

    def report(self) -> bool:
        print("\nReport")
        print(f"  {'transport':9} {'scenario':22} {'calls':>5} {'final responses':>22} "
              f"{'setup ms (mean)':>16} {'SIPp verdict':>13}")  # fmt: skip
        for step in self.steps:
            statuses = ",".join(str(s) for s in step.statuses) or "-"
            mean = f"{sum(step.setup_ms) / len(step.setup_ms):.1f}" if step.setup_ms else "-"
            verdict = "passed" if step.ok else "FAILED"
            print(f"  {step.transport.upper():9} {step.scenario:22} {len(step.expected):>5} "
                  f"{statuses:>22} {mean:>16} {verdict:>13}")  # fmt: skip
        passed = sum(step.ok for step in self.steps)
        print(f"\n{passed}/{len(self.steps)} scenarios passed in "
              f"{time.monotonic() - self.started:.1f} s")  # fmt: skip
        return passed == len(self.steps)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    if not sipp_available():
        print("sipp is not installed (Debian package sip-tester; `make run` installs it)",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0 if asyncio.run(Demo().run()) else 1


if __name__ == "__main__":
    sys.exit(main())
