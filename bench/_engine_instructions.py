"""A fixed relay + fork scenario through the media engine, for an instruction count.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect=worker_main \\
        .venv/bin/python bench/_engine_instructions.py ROUNDS

10 relayed calls (20 legs, each signalled at its phone's address), a fork on each leg's
inbound side toward one sink, and ROUNDS rounds of one 172-byte PCMU packet per leg, each
round sent once the previous one was received. Only the worker thread is counted. Run it
twice (e.g. 200 and 1,200 rounds) and divide the difference of the two totals ("Collected")
by the difference in packets in (20 per round): instructions per packet without start-up.
``--no-forks`` measures the relay alone. Not part of ``make bench`` (its name starts with
``_``).
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import time

from src_client.media import Engine, Leg

CALLS = 10
PORTS = (43000, 43999)
TIME_LIMIT = 600.0  # seconds: valgrind is slow, but every run is still bounded


def phone() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    return sock


def received(legs: list[Leg]) -> int:
    return sum(leg.stats().packets_in for leg in legs)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("rounds", type=int)
    parser.add_argument("--no-forks", action="store_true")
    args = parser.parse_args()
    payload = random.Random(1).randbytes(160)
    sink = phone()
    phones = [phone() for _ in range(2 * CALLS)]
    deadline = time.monotonic() + TIME_LIMIT
    with Engine("127.0.0.1", *PORTS, workers=1, media_timeout=0) as eng:
        legs = [eng.allocate_leg() for _ in phones]
        for leg, sock in zip(legs, phones, strict=True):
            leg.set_remote(*sock.getsockname())
            if not args.no_forks:
                eng.add_fork(leg, "inbound", destination=sink.getsockname())
        for a, b in zip(legs[::2], legs[1::2], strict=True):
            eng.relay(a, b)
        for n in range(args.rounds):
            header = struct.pack("!BBHI", 0x80, 0, n & 0xFFFF, n * 160)
            for i, (leg, sock) in enumerate(zip(legs, phones, strict=True)):
                sock.sendto(header + struct.pack("!I", 0x1000 + i) + payload, leg.local_address)
            while received(legs) < (n + 1) * len(legs):
                if time.monotonic() > deadline:
                    raise SystemExit(f"round {n}: packets lost")
                time.sleep(0.001)
    print(f"{args.rounds} rounds, {args.rounds * len(legs)} packets in")


if __name__ == "__main__":
    main()
