"""Running SIPp (the reference SIP traffic generator) as a peer: interop tests, demo, benchmark.

Each run is bounded (``-m`` calls, ``-timeout`` seconds, and a hard kill after that), binds
127.0.0.1 only, writes its error and statistics files into a private directory, and is judged
by SIPp's own verdict: its exit code and the cumulative counters of its ``-trace_stat`` CSV.
The scenarios live in ``configs/sipp/`` and check what they receive with regular expressions
(``<ereg check_it="true">``), so a protocol violation by our stack fails SIPp's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "SCENARIO_DIR",
    "SippError",
    "SippResult",
    "SippRun",
    "free_port",
    "run_sync",
    "sipp_available",
]

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "configs" / "sipp"
_TRANSPORTS = {"udp": "u1", "tcp": "t1"}


class SippError(Exception):
    """SIPp could not be started or did not come up."""


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP right now (SIPp binds both for -t t1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise SippError("no free port found")


def _free_media_port(host: str) -> int:
    """SIPp binds its RTP echo port and that port + 2 (video): both must be free."""
    for _ in range(50):
        port = free_port(host)
        if port % 2 or port > 65533:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as video:
            try:
                video.bind((host, port + 2))
            except OSError:
                continue
        return port
    raise SippError("no free media port pair found")


@dataclass(slots=True)
class SippResult:
    """SIPp's verdict on a run."""

    returncode: int
    stats: dict[str, str]
    errors: str
    screen: str
    elapsed: float

    def counter(self, name: str) -> int:
        """A cumulative counter, e.g. ``counter("SuccessfulCall")``."""
        value = self.stats.get(f"{name}(C)", "0")
        return int(float(value)) if value else 0

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall")

    @property
    def retransmissions(self) -> int:
        return self.counter("Retransmissions")

    def summary(self, max_errors: int = 2000) -> str:
        """One line of counters, then the start of SIPp's error log (it can be huge)."""
        errors = self.errors.strip()
        if len(errors) > max_errors:
            errors = errors[:max_errors] + f"... ({len(errors) - max_errors} more characters)"
        return (
            f"sipp exit {self.returncode}: {self.successful} successful, {self.failed} failed, "
            f"{self.retransmissions} retransmissions in {self.elapsed:.2f}s"
            + (f"\n{errors}" if errors else "")
        )


@dataclass
class SippRun:
    """One SIPp process.  ``remote`` given => SIPp is the UAC calling it, else it is the UAS.

    Use as ``async with SippRun(...) as sipp: ...; result = await sipp.wait()``.
    """

    scenario: str
    transport: str = "udp"
    calls: int = 1
    remote: tuple[str, int] | None = None
    port: int = 0
    rate: float | None = None
    rate_period_ms: int | None = None
    limit: int | None = None
    timeout: float = 15.0
    keys: Mapping[str, str] = field(default_factory=dict)
    extra: Sequence[str] = ()
    cpu: int | None = None
    host: str = "127.0.0.1"
    _proc: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _dir: Path | None = field(default=None, init=False, repr=False)
    _started: float = field(default=0.0, init=False, repr=False)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def command(self) -> list[str]:
        scenario = Path(self.scenario)
        if not scenario.is_absolute():
            scenario = SCENARIO_DIR / scenario
        assert self._dir is not None
        cmd = [
            "sipp", "-sf", str(scenario), "-i", self.host, "-p", str(self.port),
            "-mp", str(_free_media_port(self.host)), "-cp", str(free_port(self.host)),
            "-t", _TRANSPORTS[self.transport], "-m", str(self.calls),
            "-timeout", f"{self.timeout:g}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(self._dir / "errors.log"),
            "-trace_stat", "-stf", str(self._dir / "stats.csv"),
            "-trace_screen", "-screen_file", str(self._dir / "screen.txt"),
        ]  # fmt: skip
        if self.rate is not None:
            cmd += ["-r", f"{self.rate:g}"]
        if self.rate_period_ms is not None:
            cmd += ["-rp", str(self.rate_period_ms)]
        if self.limit is not None:
            cmd += ["-l", str(self.limit)]
        for key, value in self.keys.items():
            cmd += ["-key", key, value]
        cmd += list(self.extra)
        if self.remote is not None:
            cmd.append(f"{self.remote[0]}:{self.remote[1]}")
        if self.cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        return cmd

    async def start(self) -> None:
        """Start SIPp; a port we picked ourselves may be taken by someone else between the
        check and SIPp's bind, so a server that does not come up gets two more fresh ports."""
        if not sipp_available():
            raise SippError("sipp is not installed (Debian package sip-tester)")
        chosen = self.port == 0
        for attempt in range(3 if chosen else 1):
            if chosen:
                self.port = free_port(self.host)
            try:
                await self._spawn()
                return
            except SippError:
                if attempt == 2 or not chosen:
                    raise

    async def _spawn(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="sipp-"))
        self._started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(),
            cwd=self._dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TERM": os.environ.get("TERM", "dumb")},  # SIPp uses curses
        )
        if self.remote is None:
            await self._wait_listening()

    async def _wait_listening(self) -> None:
        """Return once SIPp's SIP socket is bound, so a UAC never races its start-up."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if _port_bound(self.port, self.transport):
                return
            assert self._proc is not None
            if self._proc.returncode is not None:
                break
            await asyncio.sleep(0.02)
        result = await self.wait(grace=1.0)
        raise SippError(f"sipp did not start listening on {self.port}: {result.summary()}")

    async def wait(self, grace: float | None = None) -> SippResult:
        """Wait for SIPp to finish (killed ``grace`` seconds after its own -timeout)."""
        assert self._proc is not None and self._dir is not None
        limit = self.timeout + 5.0 if grace is None else grace
        stderr = b""
        try:
            _, stderr = await asyncio.wait_for(self._proc.communicate(), limit)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        elapsed = time.monotonic() - self._started
        returncode = self._proc.returncode if self._proc.returncode is not None else -9
        errors = _read(self._dir / "errors.log")
        if returncode != 0:
            errors += stderr.decode("utf-8", "replace")
        result = SippResult(
            returncode=returncode,
            stats=_last_stats(self._dir / "stats.csv"),
            errors=errors,
            screen=_read(self._dir / "screen.txt"),
            elapsed=elapsed,
        )
        shutil.rmtree(self._dir, ignore_errors=True)
        return result

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    async def __aenter__(self) -> SippRun:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _port_bound(port: int, transport: str) -> bool:
    tables = ("/proc/net/udp", "/proc/net/udp6") if transport == "udp" else (
        "/proc/net/tcp", "/proc/net/tcp6")
    needle = f":{port:04X} "
    for table in tables:
        with contextlib.suppress(OSError), open(table, encoding="ascii") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 3 and (fields[1] + " ").endswith(needle) and (
                    transport == "udp" or fields[3] == "0A"
                ):
                    return True
    return False


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def _last_stats(path: Path) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def run_sync(run: SippRun) -> SippResult:
    """Run SIPp to completion outside an event loop (sipp-to-sipp checks)."""

    async def main() -> SippResult:
        async with run:
            return await run.wait()

    return asyncio.run(main())

