"""Recording sessions per second and concurrent recording sessions with media, against SIPp.

    .venv/bin/python bench/siprec_sessions.py [--quick]

Three measurements on loopback TCP (``--transport udp`` for UDP), in one run on the same machine.
TCP by default: a SIPREC INVITE (SDP + metadata, ~2.4 KB) is over the 1300 bytes for which
RFC 3261 §18.1.1 asks for a congestion-controlled transport.

1. baseline: SIPp UAC (configs/sipp/uac_bench.xml) against SIPp UAS (uas_bench.xml), the same
   INVITE/200/ACK/BYE/200 cycle a recording session costs on the wire, with as many calls in
   flight: the rate this machine sustains for plain SIP calls;
2. rate: SiprecService (real SipEndpoint, real media engine) starting and stopping recording
   sessions against SIPp as the SRS (configs/sipp/srs_answer.xml, which checks every INVITE
   with its regexps): create -> 200 from the SRS (forks installed) -> stop -> BYE answered;
3. concurrency: that many sessions established and held together while a bounded sender feeds
   RTP into the recorded call legs and the engine forks it to SIPp's media port; then all
   stopped. Every session must be active at the end of the hold.

Our process (and the engine thread) and SIPp are pinned to different cores when there are two.
Every phase is bounded in sessions and time; SIPp's own verdict (every call passed its checks)
is required. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import socket
import struct
import time
from dataclasses import dataclass

from sip_setup import log, pin_cpus  # the benchmarks' shared helpers (bench/ is on sys.path)

from src_client.errors import TwilioError
from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.sipp import SippResult, SippRun
from src_client.siprec.connectors import Connector, ConnectorRegistry, Secret
from src_client.siprec.service import SiprecService
from src_client.siprec.session import RecordedCall, RecordingSession, SessionContext
from src_client.webhooks import WebhookSender

IN_FLIGHT = 50  # sessions being started/stopped at once (and SIPp's -l for the baseline)
SETUP_IN_FLIGHT = 100  # sessions being established at once in the concurrency phase
STREAMS_PER_CALL = 4  # the per-call limit: the concurrency phase records each call 4 times
SIPP_BUFFER = ("-buff_size", "4194304")  # SIPp's default 64 KB drops bursts on loopback
CREDENTIAL = "bench-token"
RECORDED_CALL_ID = "bench-call@pbx.example.com"
PORT_MIN, PORT_MAX = 61000, 65535  # above the ephemeral range, away from suites and benches
# 1 port pair per fork + 1 per 4 recorded calls, with room for the rate phase's call legs
MAX_CONCURRENT = 1800
FRAME = b"\xff" * 160  # 20 ms of PCMU silence


@dataclass(frozen=True)
class Plan:
    transport: str
    baseline_calls: int
    rate_sessions: int
    concurrent: int
    hold: float
    media_pps: int  # ceiling of RTP packets/s the sender feeds into the call legs
    time_limit: float


QUICK = Plan(transport="tcp", baseline_calls=1000, rate_sessions=400, concurrent=1000,
             hold=3.0, media_pps=10000, time_limit=40.0)
FULL = Plan(transport="tcp", baseline_calls=5000, rate_sessions=2000, concurrent=1000,
            hold=15.0, media_pps=12500, time_limit=120.0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def require(result: SippResult, calls: int, what: str) -> None:
    if result.returncode != 0 or result.successful != calls:
        raise SystemExit(f"{what}: SIPp did not pass every call: {result.summary()}")


async def baseline(plan: Plan, sipp_cpu: int | None, uac_cpu: int | None) -> float:
    calls = plan.baseline_calls
    async with SippRun("uas_bench.xml", transport=plan.transport, calls=calls,
                       timeout=plan.time_limit, cpu=sipp_cpu,
                       extra=SIPP_BUFFER) as server:  # fmt: skip
        started = time.perf_counter()
        async with SippRun("uac_bench.xml", transport=plan.transport, calls=calls,
                           remote=server.address, rate=100000,
                           rate_period_ms=1000, limit=IN_FLIGHT, timeout=plan.time_limit,
                           cpu=uac_cpu, extra=SIPP_BUFFER) as client:  # fmt: skip
            result = await client.wait()
        elapsed = time.perf_counter() - started
        require(result, calls, "baseline UAC")
        require(await server.wait(), calls, "baseline UAS")
    return calls / elapsed


class BenchService(SiprecService):
    """The service with an awaitable "started or failed" per recording, for the driver."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.outcome: dict[str, asyncio.Future[bool]] = {}

    def _started(self, session: RecordingSession) -> None:
        super()._started(session)
        self._resolve(session.resource.sid, True)

    def _finished(self, session: RecordingSession, failure: TwilioError | None) -> None:
        super()._finished(session, failure)
        self._resolve(session.resource.sid, False)

    def _resolve(self, sid: str, started: bool) -> None:
        future = self.outcome.get(sid)
        if future is not None and not future.done():
            future.set_result(started)

    async def start(self, call: RecordedCall) -> str | None:
        """Create a recording and wait for the SRS's answer: its SID, or None if it failed."""
        resource = self.create(call, connector_name="srs", track="inbound_track")
        future = self.outcome[resource.sid] = asyncio.get_running_loop().create_future()
        try:
            return resource.sid if await future else None
        finally:
            del self.outcome[resource.sid]


@dataclass
class Rig:
    engine: Engine
    endpoint: SipEndpoint
    service: BenchService
    webhooks: WebhookSender
    transport: str

    @classmethod
    async def create(cls, transport: str) -> Rig:
        engine = Engine("127.0.0.1", PORT_MIN, PORT_MAX, workers=1, media_timeout=0)
        endpoint = await SipEndpoint.create(SipConfig(), listen=[(transport, "127.0.0.1", 0)])
        webhooks = WebhookSender()
        service = BenchService(SessionContext(endpoint, engine, "127.0.0.1"),
                               ConnectorRegistry(), webhooks, lambda _: "unused")
        return cls(engine, endpoint, service, webhooks, transport)

    def use_srs(self, srs: SippRun) -> None:
        if "srs" in self.service.connectors:
            self.service.connectors.remove("srs")
        self.service.connectors.add(Connector(
            "srs", parse_uri(f"sip:srs@127.0.0.1:{srs.port};transport={self.transport}"),
            credentials_header="X-Recording-Token", credentials=Secret(CREDENTIAL)))

    def call(self) -> RecordedCall:
        return RecordedCall(
            sid=new_sid(SidPrefix.CALL), account_sid="AC" + "0" * 32,
            sip_call_id=RECORDED_CALL_ID,
            remote=parse_name_addr("<sip:+15550001111@pbx.example.com>"),
            local=parse_name_addr("<sip:+15550002222@src.example.com>"),
            codecs=(Codec(0, "PCMU", 8000),), dtmf_payload_types=frozenset(),
            leg=self.engine.allocate_leg(),
        )  # fmt: skip

    async def close(self) -> None:
        await self.service.close()
        await self.webhooks.close()
        await self.endpoint.close()
        self.engine.close()


def srs_run(sessions: int, plan: Plan, cpu: int | None) -> SippRun:
    return SippRun("srs_answer.xml", transport=plan.transport, calls=sessions,
                   timeout=plan.time_limit, cpu=cpu,
                   extra=SIPP_BUFFER, keys={"labels": "1", "cred": CREDENTIAL,
                                            "recorded_call_id": RECORDED_CALL_ID})


async def session_rate(rig: Rig, plan: Plan, sipp_cpu: int | None) -> tuple[float, int, float]:
    """Sessions started and stopped per second, failures, and our CPU seconds per session."""
    total = plan.rate_sessions
    failures = 0
    remaining = total
    async with srs_run(total, plan, sipp_cpu) as srs:
        rig.use_srs(srs)
        deadline = time.monotonic() + plan.time_limit

        async def worker() -> None:
            nonlocal remaining, failures
            call = rig.call()  # one recording at a time per call
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                sid = await rig.service.start(call)
                if sid is None:
                    failures += 1
                    continue
                await rig.service.stop(call.sid, sid)
            call.leg.close()

        cpu = cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        require(await srs.wait(), total, "rate SRS")
    done = total - remaining - failures
    return done / elapsed, failures, cpu / max(done, 1)


class MediaFeeder:
    """Sends 20 ms PCMU frames into every leg round-robin, at most ``pps`` packets/s overall
    and one frame per leg per 20 ms, for a bounded time."""

    def __init__(self, legs: list[tuple[str, int]], pps: int) -> None:
        self.legs = legs
        self.pps = pps
        self.sent = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        tick = 0.02
        per_tick = min(len(self.legs), max(1, int(self.pps * tick)))
        end = loop.time() + seconds
        seq = 0
        cursor = 0
        next_tick = loop.time()
        try:
            while loop.time() < end:
                header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF,
                                     0xBE7C4A11)
                for _ in range(per_tick):
                    try:
                        self.sock.sendto(header + FRAME, self.legs[cursor])
                        self.sent += 1
                    except BlockingIOError:
                        pass
                    cursor = (cursor + 1) % len(self.legs)
                seq += 1
                next_tick += tick
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:
            self.sock.close()


@dataclass
class Concurrency:
    established: int
    failures: int
    setup_s: float
    active_after_hold: int
    media_in_pps: float
    fork_out_pps: float
    teardown_s: float
    rss_mb: float
    cpu_percent_hold: float


async def concurrency(rig: Rig, plan: Plan, sipp_cpu: int | None) -> Concurrency:
    target = plan.concurrent
    calls = [rig.call() for _ in range((target + STREAMS_PER_CALL - 1) // STREAMS_PER_CALL)]
    sids: list[tuple[str, str]] = []  # (call SID, Siprec SID)
    failures = 0
    async with srs_run(target, plan, sipp_cpu) as srs:
        rig.use_srs(srs)
        gate = asyncio.Semaphore(SETUP_IN_FLIGHT)

        async def establish(call: RecordedCall) -> None:
            nonlocal failures
            async with gate:
                sid = await rig.service.start(call)
            if sid is None:
                failures += 1
            else:
                sids.append((call.sid, sid))

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(
            establish(calls[i // STREAMS_PER_CALL]) for i in range(target))), plan.time_limit)
        setup_s = time.perf_counter() - started
        log(f"  {len(sids)} sessions established in {setup_s:.1f}s ({failures} failed)")

        feeder = MediaFeeder([call.leg.local_address for call in calls], plan.media_pps)
        before_in = sum(call.leg.stats().packets_in for call in calls)
        before_out = rig.service.media_totals().packets
        cpu = cpu_seconds()
        hold_started = time.perf_counter()
        await feeder.run(plan.hold)
        await asyncio.sleep(0.2)  # the engine drains its sockets
        hold = time.perf_counter() - hold_started
        cpu_percent = 100 * (cpu_seconds() - cpu) / hold
        media_in = sum(call.leg.stats().packets_in for call in calls) - before_in
        fork_out = rig.service.media_totals().packets - before_out
        active = sum(1 for _, sid in sids if rig.service.session(sid) is not None)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        started = time.perf_counter()
        stop_gate = asyncio.Semaphore(SETUP_IN_FLIGHT)

        async def stop(call_sid: str, sid: str) -> None:
            async with stop_gate:
                await rig.service.stop(call_sid, sid)

        await asyncio.wait_for(asyncio.gather(*(stop(c, s) for c, s in sids)), plan.time_limit)
        teardown_s = time.perf_counter() - started
        require(await srs.wait(), target, "concurrency SRS")
    for call in calls:
        call.leg.close()
    return Concurrency(len(sids), failures, setup_s, active, media_in / hold, fork_out / hold,
                       teardown_s, rss_mb, cpu_percent)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (< 60 s)")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.add_argument("--concurrent", type=int,
                        help=f"sessions held at once (default 1000, at most {MAX_CONCURRENT})")
    args = parser.parse_args()
    plan = dataclasses.replace(QUICK if args.quick else FULL, transport=args.transport)
    if args.concurrent is not None:
        if not 1 <= args.concurrent <= MAX_CONCURRENT:
            parser.error(f"--concurrent must be 1..{MAX_CONCURRENT}")
        plan = dataclasses.replace(plan, concurrent=args.concurrent)
    our_cpu, sipp_cpu = pin_cpus()
    log(f"plan: {plan}; our CPU {our_cpu}, SIPp CPU {sipp_cpu}")

    base = await baseline(plan, sipp_cpu, our_cpu)
    log(f"baseline SIPp UAC -> SIPp UAS: {base:.0f} calls/s")
    rig = await Rig.create(plan.transport)
    try:
        rate, rate_failures, cpu_per_session = await session_rate(rig, plan, sipp_cpu)
        log(f"recording sessions started+stopped: {rate:.0f}/s ({rate_failures} failed, "
            f"{cpu_per_session * 1e3:.2f} ms CPU each)")
        held = await concurrency(rig, plan, sipp_cpu)
        log(f"concurrent: {held.active_after_hold} active after {plan.hold:g}s hold, "
            f"media in {held.media_in_pps:.0f} pps, forked out {held.fork_out_pps:.0f} pps, "
            f"our CPU {held.cpu_percent_hold:.0f}%, RSS {held.rss_mb:.0f} MB")
    finally:
        await rig.close()
    print(json.dumps({
        "sessions_per_s": round(rate, 1),
        "concurrent_sessions": held.active_after_hold,
        "baseline_calls_per_s": round(base, 1),
        "ratio_vs_baseline": round(rate / base, 3),
        "rate_sessions": plan.rate_sessions,
        "rate_failures": rate_failures,
        "cpu_ms_per_session": round(cpu_per_session * 1e3, 3),
        "concurrent_target": plan.concurrent,
        "concurrent_setup_failures": held.failures,
        "concurrent_setup_s": round(held.setup_s, 2),
        "hold_s": plan.hold,
        "media_in_pps": round(held.media_in_pps),
        "fork_out_pps": round(held.fork_out_pps),
        "cpu_percent_during_hold": round(held.cpu_percent_hold, 1),
        "teardown_s": round(held.teardown_s, 2),
        "max_rss_mb": round(held.rss_mb, 1),
        "transport": plan.transport,
    }))


if __name__ == "__main__":
    asyncio.run(main())
