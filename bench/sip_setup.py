"""SIP call set-up rate and memory per dialog of our stack, with SIPp as the reference.

    .venv/bin/python bench/sip_setup.py [--quick] [--profile FILE]

Three measurements on loopback UDP, all in one run on the same machine:

1. baseline: SIPp UAC (configs/sipp/uac_bench.xml) against SIPp UAS (uas_bench.xml): the
   reference rate of full INVITE/200/ACK/BYE/200 cycles this machine sustains;
2. ours: our UAC (SipEndpoint) against the same SIPp UAS, the same cycle, the same number of
   calls in flight, in several back-to-back rounds on one endpoint (so the later rounds carry
   the transactions still lingering from the earlier ones, as a busy server does); the figure
   is the median round, with the spread beside it, because other work on a shared machine
   moves single rounds by tens of percent;
3. memory: 1,000 dialogs established at once and held, measured with tracemalloc (Python heap
   attributable to the stack) and as an RSS delta.

Our process and SIPp are pinned to different cores when there are at least two.  Every phase
is bounded in calls and time.  The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

from src_client import eventloop, sip
from src_client.sip.endpoint import Dialog, SipConfig, SipEndpoint
from src_client.sip.errors import SipError
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.sipp import SippRun

SDP = (
    b"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
)
IN_FLIGHT = 100  # concurrent calls, for SIPp (-l) and for us alike
SIPP_BUFFER = ("-buff_size", "4194304")  # SIPp's default 64 KB drops bursts on loopback
MEMORY_DIALOGS = 1000
OUR_CPU, SIPP_CPU = 0, 1


@dataclass
class Plan:
    calls: int  # per round
    rounds: int
    warmup: int
    time_limit: float


@dataclass
class Round:
    setups_per_s: float
    cpu_us_per_setup: float


def pin_cpus() -> tuple[int | None, int | None]:
    """Our process on one core, SIPp on another (when there are two to choose from)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    os.sched_setaffinity(0, {cpus[OUR_CPU]})
    return cpus[OUR_CPU], cpus[SIPP_CPU]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def sipp_baseline(plan: Plan, sipp_cpu: int | None, uac_cpu: int | None) -> float:
    calls = plan.calls + plan.warmup
    async with SippRun("uas_bench.xml", calls=calls, timeout=plan.time_limit, cpu=sipp_cpu,
                       extra=SIPP_BUFFER) as server:  # fmt: skip
        started = time.perf_counter()
        async with SippRun("uac_bench.xml", calls=calls, remote=server.address, rate=100000,
                           rate_period_ms=1000, limit=IN_FLIGHT, timeout=plan.time_limit,
                           cpu=uac_cpu, extra=SIPP_BUFFER) as client:  # fmt: skip
            result = await client.wait()
        elapsed = time.perf_counter() - started
        if result.returncode != 0 or result.successful != calls:
            raise SystemExit(f"SIPp baseline failed: {result.summary()}")
        await server.wait()
    return result.successful / elapsed


class Caller:
    """Our UAC: ``in_flight`` workers, each placing calls back to back."""

    def __init__(self, endpoint: SipEndpoint, port: int, in_flight: int = IN_FLIGHT) -> None:
        self.endpoint = endpoint
        self.in_flight = in_flight
        self.target = parse_uri(f"sip:service@127.0.0.1:{port}")
        self.to = parse_name_addr(f"<{self.target}>")
        self.from_ = parse_name_addr("<sip:bench@127.0.0.1>")
        self.failures = 0

    async def setup(self) -> Dialog | None:
        try:
            result = await self.endpoint.invite(
                self.target, from_=self.from_, to=self.to, body=SDP,
                content_type="application/sdp",
            )  # fmt: skip
        except SipError:  # e.g. Timer B after lost datagrams: counted, not fatal
            self.failures += 1
            return None
        if result.dialog is None:
            self.failures += 1
        return result.dialog

    async def full_call(self) -> None:
        dialog = await self.setup()
        if dialog is None:
            return
        try:
            if (await dialog.bye()).status != 200:
                self.failures += 1
        except SipError:
            self.failures += 1

    async def run(self, calls: int, deadline: float) -> int:
        remaining = calls
        done = 0

        async def worker() -> None:
            nonlocal remaining, done
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                await self.full_call()
                done += 1

        await asyncio.gather(*(worker() for _ in range(min(self.in_flight, calls))))
        return done


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def our_rounds(
    plan: Plan, sipp_cpu: int | None, profile: str | None
) -> tuple[list[Round], int]:
    """Each round's rate and CPU per set-up, and the failed calls of all rounds."""
    endpoint = await SipEndpoint.create(SipConfig(), listen=[("udp", "127.0.0.1", 0)])
    total = plan.calls * plan.rounds
    try:
        async with SippRun("uas_bench.xml", calls=total + plan.warmup,
                           timeout=plan.time_limit, cpu=sipp_cpu,
                           extra=SIPP_BUFFER) as server:  # fmt: skip
            caller = Caller(endpoint, server.port)
            deadline = time.monotonic() + plan.time_limit
            await caller.run(plan.warmup, deadline)
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            rounds: list[Round] = []
            done = 0
            for number in range(plan.rounds):
                failures = caller.failures
                started, cpu_started = time.perf_counter(), cpu_seconds()
                calls = await caller.run(plan.calls, deadline)
                elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
                done += calls
                rounds.append(Round((calls - (caller.failures - failures)) / elapsed,
                                    cpu / max(calls, 1) * 1e6))  # fmt: skip
                log(f"  round {number + 1}/{plan.rounds}: {rounds[-1].setups_per_s:.0f} "
                    f"setups/s, {rounds[-1].cpu_us_per_setup:.0f} us of CPU per set-up, "
                    f"{endpoint.core.transaction_count} transactions live")  # fmt: skip
            if profiler and profile:
                profiler.disable()
                profiler.dump_stats(profile)
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            result = await server.wait()
        if done != total or caller.failures > total // 100:
            raise SystemExit(f"our UAC finished {done}/{total} calls "
                             f"({caller.failures} failed); SIPp: {result.summary()}")  # fmt: skip
        return rounds, caller.failures
    finally:
        await endpoint.close()


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


async def memory_per_dialog(sipp_cpu: int | None, time_limit: float) -> tuple[float, float, int]:
    """(tracemalloc bytes, RSS bytes, dialogs) per established dialog, 1,000 held at once."""
    endpoint = await SipEndpoint.create(SipConfig(), listen=[("udp", "127.0.0.1", 0)])
    warmup = 50
    try:
        async with SippRun("uas_bench.xml", calls=MEMORY_DIALOGS + warmup, timeout=2 * time_limit,
                           cpu=sipp_cpu, limit=MEMORY_DIALOGS + warmup,
                           extra=SIPP_BUFFER) as server:  # fmt: skip
            caller = Caller(endpoint, server.port)
            deadline = time.monotonic() + time_limit
            await caller.run(warmup, deadline)  # fill one-off caches before measuring
            gc.collect()
            tracemalloc.start()
            heap_before, rss_before = tracemalloc.get_traced_memory()[0], rss_bytes()
            semaphore = asyncio.Semaphore(IN_FLIGHT)

            async def establish() -> Dialog | None:
                async with semaphore:
                    return await caller.setup()

            dialogs = [d for d in await asyncio.gather(*(establish() for _ in
                                                          range(MEMORY_DIALOGS))) if d]  # fmt: skip
            gc.collect()
            heap_after, rss_after = tracemalloc.get_traced_memory()[0], rss_bytes()
            held = endpoint.core.dialog_count
            log(f"{held} dialogs held, {endpoint.core.transaction_count} transactions still "
                "live (2xx ACK/retransmission windows) are included in the figure")  # fmt: skip
            tracemalloc.stop()
            try:
                # bounded: if SIPp is gone, each batch would wait for Timer F (64*T1)
                async with asyncio.timeout(time_limit):
                    for start in range(0, len(dialogs), IN_FLIGHT):
                        await asyncio.gather(*(d.bye() for d in dialogs[start:start + IN_FLIGHT]),
                                             return_exceptions=True)  # fmt: skip
            except TimeoutError:
                log("the held dialogs were not all ended in time (SIPp gone?); abandoned")
            await server.wait()
        if held < MEMORY_DIALOGS:
            raise SystemExit(f"only {held} of {MEMORY_DIALOGS} dialogs were established")
        return (heap_after - heap_before) / held, (rss_after - rss_before) / held, held
    finally:
        await endpoint.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile our UAC phase into FILE")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave CPU placement to the scheduler (busy shared machines)")
    args = parser.parse_args()
    plan = Plan(calls=3000, rounds=5, warmup=1000, time_limit=25) if args.quick else \
        Plan(calls=10000, rounds=5, warmup=1000, time_limit=60)  # fmt: skip
    our_cpu, sipp_cpu = (None, None) if args.no_pin else pin_cpus()
    log(f"pinned: our process on CPU {our_cpu}, SIPp on CPU {sipp_cpu}; {plan.rounds} rounds "
        f"of {plan.calls} calls, {IN_FLIGHT} in flight; SIP core {sip.MODE}")  # fmt: skip

    baseline = await sipp_baseline(plan, sipp_cpu, our_cpu)
    log(f"SIPp UAC -> SIPp UAS: {baseline:.0f} setups/s")
    rounds, failures = await our_rounds(plan, sipp_cpu, args.profile)
    rates = sorted(r.setups_per_s for r in rounds)
    rate = statistics.median(rates)
    cpu_us = statistics.median(r.cpu_us_per_setup for r in rounds)
    log(f"our UAC  -> SIPp UAS: {rate:.0f} setups/s (median round; {rates[0]:.0f}-{rates[-1]:.0f}"
        f", {failures} failed), {cpu_us:.0f} us of CPU per set-up")  # fmt: skip
    heap, rss, held = await memory_per_dialog(sipp_cpu, plan.time_limit)
    log(f"memory: {heap:.0f} B/dialog (tracemalloc), {rss:.0f} B/dialog (RSS), {held} held")

    print(json.dumps({
        "setups_per_s": round(rate, 1),
        "setups_per_s_rounds": [round(r.setups_per_s, 1) for r in rounds],
        # what one core sustains while the VM gets its full share of the host
        "setups_per_s_best_round": round(rates[-1], 1),
        "bytes_per_dialog": round(heap),
        "rss_bytes_per_dialog": round(rss),
        "sipp_baseline_setups_per_s": round(baseline, 1),
        "ratio_vs_sipp": round(rate / baseline, 3),
        # CPU time is less sensitive than wall time to other work on the machine:
        # 1 / cpu_us_per_setup is the rate one free core would sustain.
        "cpu_us_per_setup": round(cpu_us),
        "cpu_us_per_setup_rounds": [round(r.cpu_us_per_setup) for r in rounds],
        "calls_per_round": plan.calls,
        "rounds": plan.rounds,
        "sip_core": sip.MODE,
        "in_flight": IN_FLIGHT,
        "failed_calls": failures,
        "dialogs_held": held,
        "quick": args.quick,
        "event_loop": eventloop.name(),
        "cpus": {"ours": our_cpu, "sipp": sipp_cpu},
        "loadavg_1m": os.getloadavg()[0],  # other work on the machine skews both rates
        "targets": {"setups_per_s": 3000, "bytes_per_dialog": 4096},
    }))  # fmt: skip


if __name__ == "__main__":
    eventloop.run(main())
