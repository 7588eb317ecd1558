"""Media engine benchmark: relay + 2 forks per call against a raw C floor (and rtpengine).

For 100, 1,000 and 4,000 legs (2 legs per call, A <-> B relayed, a fork on each leg's inbound
direction, so every packet in gives one relayed and one forked packet out), plain RTP and SRTP
forks, it offers the same load to our engine (one worker) and to a minimal recvmmsg/sendmmsg
forwarder compiled here (bench/media_floor.c), and measures CPU seconds per packet (so the
figures hold on a shared machine), loss, relay latency (send time stamped in the payload by
bench/media_loadgen.c), and recovery after an overload burst.

If ``rtpengine`` is installed it is compared in relay-only mode (see ``--rtpengine``).

    .venv/bin/python bench/media.py [--quick]

The last line printed is a JSON object: pps (packets in per engine CPU-second, 1,000 legs,
plain, relay + fork), ratio_vs_floor, ratio_vs_rtpengine, srtp_cost_ratio, p99_latency_us,
streams_recovered_ratio, and the per-configuration details.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from src_client.media import Engine, SrtpParams

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def build(tmp: Path) -> tuple[Path, Path]:
    floor, loadgen = tmp / "media_floor", tmp / "media_loadgen"
    for src, out in ((HERE / "media_floor.c", floor), (HERE / "media_loadgen.c", loadgen)):
        subprocess.run(["gcc", "-O2", "-pthread", str(src), "-o", str(out)], check=True)
    return floor, loadgen


def free_port(first: int = 9000) -> int:
    """A free UDP port below the ephemeral range (for the SRS sink, rtpengine's control port),
    so no socket bound to port 0 (the floor's, the generator's) can take it before its user."""
    for port in range(first, first + 1000):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + 999}")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class LoadGen:
    def __init__(self, binary: Path, targets: list[int], sink_port: int, tmp: Path) -> None:
        path = tmp / f"targets-{len(targets)}-{sink_port}"
        path.write_text("\n".join(map(str, targets)) + "\n")
        self.proc = subprocess.Popen(
            [str(binary), str(path), str(sink_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.phase = 0

    def run(self, rate: float, seconds: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.phase += 1
        self.proc.stdin.write(f"run {self.phase} {rate} {seconds}\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(5)


@dataclass
class Result:
    target: str
    legs: int
    offered_pps: float
    cpu_us_per_packet: float  # median CPU of the forwarder per packet in
    floor_cpu_us_per_packet: float  # median of the floor, measured in the same time windows
    ratio_vs_floor: float  # floor CPU / our CPU per packet: 1.0 = as cheap as the floor
    loss: float  # worst relay loss over the repeats
    fork_ratio: float  # fork copies received / packets sent (1.0 = every packet forked)
    p99_latency_us: float  # median of the repeats' relay p99


@dataclass
class Target:
    """A forwarder under load: its generator and a CPU-seconds probe."""

    name: str
    gen: LoadGen
    cpu: Callable[[], float]


def sample(t: Target, rate: float, seconds: float) -> tuple[float, dict[str, Any]]:
    before = t.cpu()
    r = t.gen.run(rate, seconds)
    return (t.cpu() - before) / r["sent"] * 1e6, r


def compare(
    target: Target, floor: Target, legs: int, rate: float, seconds: float, repeats: int
) -> Result:
    """Alternates target and floor runs so both see the same machine load (the machine is
    shared: other processes' load shows up in both, and the medians are compared)."""
    for t in (target, floor):
        t.gen.run(min(rate, 20000), 0.3)  # warm-up: every leg latches its source
    ours, base, runs = [], [], []
    for _ in range(repeats):
        cpu, r = sample(target, rate, seconds)
        ours.append(cpu)
        runs.append(r)
        base.append(sample(floor, rate, seconds)[0])
    cpu, floor_cpu = statistics.median(ours), statistics.median(base)
    return Result(
        target.name,
        legs,
        statistics.median(r["sent"] / r["elapsed"] for r in runs),
        cpu,
        floor_cpu,
        floor_cpu / cpu,
        max(1 - r["relay_rx"] / r["sent"] for r in runs),
        min(r["fork_rx"] / r["sent"] for r in runs),
        statistics.median(r["p99_us"] for r in runs),
    )


def engine_setup(
    legs: int, srtp: bool, forks: bool, inband: bool, sink: int
) -> tuple[Engine, list[int]]:
    eng = Engine("127.0.0.1", 10000, 26999, workers=1, media_timeout=0)
    all_legs = [eng.allocate_leg() for _ in range(legs)]
    for a, b in zip(all_legs[::2], all_legs[1::2], strict=True):
        eng.relay(a, b)
        for leg in (a, b) if forks else ():
            params = SrtpParams("AES_CM_128_HMAC_SHA1_80", os.urandom(16), os.urandom(14))
            eng.add_fork(
                leg,
                "inbound",
                destination=("127.0.0.1", sink),
                srtp=params if srtp else None,
                inband_dtmf=inband,
            )
    return eng, [leg.local_address[1] for leg in all_legs]


@contextmanager
def engine_target(
    name: str, loadgen: Path, tmp: Path, legs: int, *, srtp: bool, inband: bool = True
) -> Iterator[Target]:
    sink = free_port()
    eng, ports = engine_setup(legs, srtp, True, inband, sink)
    gen = LoadGen(loadgen, ports, sink, tmp)
    try:
        yield Target(name, gen, time.process_time)  # the engine's threads are ours
    finally:
        gen.close()
        eng.close()


@contextmanager
def floor_target(floor: Path, loadgen: Path, tmp: Path, legs: int) -> Iterator[Target]:
    sink = free_port()
    proc = subprocess.Popen(
        [str(floor), str(legs), str(sink)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    ports = []
    while (line := proc.stdout.readline().strip()) != "ready":
        ports.append(int(line))
    gen = LoadGen(loadgen, ports, sink, tmp)
    try:
        yield Target("floor", gen, lambda: proc_cpu(proc.pid))
    finally:
        gen.close()
        proc.stdin.close()
        proc.wait(5)


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


class NgClient:
    """rtpengine's ng control protocol: "cookie bencoded-dict" over UDP. Only the "sdp" value of
    replies is needed, so replies are searched for it rather than fully decoded."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2)
        self.addr = ("127.0.0.1", port)
        self.cookie = 0

    def command(self, **args: str) -> bytes:
        self.cookie += 1  # rtpengine caches replies by cookie
        self.sock.sendto(b"%d " % self.cookie + bencode(args), self.addr)
        reply = self.sock.recv(65535)
        if b"6:result2:ok" not in reply and b"6:result4:pong" not in reply:
            raise RuntimeError(f"rtpengine refused {args.get('command')}: {reply[:200]!r}")
        return reply

    def media_port(self, **args: str) -> int:
        reply = self.command(**args)
        return int(reply.split(b"m=audio ", 1)[1].split(b" ", 1)[0])


SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {} RTP/AVP 0\r\n"
)


@contextmanager
def rtpengine_target(loadgen: Path, tmp: Path, legs: int) -> Iterator[Target]:
    """Our own rtpengine instance: userspace forwarding only (no kernel table), one worker
    thread, its own control port and media ports; calls set up with offer/answer; it learns
    each stream's source from the first packet, as the engine does."""
    ng_port = free_port(8000)
    proc = subprocess.Popen(
        ["rtpengine", "--config-file=none", "--foreground", "--log-stderr", "-L", "3",
         "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{ng_port}", "--table=-1",
         "--num-threads=1", "--port-min=40000", "--port-max=59999",
         "--endpoint-learning=immediate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ng = NgClient(ng_port)
    gen = None
    try:
        for _ in range(50):
            try:
                ng.command(command="ping")
                break
            except (TimeoutError, ConnectionRefusedError, RuntimeError):
                time.sleep(0.1)
        ports = []
        for call in range(legs // 2):
            call_id = f"bench-{call}"
            toward_a = ng.media_port(command="offer", **{"call-id": call_id, "from-tag": "a"},
                                     sdp=SDP.format(9))  # fmt: skip
            toward_b = ng.media_port(command="answer", **{"call-id": call_id, "from-tag": "a",
                                     "to-tag": "b"}, sdp=SDP.format(9))  # fmt: skip
            ports += [toward_b, toward_a]  # phone A sends toward B, phone B toward A
        gen = LoadGen(loadgen, ports, free_port(), tmp)
        yield Target("rtpengine", gen, lambda: proc_cpu(proc.pid))
    finally:
        if gen is not None:
            gen.close()
        proc.terminate()
        proc.wait(10)
        ng.sock.close()


@contextmanager
def relay_only_target(loadgen: Path, tmp: Path, legs: int) -> Iterator[Target]:
    sink = free_port()
    eng, ports = engine_setup(legs, False, False, False, sink)
    gen = LoadGen(loadgen, ports, sink, tmp)
    try:
        yield Target("engine-relay-only", gen, time.process_time)
    finally:
        gen.close()
        eng.close()


def settle(gen: LoadGen) -> None:
    """Lets queues left by an overload drain before the next measurement."""
    time.sleep(1.0)
    gen.run(1000, 0.2)


def load_and_overload(gen: LoadGen, rate: float) -> dict[str, Any]:
    """Max load = what the engine forwards when offered as much as the generator can send (on
    this machine they share two cores); then latency at half of it, loss at 80 %, an overload
    at 1.5x (or as fast as the generator goes) for 2 s, and a normal rate again: how many
    streams are forwarded again."""
    top = gen.run(0, 1.0)
    max_pps = top["relay_rx"] / top["elapsed"]
    settle(gen)
    half = gen.run(max_pps / 2, 1.0)
    eighty = gen.run(max_pps * 0.8, 1.0)
    settle(gen)
    burst = gen.run(max_pps * 1.5, 2.0)
    time.sleep(1.0)
    after = gen.run(rate / 4, 1.0)
    return {
        "max_pps": max_pps,
        "half_load_offered_pps": half["sent"] / half["elapsed"],
        "half_load_loss": 1 - half["relay_rx"] / half["sent"],
        "half_load_p50_latency_us": half["p50_us"],
        "half_load_p99_latency_us": half["p99_us"],
        "eighty_load_offered_pps": eighty["sent"] / eighty["elapsed"],
        "eighty_load_loss": 1 - eighty["relay_rx"] / eighty["sent"],
        "burst_offered_pps": burst["sent"] / burst["elapsed"],
        "burst_loss": 1 - burst["relay_rx"] / max(burst["sent"], 1),
        "streams_recovered_ratio": after["streams_ok"] / after["streams"],
        "after_burst_loss": 1 - after["relay_rx"] / after["sent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = (100, 1000) if args.quick else (100, 1000, 4000)
    seconds = 0.5 if args.quick else 1.0
    repeats = 3 if args.quick else 5
    rate = 20000.0
    results: list[Result] = []
    vs_rtpengine: list[Result] = []  # here ratio_vs_floor means rtpengine CPU / ours
    extra: dict[str, Any] = {}
    rtpengine_overload: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        floor, loadgen = build(tmp)
        for legs in sizes:
            with floor_target(floor, loadgen, tmp, legs) as base:
                variants = [("engine", False, True), ("engine+srtp", True, True)]
                if legs == 1000:
                    variants.append(("engine-no-inband-dtmf", False, False))
                for name, srtp, inband in variants:
                    with engine_target(name, loadgen, tmp, legs, srtp=srtp, inband=inband) as t:
                        results.append(compare(t, base, legs, rate, seconds, repeats))
                        if legs == 1000 and name == "engine":
                            extra = load_and_overload(t.gen, rate)
        if shutil.which("rtpengine"):
            for legs in (1000,) if args.quick else (100, 1000):
                with (
                    rtpengine_target(loadgen, tmp, legs) as ref,
                    relay_only_target(loadgen, tmp, legs) as ours,
                ):
                    vs_rtpengine.append(compare(ours, ref, legs, rate, seconds, repeats))
                    if legs == 1000 and not args.quick:
                        rtpengine_overload = load_and_overload(ref.gen, rate)
    for r in results:
        print(
            f"{r.target:21} legs={r.legs:4} offered={r.offered_pps:6.0f} pps "
            f"cpu={r.cpu_us_per_packet:6.2f} us/pkt floor={r.floor_cpu_us_per_packet:6.2f} "
            f"ratio_vs_floor={r.ratio_vs_floor:.3f} loss={r.loss:.4f} fork={r.fork_ratio:.3f} "
            f"p99={r.p99_latency_us:.0f} us"
        )
    for r in vs_rtpengine:
        print(
            f"{r.target:21} legs={r.legs:4} cpu={r.cpu_us_per_packet:6.2f} us/pkt "
            f"rtpengine={r.floor_cpu_us_per_packet:6.2f} us/pkt "
            f"ratio_vs_rtpengine={r.ratio_vs_floor:.3f} loss={r.loss:.4f}"
        )
    for key, value in extra.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    for key, value in rtpengine_overload.items():
        print(f"rtpengine {key}: {value:.4g}")

    def pick(target: str, legs: int) -> Result:
        return next(r for r in results if (r.target, r.legs) == (target, legs))

    plain, secure = pick("engine", 1000), pick("engine+srtp", 1000)
    summary = {
        "pps": round(1e6 / plain.cpu_us_per_packet),
        "ratio_vs_floor": round(plain.ratio_vs_floor, 3),
        "ratio_vs_rtpengine": next(
            (round(r.ratio_vs_floor, 3) for r in vs_rtpengine if r.legs == 1000), None
        ),
        "rtpengine_streams_recovered_ratio": rtpengine_overload.get("streams_recovered_ratio"),
        # each against the floor of its own time windows, so machine-load drift cancels
        "srtp_cost_ratio": round(plain.ratio_vs_floor / secure.ratio_vs_floor, 3),
        "p99_latency_us": extra.get("half_load_p99_latency_us"),
        "max_pps": round(extra["max_pps"]),
        "streams_recovered_ratio": extra.get("streams_recovered_ratio"),
        "results": [asdict(r) for r in results],
        "vs_rtpengine": [asdict(r) for r in vs_rtpengine],
    }
    print(json.dumps(summary))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
