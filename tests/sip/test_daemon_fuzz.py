"""Seeded mutation fuzzing of the running daemon (``src-client serve``) over UDP and TCP.

Mutated SIP (message_fuzz.mutate) goes to the daemon's listeners; afterwards the daemon
must still be up and answer OPTIONS, its RSS must not have grown beyond a bound, its log
must hold no traceback and no error, and must not have grown with the flood (refusals are
summarised per source and interval). Bounded by count and time; ``SRC_FUZZ_MESSAGES``
raises the count and ``SRC_FUZZ_SEED`` replays a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from message_fuzz import mutate

MESSAGES = int(os.environ.get("SRC_FUZZ_MESSAGES", "300"))  # per transport
SEED = int(os.environ.get("SRC_FUZZ_SEED", "4475"))
TIME_LIMIT = 30.0  # seconds per transport, whatever MESSAGES says
RSS_GROWTH_LIMIT = 32 << 20  # bytes
LOG_LINES_LIMIT = 30  # start-up and shutdown take 5; refusals are summarised


def _free_port(kind: int) -> int:
    """A port free for both UDP and TCP when ``kind`` is 0 (the SIP listeners share it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            if kind:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def seeds(transport: str, port: int) -> list[bytes]:
    """Valid requests of every kind the daemon meets, answering to our own socket."""
    via = f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{port};rport;branch=z9hG4bKfz"
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")  # fmt: skip
    common = ("From: \"Fuzz\" <sip:fuzz@127.0.0.1>;tag=f1\r\nTo: <sip:100@127.0.0.1>{to_tag}\r\n"
              "Call-ID: fuzz-{method}@127.0.0.1\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\n"
              "Contact: <sip:fuzz@127.0.0.1:{port};transport={transport}>\r\n")  # fmt: skip
    out = []
    for method, to_tag, body in (("OPTIONS", "", b""), ("INVITE", "", sdp),
                                 ("BYE", ";tag=t9", b""), ("REGISTER", "", b""),
                                 ("ACK", ";tag=t9", b""), ("CANCEL", "", b""),
                                 ("UPDATE", ";tag=t9", sdp), ("MESSAGE", "", b"hi")):  # fmt: skip
        head = (f"{method} sip:100@127.0.0.1 SIP/2.0\r\n{via}{method[:2]}\r\n"
                + common.format(method=method, to_tag=to_tag, port=port, transport=transport)
                + ("Content-Type: application/sdp\r\n" if body == sdp else "")
                + f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
        out.append(head.encode() + body)
    return out


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    port: int
    api: int
    log: Path

    def refused(self) -> int:
        """The sum of src_client_sip_refused_total over its labels, from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("src_client_sip_refused_total{"))  # fmt: skip

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    port, api = _free_port(0), _free_port(socket.SOCK_STREAM)
    config = tmp_path / "fuzz.toml"
    config.write_text(
        "[sip]\n"
        f'listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]\n'
        "[media]\nport_min = 9600\nport_max = 9699\n"
        f'[api]\nlisten = "127.0.0.1:{api}"\n'
        f'[store]\npath = "{tmp_path / "state.db"}"\n'
    )
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "src_client.cli", "serve", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while b"api listening" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.1)
        yield Daemon(process, port, api, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.asynccontextmanager
async def udp_socket(port: int) -> AsyncIterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.connect(("127.0.0.1", port))
    try:
        yield sock
    finally:
        sock.close()


async def fuzz_udp(daemon: Daemon, rng: random.Random) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIME_LIMIT
    async with udp_socket(daemon.port) as sock:
        base = seeds("udp", sock.getsockname()[1])
        for sent in range(MESSAGES):
            if loop.time() > deadline:
                return sent
            with contextlib.suppress(OSError):  # ICMP from an earlier datagram
                await loop.sock_sendall(sock, mutate(rng.choice(base), rng))
            with contextlib.suppress(OSError):
                while sock.recv(65535):  # drain answers so our buffer never fills
                    pass
            if sent % 20 == 0:
                await asyncio.sleep(0.01)  # let the daemon's loop breathe, like a real peer
    return MESSAGES


async def fuzz_tcp(daemon: Daemon, rng: random.Random) -> int:
    """Mutated messages over connections the daemon closes when framing is lost; each
    connection is reopened, and some are reset rather than closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIME_LIMIT
    sock: socket.socket | None = None
    base: list[bytes] = []
    sent = 0
    while sent < MESSAGES and loop.time() < deadline:
        sent += 1
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", daemon.port))
                base = seeds("tcp", sock.getsockname()[1])
            await asyncio.wait_for(loop.sock_sendall(sock, mutate(rng.choice(base), rng)), 1.0)
            with contextlib.suppress(TimeoutError):
                if not await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.005):
                    raise ConnectionResetError  # the daemon closed it: framing was lost
        except (OSError, TimeoutError):
            sock = _close(sock)
            continue
        if rng.random() < 0.05:  # an abrupt end: RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock = _close(sock)
    _close(sock)
    return sent


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()


async def options_status(daemon: Daemon) -> int:
    """Status of a clean OPTIONS over UDP (retried: the rate limit may still hold us)."""
    loop = asyncio.get_running_loop()
    async with udp_socket(daemon.port) as sock:
        request = seeds("udp", sock.getsockname()[1])[0].replace(b"z9hG4bKfz", b"z9hG4bKok")
        status = 0
        for _ in range(10):
            await loop.sock_sendall(sock, request)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(loop.sock_recv(sock, 65535), 1.0)
                status = int(answer.split(b" ", 2)[1])
                if status == 200:
                    return status
            await asyncio.sleep(0.5)
        return status


async def test_daemon_survives_mutated_sip(daemon: Daemon) -> None:
    assert await options_status(daemon) == 200
    rss_before = daemon.rss()
    rng = random.Random(SEED)
    sent = await fuzz_udp(daemon, rng) + await fuzz_tcp(daemon, rng)
    assert sent >= min(MESSAGES, 50)
    assert daemon.process.poll() is None, daemon.log.read_text()
    assert await options_status(daemon) == 200
    assert await asyncio.to_thread(daemon.refused) > sent // 10  # counted, if not logged
    growth = daemon.rss() - rss_before
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth >> 20} MiB"
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0
    log = daemon.log.read_text()
    assert "Traceback" not in log, log
    assert '"level": "error"' not in log.lower() and "ERROR" not in log, log
    assert len(log.splitlines()) < LOG_LINES_LIMIT, log
