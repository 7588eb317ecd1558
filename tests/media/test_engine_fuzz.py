"""Random and mutated datagrams thrown at a leg: the engine keeps running, counts what is not
RTP/RTCP, and the fork only ever emits well-formed RTP carrying the valid packets' payloads."""

from __future__ import annotations

import itertools
import random

from media_helpers import engine, parse_rtp, peers, rtp, wait_for


def rfc3550_valid(d: bytes) -> bool:
    """RFC 3550 §5.1/A.1 header checks, plus RFC 5761 §4 (RTCP types are not RTP)."""
    if len(d) < 12 or d[0] >> 6 != 2 or 192 <= d[1] <= 223:
        return False
    hdr = 12 + 4 * (d[0] & 0x0F)
    if hdr > len(d):
        return False
    if d[0] & 0x10:
        if hdr + 4 > len(d):
            return False
        hdr += 4 + 4 * int.from_bytes(d[hdr + 2 : hdr + 4], "big")
        if hdr > len(d):
            return False
    return not (d[0] & 0x20 and not 0 < d[-1] <= len(d) - hdr)


def payload(d: bytes) -> bytes:
    hdr = 12 + 4 * (d[0] & 0x0F)
    if d[0] & 0x10:
        hdr += 4 + 4 * int.from_bytes(d[hdr + 2 : hdr + 4], "big")
    return d[hdr : len(d) - (d[-1] if d[0] & 0x20 else 0)]


def seeds(rng: random.Random) -> list[bytes]:
    base = rtp(1, 160, 0xF00D, bytes(rng.randrange(256) for _ in range(40)))
    csrc = bytes([0x82]) + base[1:12] + b"\x00\x00\x00\x01\x00\x00\x00\x02" + base[12:]
    ext = bytes([0x90]) + base[1:12] + b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + base[12:]
    pad = bytes([0xA0]) + base[1:] + b"\x00\x00\x03"
    return [base, csrc, ext, pad]


def mutate(rng: random.Random, d: bytes) -> bytes:
    b = bytearray(d)
    op = rng.randrange(4)
    if op == 0:
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        del b[rng.randrange(len(b)) :]
    elif op == 2:
        b[rng.randrange(min(len(b), 16))] = rng.randrange(256)
    else:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return bytes(b)


def test_fuzzed_packets_never_crash_nor_reach_the_fork_malformed() -> None:
    rng = random.Random(20261124)
    corpus = seeds(rng)
    datagrams = []
    for i in range(3000):
        kind = i % 3
        if kind == 0:
            datagrams.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
        else:
            datagrams.append(mutate(rng, rng.choice(corpus)))
    datagrams += [b"\x80" * 3000, b""]  # valid RTP but over the 2048-byte buffer; empty
    valid = [d for d in datagrams if rfc3550_valid(d) and len(d) <= 2048]
    forwarded = [payload(d) for d in valid if d[1] & 0x7F != 101]
    assert 300 < len(valid) < len(datagrams) - 1000  # both sides are well exercised
    with engine(media_timeout=0) as eng, peers(3) as (attacker, pb, srs):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*attacker.address)  # the fuzzer plays the signalled party
        b.set_remote(*pb.address)
        eng.relay(a, b)
        fork = eng.add_fork(
            a, "inbound", destination=srs.address, drop_payload_types=[101], inband_dtmf=False
        )
        rtcp_addr = ("127.0.0.1", a.local_rtcp_port)
        received: list[bytes] = []
        for start in range(0, len(datagrams), 100):
            chunk = datagrams[start : start + 100]
            for d in chunk:
                attacker.send(d, a.local_address)
                attacker.send(d, rtcp_addr)
            sent = start + len(chunk)

            def seen(sent: int = sent) -> bool:
                s = a.stats()
                return s.packets_in + s.malformed + s.rtcp_in == 2 * sent

            assert wait_for(seen, 5)
            received += srs.drain(0.05)
        received += srs.drain(0.2)
        stats = a.stats()
        assert stats.packets_in == len(valid)
        assert stats.malformed + stats.rtcp_in == 2 * len(datagrams) - len(valid)
        pkts = [parse_rtp(d) for d in received]  # strict: bare valid headers only
        assert {p.ssrc for p in pkts} <= {fork.ssrc} and 101 not in {p.pt for p in pkts}
        assert [p.payload for p in pkts] == forwarded
        assert all((q.seq - p.seq) % 65536 == 1 for p, q in itertools.pairwise(pkts))
        assert fork.stats().malformed == 0
        # still serving
        attacker.send(rtp(7, 0, 0xF00D), a.local_address)
        assert parse_rtp(srs.recv() or b"").ssrc == fork.ssrc
