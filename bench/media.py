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
import subprocess
import sys
import tempfile
import time
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    srtp: bool
    offered_pps: float
    cpu_us_per_packet: float  # CPU of the forwarder per packet received
    pps_per_core: float
    loss: float  # relay packets lost at the offered rate
    fork_ratio: float  # fork copies received / packets sent
    p99_latency_us: float


def measure(
    target: str, legs: int, srtp: bool, gen: LoadGen, cpu: Any, rate: float, seconds: float
) -> Result:
    gen.run(min(rate, 20000), 0.4)  # warm-up: every leg latches its source
    before = cpu()
    r = gen.run(rate, seconds)
    used = cpu() - before
    sent = r["sent"]
    return Result(
        target,
        legs,
        srtp,
        sent / r["elapsed"],
        used / sent * 1e6,
        sent / used if used else float("inf"),
        1 - r["relay_rx"] / sent,
        r["fork_rx"] / sent,
        r["p99_us"],
    )


def engine_setup(legs: int, srtp: bool, sink: int) -> tuple[Engine, list[int]]:
    eng = Engine("127.0.0.1", 10000, 26999, workers=1, media_timeout=0)
    all_legs = [eng.allocate_leg() for _ in range(legs)]
    for a, b in zip(all_legs[::2], all_legs[1::2], strict=True):
        eng.relay(a, b)
        for leg in (a, b):
            params = SrtpParams("AES_CM_128_HMAC_SHA1_80", os.urandom(16), os.urandom(14))
            eng.add_fork(
                leg, "inbound", destination=("127.0.0.1", sink), srtp=params if srtp else None
            )
    return eng, [leg.local_address[1] for leg in all_legs]


def bench_engine(
    loadgen: Path, tmp: Path, legs: int, srtp: bool, rate: float, seconds: float
) -> tuple[Result, dict[str, Any]]:
    sink = free_port()
    eng, ports = engine_setup(legs, srtp, sink)
    gen = LoadGen(loadgen, ports, sink, tmp)
    try:
        result = measure("engine", legs, srtp, gen, time.process_time, rate, seconds)
        extra: dict[str, Any] = {}
        if legs == 1000 and not srtp:
            extra = overload(gen, result, rate)
        return result, extra
    finally:
        gen.close()
        eng.close()


def bench_floor(
    floor: Path, loadgen: Path, tmp: Path, legs: int, rate: float, seconds: float
) -> Result:
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
        return measure("floor", legs, False, gen, lambda: proc_cpu(proc.pid), rate, seconds)
    finally:
        gen.close()
        proc.stdin.close()
        proc.wait(5)


def overload(gen: LoadGen, base: Result, rate: float) -> dict[str, Any]:
    """Latency at half of the engine's one-core capacity (as far as the load generator can
    offer it), then a burst as fast as the generator can send (above the engine's capacity
    on this machine), then the normal rate again: how many streams are forwarded again."""
    half = gen.run(min(base.pps_per_core / 2, 4 * rate), 1.0)
    burst = gen.run(0, 2.0)
    after = gen.run(rate, 1.0)
    return {
        "half_load_offered_pps": half["sent"] / half["elapsed"],
        "half_load_loss": 1 - half["relay_rx"] / half["sent"],
        "half_load_p99_latency_us": half["p99_us"],
        "burst_offered_pps": burst["sent"] / burst["elapsed"],
        "burst_loss": 1 - burst["relay_rx"] / max(burst["sent"], 1),
        "streams_recovered_ratio": after["streams_ok"] / after["streams"],
        "after_burst_loss": 1 - after["relay_rx"] / after["sent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = (100, 1000) if args.quick else (100, 1000, 4000)
    seconds = 1.0 if args.quick else 2.0
    rate = 20000.0 if args.quick else 40000.0
    results: list[Result] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        floor, loadgen = build(tmp)
        for legs in sizes:
            results.append(bench_floor(floor, loadgen, tmp, legs, rate, seconds))
            for srtp in (False, True):
                result, more = bench_engine(loadgen, tmp, legs, srtp, rate, seconds)
                results.append(result)
                extra.update(more)
    for r in results:
        print(
            f"{r.target:7} legs={r.legs:5} srtp={r.srtp!s:5} offered={r.offered_pps:8.0f} pps "
            f"cpu={r.cpu_us_per_packet:6.2f} us/pkt ({r.pps_per_core:8.0f} pps/core) "
            f"loss={r.loss:.4f} fork={r.fork_ratio:.3f} p99={r.p99_latency_us:.0f} us"
        )
    for key, value in extra.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")

    def pick(target: str, legs: int, srtp: bool) -> Result:
        return next(r for r in results if (r.target, r.legs, r.srtp) == (target, legs, srtp))

    plain, secure, base = pick("engine", 1000, False), pick("engine", 1000, True), pick(
        "floor", 1000, False
    )
    summary = {
        "pps": round(plain.pps_per_core),
        "ratio_vs_floor": round(plain.pps_per_core / base.pps_per_core, 3),
        "ratio_vs_rtpengine": None,
        "rtpengine": "not installed" if shutil.which("rtpengine") is None else "not measured",
        "srtp_cost_ratio": round(secure.cpu_us_per_packet / plain.cpu_us_per_packet, 3),
        "p99_latency_us": extra.get("half_load_p99_latency_us"),
        "streams_recovered_ratio": extra.get("streams_recovered_ratio"),
        "results": [asdict(r) for r in results],
    }
    print(json.dumps(summary))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
