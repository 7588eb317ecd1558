"""Full INVITE/200/ACK/BYE/200 cycles through the whole stack, for an instruction count.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/_sip_instructions.py CALLS

Timing on a shared machine moves by tens of percent from one minute to the next; the number
of instructions executed does not. Run it twice (e.g. 200 and 1,200 calls) and divide the
difference of the two totals ("Collected" in valgrind's summary) by the difference in calls:
instructions per call for the endpoint, transports, uvloop and the kernel boundary, without
start-up. 10 calls in flight (not 100) so that SIPp never retransmits while valgrind slows us
50-fold. ``SRC_CLIENT_INTERPRETED=1`` measures the sources instead of the compiled SIP core.
Not part of ``make bench`` (its name starts with ``_``).
"""

from __future__ import annotations

import argparse
import time

from sip_setup import SIPP_BUFFER, Caller

from src_client import eventloop, sip
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sipp import SippRun

IN_FLIGHT = 10
TIME_LIMIT = 900.0  # seconds: valgrind is slow, but every run is still bounded


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("calls", type=int)
    args = parser.parse_args()
    endpoint = await SipEndpoint.create(SipConfig(), listen=[("udp", "127.0.0.1", 0)])
    try:
        async with SippRun("uas_bench.xml", calls=args.calls, timeout=TIME_LIMIT,
                           extra=SIPP_BUFFER) as server:  # fmt: skip
            caller = Caller(endpoint, server.port, in_flight=IN_FLIGHT)
            done = await caller.run(args.calls, time.monotonic() + TIME_LIMIT)
            await server.wait()
    finally:
        await endpoint.close()
    if done != args.calls or caller.failures:
        raise SystemExit(f"{done}/{args.calls} calls, {caller.failures} failed")
    print(f"{done} calls, SIP core {sip.MODE}")


if __name__ == "__main__":
    eventloop.run(main())
