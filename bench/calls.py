"""Calls through the B2BUA with ``<Start><Siprec>`` + ``<Dial>``, driven by SIPp.

    .venv/bin/python bench/calls.py [--quick] [--concurrent N] [--no-pin]

Every call runs the same static TwiML: ``<Start><Siprec connectorName="srs"
track="both_tracks"/></Start><Dial><Sip>callee</Sip></Dial>``. Three SIPp processes are the
peers: the caller (configs/sipp/call_uac_bench.xml: G.711 with SIPp's rtp_stream, then BYE),
the callee (call_uas_bench.xml with -rtp_echo, so the relay carries audio both ways) and the
SRS (call_srs_bench.xml, two recorded streams per call). Two phases, each bounded in calls and time:

1. rate: short calls (0.5 s held), a fixed number in flight (SIPp -l, a new call as soon as
   one ends), so the B2BUA sets the pace without being overloaded; calls_per_s = calls
   answered per second between the first and the last answer, every call completed and
   checked by SIPp in all three roles;
2. concurrency: N calls held together with media (inbound and outbound tracks forked to the
   SRS). Over a window while all are up, from the engine's counters: every packet a leg
   receives must leave twice (relayed to the other party, forked to the SRS), so
   loss_ratio = 1 - (relayed + forked) / (2 * received); delivered_ratio = what the caller
   legs received / what SIPp should have sent (below 1 when SIPp's streaming threads cannot
   keep pace); CPU per call is our process's CPU (control plane and engine
   threads) over the window, per call.

Our process and the SIPp processes are pinned to different cores when there are two. The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src_client.audio import g711
from src_client.calls import Call, CallManager, CallOptions, CallStatus, Route
from src_client.media import Engine
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipEndpoint
from src_client.sip.uri import parse_uri
from src_client.sipp import SCENARIO_DIR, SippResult, SippRun
from src_client.siprec.connectors import Connector, ConnectorRegistry
from src_client.siprec.service import SiprecService
from src_client.siprec.session import SessionContext
from src_client.webhooks import WebhookSender

SIPP_BUFFER = ("-buff_size", "4194304")
ACCOUNT = new_sid(SidPrefix.ACCOUNT)


@dataclass(frozen=True)
class Plan:
    rate_calls: int
    in_flight: int
    concurrent: int
    ramp_rate: int
    hold: float
    echo: bool = True  # the callee echoes its audio: media both ways, twice the packets


QUICK = Plan(rate_calls=400, in_flight=80, concurrent=100, ramp_rate=50, hold=8.0)
FULL = Plan(rate_calls=2000, in_flight=80, concurrent=1000, ramp_rate=60, hold=15.0)


def pin() -> int | None:
    """Our process on the first core, SIPp on the second, when there are two."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def caller_scenario(folder: Path) -> str:
    """call_uac_bench.xml streaming two seconds of G.711 (looped) from an absolute path."""
    t = np.arange(16000) / 8000
    tone = np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * t)) * t) * 6000
    audio = folder / "bench.ulaw"
    audio.write_bytes(g711.encode(tone, g711.PCMU))
    name = "call_uac_bench.xml"
    text = (SCENARIO_DIR / name).read_text().replace('"bench.ulaw,', f'"{audio},')
    path = folder / name
    path.write_text(text)
    return str(path)


def require(result: SippResult, calls: int, what: str, *, tolerate: float = 0.0) -> int:
    """SIPp's failed calls; more than ``tolerate`` of them ends the run (the full error log
    goes to a file named in the message)."""
    failed = calls - result.successful
    if failed > tolerate * calls:
        with tempfile.NamedTemporaryFile("w", prefix="bench-calls-", suffix=".log",
                                         delete=False) as log:  # fmt: skip
            log.write(result.errors)
        raise SystemExit(f"{what}: {result.summary()}\nfull SIPp log: {log.name}")
    return failed


class Rig:
    def __init__(self, engine: Engine, endpoint: SipEndpoint, service: SiprecService) -> None:
        self.engine = engine
        self.endpoint = endpoint
        self.service = service
        self.manager: CallManager | None = None

    async def serve(self, srs: SippRun, callee: SippRun, calls: int) -> CallManager:
        """A fresh CallManager whose TwiML records to ``srs`` and dials ``callee``; it keeps
        every finished call of the phase (``calls``) for the figures."""
        if self.manager is not None:
            await self.manager.close()
        if "srs" in self.service.connectors:
            self.service.connectors.remove("srs")
        self.service.connectors.add(Connector("srs", parse_uri(f"sip:srs@127.0.0.1:{srs.port}")))
        twiml = (
            '<Response><Start><Siprec connectorName="srs" track="both_tracks"/></Start>'
            f"<Dial><Sip>sip:callee@127.0.0.1:{callee.port}</Sip></Dial></Response>"
        )
        self.manager = CallManager(
            self.endpoint, self.engine, self.service, [Route("*", ACCOUNT, twiml=twiml)],
            lambda account: "bench-token", options=CallOptions(history=calls),
        )  # fmt: skip
        await self.manager.start()
        return self.manager

    @property
    def address(self) -> tuple[str, int]:
        local = self.endpoint.transports.local_address("udp")
        assert local is not None
        return ("127.0.0.1", local.port)


def peers(calls: int, timeout: float, cpu: int | None, echo: bool) -> tuple[SippRun, SippRun]:
    srs = SippRun("call_srs_bench.xml", calls=calls, timeout=timeout, cpu=cpu,
                  extra=SIPP_BUFFER)  # fmt: skip
    callee = SippRun("call_uas_bench.xml", calls=calls, timeout=timeout, cpu=cpu,
                     extra=(*SIPP_BUFFER, "-rtp_echo") if echo else SIPP_BUFFER)  # fmt: skip
    return srs, callee


async def rate_phase(rig: Rig, plan: Plan, folder: Path, cpu: int | None) -> float:
    calls = plan.rate_calls
    limit = calls / 20 + 20  # seconds; bounds the peers' wait for a call that never comes
    srs, callee = peers(calls, limit, cpu, plan.echo)
    async with srs, callee:
        manager = await rig.serve(srs, callee, calls)
        caller = SippRun(caller_scenario(folder), calls=calls,
                         remote=rig.address, rate=10_000, limit=plan.in_flight,
                         timeout=limit, cpu=cpu,
                         extra=(*SIPP_BUFFER, "-d", "500"))  # fmt: skip
        async with caller:
            result = await caller.wait()
        require(result, calls, "rate caller")
        # a caller that hangs up before the B2BUA reached <Dial> (possible when the machine
        # is busy: each call lasts 0.5 s) rightly never reaches the callee or the SRS
        require(await callee.wait(), calls, "rate callee", tolerate=0.01)
        require(await srs.wait(), calls, "rate SRS", tolerate=0.01)
    answered = sorted(
        c.answered_at
        for c in manager.calls()
        if c.status is CallStatus.COMPLETED and c.answered_at is not None
    )
    if len(answered) != calls:
        raise SystemExit(f"rate: {len(answered)} of {calls} calls completed")
    return (calls - 1) / (answered[-1] - answered[0])


@dataclass
class Concurrency:
    concurrent: int
    failed_calls: int
    loss_ratio: float
    delivered_ratio: float
    packets_per_s: float
    cpu_percent_per_call: float
    tx_dropped: int


@dataclass
class Counters:
    """Packets on the held calls' legs and forks at one instant."""

    caller_in: int = 0
    caller_out: int = 0
    callee_in: int = 0
    callee_out: int = 0
    forked: int = 0

    @classmethod
    def of(cls, manager: CallManager, calls: list[Call]) -> Counters:
        total = cls()
        for call in calls:
            assert call.callee is not None
            caller, callee = call.caller.media.stats(), call.callee.media.stats()
            total.caller_in += caller.packets_in
            total.caller_out += caller.packets_out
            total.callee_in += callee.packets_in
            total.callee_out += callee.packets_out
            for recording in manager.siprec.list(call.sid):
                session = manager.siprec.session(recording.sid)
                if session is not None:
                    total.forked += session.media_now().packets
        return total


async def concurrency_phase(rig: Rig, plan: Plan, folder: Path, cpu: int | None) -> Concurrency:
    calls = plan.concurrent
    ramp = calls / plan.ramp_rate
    hold_ms = int((ramp + plan.hold) * 1000)
    phase_limit = ramp + plan.hold + 30.0  # bounds the wait for calls SIPp's caller lost
    srs, callee = peers(calls, phase_limit, cpu, plan.echo)
    async with srs, callee:
        manager = await rig.serve(srs, callee, calls)
        caller = SippRun(caller_scenario(folder), calls=calls,
                         remote=rig.address, rate=plan.ramp_rate, timeout=phase_limit,
                         cpu=cpu, extra=(*SIPP_BUFFER, "-d", str(hold_ms)))  # fmt: skip
        async with caller:
            deadline = time.monotonic() + ramp + plan.hold * 0.6  # the first calls end at ramp+hold
            while time.monotonic() < deadline and len(recorded(manager)) < calls:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the last calls' audio starts 300 ms after their ACK
            held = recorded(manager)
            window = min(5.0, plan.hold / 3)
            before, cpu_before, at_before = (
                Counters.of(manager, held),
                cpu_seconds(),
                time.monotonic(),
            )
            await asyncio.sleep(window)
            held = [c for c in held if c.callee is not None and c.status is CallStatus.IN_PROGRESS]
            after = Counters.of(manager, held)
            cpu_used, window = cpu_seconds() - cpu_before, time.monotonic() - at_before
            result = await caller.wait()
        # SIPp itself saturates first at this size (its "overload warning"): a few of its
        # calls may fail; they are counted, and more than 2% ends the run
        failed = require(result, calls, "concurrency caller", tolerate=0.02)
        require(await callee.wait(), calls, "concurrency callee", tolerate=0.02)
        require(await srs.wait(), calls, "concurrency SRS", tolerate=0.02)
    received = (after.caller_in - before.caller_in) + (after.callee_in - before.callee_in)
    sent = (after.caller_out - before.caller_out) + (after.callee_out - before.callee_out)
    forked = after.forked - before.forked
    expected = 2 * received  # each packet is relayed once and forked once (its track)
    sent_by_sipp = len(held) * 50 * window  # one 20 ms packet per call and window second
    return Concurrency(
        concurrent=len(held),
        failed_calls=failed,
        loss_ratio=round(max(0.0, 1 - (sent + forked) / expected), 6) if expected else 1.0,
        delivered_ratio=round((after.caller_in - before.caller_in) / sent_by_sipp, 4),
        packets_per_s=round((received + sent + forked) / window),
        cpu_percent_per_call=round(100 * cpu_used / window / max(len(held), 1), 4),
        tx_dropped=rig.engine.stats().tx_dropped,
    )


def recorded(manager: CallManager) -> list[Call]:
    """Calls bridged to their callee with both recorded streams started."""
    return [
        c for c in manager.active_calls()
        if c.callee is not None
        and any(r.status.value == "in-progress" for r in manager.siprec.list(c.sid))
    ]  # fmt: skip


async def main(plan: Plan, no_pin: bool, quick: bool) -> dict[str, object]:
    sipp_cpu = None if no_pin else pin()
    # caller, callee and two forks per call: a port pair each
    # (with a quarter spare: ephemeral ports of other sockets land in the range too)
    ports = max(plan.concurrent, plan.in_flight) * 4 * 2 * 5 // 4 + 400
    with (
        tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp,
        Engine("127.0.0.1", 41000, 41000 + ports, media_timeout=0) as engine,
    ):
        folder = Path(tmp)
        endpoint = await SipEndpoint.create()
        webhooks = WebhookSender()
        service = SiprecService(
            SessionContext(endpoint, engine, "127.0.0.1", session_expires=None),
            ConnectorRegistry(), webhooks, lambda account: "bench-token",
        )  # fmt: skip
        rig = Rig(engine, endpoint, service)
        try:
            calls_per_s = await rate_phase(rig, plan, folder, sipp_cpu)
            print(f"rate: {calls_per_s:.1f} calls/s ({plan.rate_calls} calls, "
                  f"{plan.in_flight} in flight)", flush=True)  # fmt: skip
            held = await concurrency_phase(rig, plan, folder, sipp_cpu)
            print(f"concurrency: {held.concurrent} recorded calls with media, "
                  f"{held.packets_per_s} packets/s through the engine, loss "
                  f"{held.loss_ratio:.4%}, SIPp delivered {held.delivered_ratio:.1%} of its "
                  f"audio, {held.cpu_percent_per_call:.3f}% CPU per call", flush=True)  # fmt: skip
        finally:
            if rig.manager is not None:
                await rig.manager.close()
            await service.close()
            await webhooks.close()
            await endpoint.close()
    return {
        "calls_per_s": round(calls_per_s, 1),
        "concurrent_recorded_calls": held.concurrent,
        "failed_calls": held.failed_calls,
        "loss_ratio": held.loss_ratio,
        "delivered_ratio": held.delivered_ratio,
        "packets_per_s": held.packets_per_s,
        "cpu_percent_per_call": held.cpu_percent_per_call,
        "engine_tx_dropped": held.tx_dropped,
        "calls_in_flight_for_rate": plan.in_flight,
        "target_concurrent": plan.concurrent,
        "quick": quick,
        "echo": plan.echo,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (< 60 s)")
    parser.add_argument("--concurrent", type=int, help="calls held together in phase 2")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--no-echo",
        action="store_true",
        help="one-way media (the callee does not echo): half the packets",
    )
    args = parser.parse_args()
    chosen = QUICK if args.quick else FULL
    if args.concurrent:
        chosen = dataclasses.replace(chosen, concurrent=args.concurrent)
    if args.no_echo:
        chosen = dataclasses.replace(chosen, echo=False)
    print(json.dumps(asyncio.run(main(chosen, args.no_pin, args.quick))), flush=True)
