"""Shared helpers for the media engine tests: RTP/RTCP builders and parsers, UDP peers on
loopback, per-test port ranges, and a pcap writer so tshark can analyse what a peer received."""

from __future__ import annotations

import itertools
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from src_client.media import Engine

# Engines in these tests take ports from 6000..7979, 60 per engine: below Linux's ephemeral
# range (so peer sockets bound to port 0 never collide) and away from the ranges the other test
# suites and the benchmark use (10000-32767, 40000+).
_slices = itertools.count()


@contextmanager
def engine(**kwargs: float | str) -> Iterator[Engine]:
    base = 6000 + 60 * (next(_slices) % 33)
    eng = Engine("127.0.0.1", base, base + 59, **kwargs)  # type: ignore[arg-type]
    try:
        yield eng
    finally:
        eng.close()


def rtp(
    seq: int,
    ts: int,
    ssrc: int,
    payload: bytes = b"\xff" * 160,
    pt: int = 0,
    marker: bool = False,
) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


@dataclass(frozen=True)
class Rtp:
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> Rtp:
    """Strict parse of what the engine's forks emit: a bare 12-octet header."""
    assert len(data) >= 12 and data[0] == 0x80, data[:4].hex()
    _, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    assert not 192 <= b1 <= 223
    return Rtp(b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[12:])


def rtcp_packets(data: bytes) -> list[tuple[int, bytes]]:
    """Splits a compound RTCP packet into (packet type, packet) pairs, checking the lengths."""
    out = []
    while data:
        assert len(data) >= 4 and data[0] >> 6 == 2
        length = (struct.unpack("!H", data[2:4])[0] + 1) * 4
        assert length <= len(data)
        out.append((data[1], data[:length]))
        data = data[length:]
    return out


def sender_report(
    data: bytes,
) -> tuple[int, float, int, int, int]:
    """(ssrc, NTP time as Unix seconds, RTP timestamp, packet count, octet count)"""
    ssrc, sec, frac, rtp_ts, packets, octets = struct.unpack("!IIIIII", data[4:28])
    return ssrc, sec - 2208988800 + frac / 2**32, rtp_ts, packets, octets


class Peer:
    """A UDP socket on loopback playing a phone, a remote party or an SRS."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        """With ``host`` another 127/8 address, a third party on another IP."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((host, port))
        self.address: tuple[str, int] = self.sock.getsockname()

    @property
    def port(self) -> int:
        return self.address[1]

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def recv(self, timeout: float = 2.0) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            return None

    def collect(self, count: int, timeout: float = 3.0) -> list[tuple[float, bytes]]:
        """Up to ``count`` datagrams with their arrival time, stopping after ``timeout`` s."""
        out: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            data = self.recv(left)
            if data is None:
                break
            out.append((time.time(), data))
        return out

    def drain(self, quiet: float = 0.2) -> list[bytes]:
        """Everything that arrives until the socket has been quiet for ``quiet`` seconds."""
        out = []
        while (data := self.recv(quiet)) is not None:
            out.append(data)
        return out

    def close(self) -> None:
        self.sock.close()


@contextmanager
def peers(n: int) -> Iterator[list[Peer]]:
    ps = [Peer() for _ in range(n)]
    try:
        yield ps
    finally:
        for p in ps:
            p.close()


def wait_for(predicate: object, timeout: float = 2.0) -> bool:
    """Polls ``predicate()`` until true (the engine works on its own threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return bool(predicate())  # type: ignore[operator]


def write_pcap(
    path: Path, packets: list[tuple[float, bytes]], src: tuple[str, int], dst: tuple[str, int]
) -> None:
    """Wraps received UDP payloads in IPv4/UDP headers (LINKTYPE_RAW) for tshark."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for t, payload in packets:
            udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                0,
                0,
                64,
                17,
                0,
                socket.inet_aton(src[0]),
                socket.inet_aton(dst[0]),
            )
            frame = ip + udp
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)))
            f.write(frame)


@dataclass(frozen=True)
class TsharkStream:
    ssrc: int
    payload: str
    packets: int
    lost: int
    problem: bool


def tshark_rtp_streams(pcap: Path, port: int) -> list[TsharkStream]:
    """Runs ``tshark -z rtp,streams`` with UDP ``port`` decoded as RTP."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-q", "-d", f"udp.port=={port},rtp", "-z", "rtp,streams"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    streams = []
    for line in out.splitlines():
        fields = line.split()
        # Start End SrcIP SrcPort DstIP DstPort SSRC Payload... Pkts Lost (x%) ... Problems?
        hexes = [i for i, f in enumerate(fields) if f.startswith("0x")]
        if not hexes:
            continue
        idx = hexes[0] + 1
        payload = []
        while not fields[idx].isdigit():
            payload.append(fields[idx])
            idx += 1
        streams.append(
            TsharkStream(
                ssrc=int(fields[hexes[0]], 16),
                payload=" ".join(payload),
                packets=int(fields[idx]),
                lost=int(fields[idx + 1]),
                problem=fields[-1] == "X",
            )
        )
    return streams
