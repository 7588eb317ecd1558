"""Soak: recorded calls through ``src-client serve`` for minutes; does anything grow?

    .venv/bin/python bench/soak.py [--quick] [--minutes M] [--rate CPS] [--hold SECONDS]

The daemon runs as users run it (its own process, uvloop, a generated TOML config). SIPp
plays the caller (call_uac_bench.xml: G.711 audio, then BYE after ``--hold``), the callee
(call_uas_bench.xml, echoing audio) and the SRS (call_srs_bench.xml, both tracks recorded);
every call runs ``<Start><Siprec track="both_tracks" statusCallback=…/></Start><Dial>``, so
each one must bring two status callbacks (siprec-started, siprec-stopped) to a receiver in
this process.

The baseline is measured in the same run: the daemon's RSS and open fds once it is up, has
carried ten warm-up calls (so the store's WAL files and the callback client's connection
exist) and is idle again. While calls run, RSS, fds and CPU are sampled every few seconds
(progress on stderr); RSS growth is the last loaded sample minus the sample taken when
warm-up ends (the first fifth of the run, at least 15 s: caches, pools and the allocator
settle), fd growth is the idle count after the last call minus the idle baseline.
``--quick`` places calls for 35 s (under a minute in all). The last line is one JSON object:
rss_growth_mb, fd_growth, failed_calls, callbacks_missing and the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calls import SIPP_BUFFER, caller_scenario
from src_client.sipp import SippRun, free_port

ACCOUNT = "AC00000000000000000000000000000500"
SAMPLE_EVERY = 2.0
WARM_UP_CALLS = 10


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int
    cpu_s: float


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    def sample(self, start: float) -> Sample:
        pid = self.process.pid
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return Sample(time.monotonic() - start, rss, len(os.listdir(f"/proc/{pid}/fd")), cpu)


def config(folder: Path, sip_port: int, api_port: int, srs_port: int, callee_port: int,
           callback: str) -> Path:
    twiml = (f'<Response><Start><Siprec connectorName="srs" track="both_tracks" '
             f'statusCallback="{callback}"/></Start>'
             f"<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>")
    path = folder / "soak.toml"
    path.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{sip_port}"]
[media]
port_min = 32000
port_max = 39999
[api]
listen = "127.0.0.1:{api_port}"
[store]
path = "{folder / 'var' / 'soak.db'}"
[logging]
level = "warning"
[[accounts]]
sid = "{ACCOUNT}"
auth_token = "soak-token"
[connectors.srs]
srs = "sip:srs@127.0.0.1:{srs_port}"
[[routes]]
number = "*"
account = "{ACCOUNT}"
twiml = '{twiml}'
""")
    return path


async def callback_sink(received: list[str]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        received.append(str((await request.post()).get("SiprecEvent")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/status", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/status"


async def start_daemon(path: Path) -> Daemon:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "src_client.cli", "serve", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    daemon = Daemon(process)

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            daemon.lines.append(line.decode(errors="replace"))

    asyncio.get_running_loop().create_task(read())
    return daemon


async def wait_api(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise SystemExit("the daemon did not start")


async def first_calls(folder: Path, sip_port: int, rate: float, received: list[str]) -> None:
    """A few short calls before the baseline: the store's WAL files, the callback client's
    pooled connection and the engine's threads exist from then on, so a count that differs
    from the baseline afterwards is a leak, not a first use."""
    caller = SippRun(caller_scenario(folder), calls=WARM_UP_CALLS, remote=("127.0.0.1", sip_port),
                     rate=rate, timeout=30, extra=(*SIPP_BUFFER, "-d", "200"))
    async with caller:
        result = await caller.wait()
    if result.successful != WARM_UP_CALLS:
        raise SystemExit(f"warm-up: {result.summary()}")
    deadline = time.monotonic() + 10
    while len(received) < 2 * WARM_UP_CALLS and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    received.clear()
    await asyncio.sleep(1.0)


async def run(seconds: float, rate: float, hold: float) -> dict[str, object]:
    calls = int(seconds * rate)
    received: list[str] = []
    runner, callback = await callback_sink(received)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    limit = seconds + hold + 60
    srs = SippRun("call_srs_bench.xml", calls=calls + WARM_UP_CALLS, timeout=limit,
                  extra=SIPP_BUFFER)
    callee = SippRun("call_uas_bench.xml", calls=calls + WARM_UP_CALLS, timeout=limit,
                     extra=(*SIPP_BUFFER, "-rtp_echo"))
    async with srs, callee:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            api_port = probe.getsockname()[1]
        sip_port = free_port()
        daemon = await start_daemon(config(folder, sip_port, api_port, srs.port, callee.port,
                                           callback))
        try:
            await wait_api(api_port)
            await first_calls(folder, sip_port, rate, received)
            start = time.monotonic()
            idle = daemon.sample(start)
            log(f"idle: rss {idle.rss_kb / 1024:.1f} MB, {idle.fds} fds; {calls} calls at "
                f"{rate:g}/s, {hold:g} s each")
            caller = SippRun(caller_scenario(folder), calls=calls, remote=("127.0.0.1", sip_port),
                             rate=rate, timeout=limit,
                             extra=(*SIPP_BUFFER, "-d", str(int(hold * 1000))))
            samples: list[Sample] = []
            warm_up = max(15.0, seconds / 5)
            warm: Sample | None = None
            async with caller:
                waiting = asyncio.ensure_future(caller.wait())
                while not waiting.done():
                    await asyncio.wait({waiting}, timeout=SAMPLE_EVERY)
                    sample = daemon.sample(start)
                    samples.append(sample)
                    if warm is None and sample.at >= warm_up:
                        warm = sample
                    log(f"{sample.at:6.1f} s: rss {sample.rss_kb / 1024:.1f} MB, "
                        f"{sample.fds} fds, cpu {sample.cpu_s:.1f} s, "
                        f"{len(received)} callbacks")
                result = waiting.result()
            loaded = [s for s in samples if warm is not None and s.at >= warm.at]
            failed = calls - result.successful
            expected = 2 * result.successful
            deadline = time.monotonic() + 15
            while len(received) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)  # the last calls' sockets close; the idle count settles
            after = daemon.sample(start)
            log(f"after: rss {after.rss_kb / 1024:.1f} MB, {after.fds} fds, "
                f"{len(received)} of {expected} callbacks, {failed} failed calls")
        finally:
            daemon.process.terminate()
            await daemon.process.wait()
            await runner.cleanup()
    last = loaded[-1] if loaded else after
    first = warm or after
    return {
        "benchmark": "soak",
        "seconds": round(seconds),
        "calls": calls,
        "rate_cps": rate,
        "hold_s": hold,
        "failed_calls": failed,
        "callbacks_expected": expected,
        "callbacks_missing": max(0, expected - len(received)),
        "baseline_rss_mb": round(idle.rss_kb / 1024, 1),
        "warm_rss_mb": round(first.rss_kb / 1024, 1),
        "final_rss_mb": round(last.rss_kb / 1024, 1),
        "rss_growth_mb": round((last.rss_kb - first.rss_kb) / 1024, 2),
        "idle_rss_after_mb": round(after.rss_kb / 1024, 1),
        "baseline_fds": idle.fds,
        "fd_growth": after.fds - idle.fds,
        "cpu_ms_per_call": round(1000 * (after.cpu_s - idle.cpu_s) / max(calls, 1), 2),
        "daemon_errors": sum(1 for line in daemon.lines if '"level": "error"' in line),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="35 s of calls, under 60 s in all")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=5.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each call lasts")
    args = parser.parse_args()
    seconds = 35.0 if args.quick else args.minutes * 60
    figures = asyncio.run(run(seconds, args.rate, args.hold))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
