"""The shipped commands as users run them: ``src-client serve`` and ``src-client srs`` in their
own processes, on their own loop (uvloop), with a generated TOML configuration.

Fault tests start these, then kill, block or starve them for real (SIGKILL, SIGSTOP, a port
nobody listens on) and check what the daemon promises in ``docs/reliability.md``. The peers
that are not ours to fault (caller, callee, callback receiver) run in the test's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

SRC_CLIENT = [sys.executable, "-m", "src_client.cli"]
ACCOUNT = "AC0000000000000000000000000000feed"
TOKEN = "shipped-test-token-0123456789"


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP (SIP listens on both with one number)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
            with socket.socket(socket.AF_INET, other) as second:
                try:
                    second.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port free for both UDP and TCP")


def toml_value(value: object) -> str:
    """The few TOML value forms our configs use (strings, numbers, booleans, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_document(tables: Mapping[str, Mapping[str, object]],
                  arrays: Mapping[str, Iterable[Mapping[str, object]]] = ()) -> str:
    """``[table]`` sections and ``[[array]]`` entries, in that order."""
    lines: list[str] = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
    for name, entries in dict(arrays).items():
        for entry in entries:
            lines.append(f"[[{name}]]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in entry.items())
    return "\n".join(lines) + "\n"


@dataclass
class Command:
    """One ``src-client`` subprocess; its stdout lines are collected as they come."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._arrived.set()
        self._arrived.set()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (``serve`` logs one object per line)."""
        out = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    async def wait_line(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if not self.running and self._reader is not None and self._reader.done():
                raise AssertionError(f"{self.argv[3:5]} exited; output:\n" + self.output())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"line not seen in {timeout} s; output:\n" + self.output())
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))

    def output(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def tracebacks(self) -> list[str]:
        return [line for line in self.lines if "Traceback" in line or '"exc":' in line]

    def send_signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    async def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed (a crash or a power cut)."""
        if self.running:
            self.send_signal(signal.SIGKILL)
            await self.wait()

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops a service; SIGKILL after ``timeout``."""
        if not self.running:
            assert self.process is not None and self.process.returncode is not None
            return self.process.returncode
        self.send_signal(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            await self.kill()
            raise

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@dataclass
class Serve:
    """``src-client serve`` on loopback with free ports; :meth:`config` holds its TOML tables."""

    work: Path
    sip_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    media_ports: tuple[int, int] = (30000, 30999)
    tables: dict[str, dict[str, object]] = field(default_factory=dict)
    accounts: list[dict[str, object]] = field(default_factory=list)
    routes: list[dict[str, object]] = field(default_factory=list)
    command: Command | None = None

    def __post_init__(self) -> None:
        self.tables.setdefault("sip", {
            "listen": [f"udp:127.0.0.1:{self.sip_port}", f"tcp:127.0.0.1:{self.sip_port}"],
        })
        self.tables.setdefault("media", {"port_min": self.media_ports[0],
                                         "port_max": self.media_ports[1]})
        self.tables.setdefault("api", {"listen": f"127.0.0.1:{self.api_port}"})
        self.tables.setdefault("store", {"path": str(self.work / "var" / "state.db")})
        self.tables.setdefault("logging", {"level": "info", "format": "json"})
        if not self.accounts:
            self.accounts.append({"sid": ACCOUNT, "auth_token": TOKEN})

    def connector(self, name: str, srs: str, **settings: object) -> None:
        self.tables[f"connectors.{name}"] = {"srs": srs, **settings}

    def route(self, twiml: str, number: str = "*") -> None:
        self.routes.append({"number": number, "account": ACCOUNT, "twiml": twiml})

    @property
    def config_path(self) -> Path:
        return self.work / "src-client.toml"

    def write_config(self) -> Path:
        self.work.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            toml_document(self.tables, {"accounts": self.accounts, "routes": self.routes}))
        return self.config_path

    async def start(self) -> Command:
        """Start (or restart on the same store and ports) and wait until the API listens."""
        self.write_config()
        self.command = Command([*SRC_CLIENT, "serve", "--config", str(self.config_path)])
        await self.command.start()
        await self.command.wait_line(lambda line: '"api listening"' in line, timeout=30)
        return self.command

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sip_uri(self) -> str:
        return f"sip:{{user}}@127.0.0.1:{self.sip_port}"


@dataclass
class Srs:
    """``src-client srs`` (the bundled SRS) with its command-line options."""

    work: Path
    port: int = field(default_factory=free_port)
    transports: tuple[str, ...] = ("udp", "tcp")
    options: tuple[str, ...] = ()
    command: Command | None = None

    @property
    def out(self) -> Path:
        return self.work / "recordings"

    def uri(self, transport: str | None = None) -> str:
        suffix = f";transport={transport}" if transport else ""
        return f"sip:srs@127.0.0.1:{self.port}{suffix}"

    async def start(self) -> Command:
        listen = [arg for t in self.transports
                  for arg in ("--listen", f"{t}:127.0.0.1:{self.port}")]
        self.command = Command([*SRC_CLIENT, "srs", *listen, "--out", str(self.out),
                                *self.options])
        await self.command.start()
        await self.command.wait_line(lambda line: "srs writing recordings" in line)
        return self.command

    def summaries(self) -> list[dict[str, Any]]:
        """summary.json of every recording the SRS finished writing."""
        return [json.loads(p.read_text()) for p in sorted(self.out.glob("*/summary.json"))]


@dataclass
class CallbackSink:
    """Receives status callbacks (form posts) in the test's process."""

    received: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            self.received.append({k: str(v) for k, v in (await request.post()).items()})
            self._arrived.set()
            return web.Response(text="")

        app = web.Application()
        app.router.add_post("/status", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/status"

    def events(self, siprec_sid: str | None = None) -> list[str]:
        return [p["SiprecEvent"] for p in self.received
                if "SiprecEvent" in p and (siprec_sid is None or p.get("SiprecSid") == siprec_sid)]

    async def wait_for(self, predicate: Callable[[list[dict[str, str]]], bool],
                       timeout: float = 15.0) -> None:
        async def seen() -> None:
            while not predicate(self.received):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(seen(), timeout)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
