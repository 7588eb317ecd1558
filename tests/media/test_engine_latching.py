"""Who may send to a leg (RTP hijack, RTP Bleed): strict, learn and off latching over real
loopback sockets, third parties on other 127/8 addresses; random port pairs."""

from __future__ import annotations

import errno
import itertools
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from media_helpers import Peer, engine, parse_rtp, peers, rtp, wait_for

from src_client.media import Engine, Leg

SR = struct.pack("!BBHI", 0x80, 200, 6, 0x666) + bytes(20)
CALLER, INTRUDER = b"\x11" * 160, b"\x66" * 160


@contextmanager
def intruder(host: str = "127.0.0.66") -> Iterator[Peer]:
    peer = Peer(host=host)
    try:
        yield peer
    finally:
        peer.close()


def bridged(eng: Engine, caller: Peer, callee: Peer) -> tuple[Leg, Leg]:
    """Caller and callee legs, relayed, each signalled at its party's address."""
    a, b = eng.allocate_leg(), eng.allocate_leg()
    a.set_remote(*caller.address)
    b.set_remote(*callee.address)
    eng.relay(a, b)
    return a, b


def payloads(peer: Peer, timeout: float = 0.3) -> list[bytes]:
    return [data[12:] for data in peer.drain(timeout)]


def test_strict_refuses_another_ip_before_and_after_the_caller_speaks() -> None:
    with (
        engine(media_timeout=0) as eng,
        peers(3) as (caller, callee, srs),
        intruder() as third,
    ):
        a, b = bridged(eng, caller, callee)
        fork = eng.add_fork(a, "inbound", destination=srs.address, inband_dtmf=False)
        # after the 200 OK, before the caller speaks: the hijack window of old
        for i in range(5):
            third.send(rtp(100 + i, i * 160, 0x666, INTRUDER), a.local_address)
        third.send(SR, ("127.0.0.1", a.local_rtcp_port))
        assert wait_for(lambda: a.stats().foreign_source == 6)
        for i in range(5):
            caller.send(rtp(i, i * 160, 0x1, CALLER), a.local_address)
            third.send(rtp(105 + i, (5 + i) * 160, 0x666, INTRUDER), a.local_address)
        assert payloads(callee) == [CALLER] * 5  # the caller is heard, and only the caller
        assert [parse_rtp(d).payload for d in srs.drain() if d[1] != 200] == [CALLER] * 5
        callee.send(rtp(1, 0, 0x2), b.local_address)
        assert caller.recv() == rtp(1, 0, 0x2) and third.recv(0.2) is None
        stats = a.stats()
        assert (stats.packets_in, stats.foreign_source, stats.rtcp_in) == (5, 11, 0)
        assert stats.remote == caller.address and stats.latched and stats.ssrc == 0x1
        assert fork.stats().packets_out == 5
        assert eng.stats().refused == {
            "unsignalled": 0, "foreign_address": 11, "foreign_port": 0, "probation": 0,
        }  # fmt: skip


def test_strict_accepts_the_signalled_ip_from_any_port_then_only_that_source() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (sdp, natted, same_host, callee):
        a, b = bridged(eng, sdp, callee)  # the SDP's port is not where the NAT sends from
        natted.send(rtp(1, 0, 0x1, CALLER), a.local_address)
        assert payloads(callee) == [CALLER]
        assert a.stats().remote == natted.address
        callee.send(rtp(1, 0, 0x2), b.local_address)
        assert natted.recv() == rtp(1, 0, 0x2) and sdp.recv(0.2) is None
        # once latched, as Asterisk's strictrtp: another port of the same IP is refused
        same_host.send(rtp(7, 0, 0x7, INTRUDER), a.local_address)
        natted.send(rtp(2, 160, 0x1, CALLER), a.local_address)
        assert payloads(callee) == [CALLER]
        assert eng.stats().refused["foreign_port"] == 1
        # RTCP on its own port latches from the RTP source's IP, any port
        natted.send(SR, ("127.0.0.1", a.local_rtcp_port))
        assert wait_for(lambda: a.stats().rtcp_in == 1)
        a.set_remote(*same_host.address)  # a re-INVITE: the source is learnt again
        same_host.send(rtp(8, 160, 0x7, INTRUDER), a.local_address)
        assert payloads(callee) == [INTRUDER]


def test_strict_refuses_everything_before_an_sdp_address_is_known() -> None:
    with engine(media_timeout=0) as eng, peers(2) as (callee_phone, caller):
        a, b = eng.allocate_leg(), eng.allocate_leg()  # b: the callee's leg, INVITE still out
        a.set_remote(*caller.address)
        eng.relay(a, b)
        callee_phone.send(rtp(1, 0, 0x2), b.local_address)
        assert caller.recv(0.3) is None
        assert eng.stats().refused["unsignalled"] == 1 and not b.stats().latched
        b.set_remote(*callee_phone.address)  # the answer arrived
        callee_phone.send(rtp(2, 160, 0x2), b.local_address)
        assert caller.recv() == rtp(2, 160, 0x2)


def test_rtcp_mux_leg_refuses_rtcp_and_rtp_from_another_ip() -> None:
    with engine(media_timeout=0) as eng, peers(2) as (caller, callee), intruder() as third:
        a, b = eng.allocate_leg(rtcp_mux=True), eng.allocate_leg()
        a.set_remote(*caller.address)
        b.set_remote(*callee.address)
        eng.relay(a, b)
        third.send(SR, a.local_address)
        third.send(rtp(1, 0, 0x666, INTRUDER), a.local_address)
        caller.send(rtp(1, 0, 0x1, CALLER), a.local_address)
        assert callee.drain() == [rtp(1, 0, 0x1, CALLER)]
        assert a.stats().foreign_source == 2


def test_learn_moves_to_a_new_source_after_four_packets_in_sequence() -> None:
    with (
        engine(media_timeout=0, latching="learn") as eng,
        peers(2) as (caller, callee),
        intruder("127.0.0.77") as moved,
    ):
        a, b = bridged(eng, caller, callee)
        caller.send(rtp(1, 0, 0x1, CALLER), a.local_address)  # the signalled IP: at once
        assert payloads(callee) == [CALLER]
        # broken runs never qualify: a gap in sequence, the latched source in between
        for seq in (10, 11, 13, 14, 15):
            moved.send(rtp(seq, 0, 0x9, INTRUDER), a.local_address)
        caller.send(rtp(2, 160, 0x1, CALLER), a.local_address)
        moved.send(rtp(16, 0, 0x9, INTRUDER), a.local_address)
        assert payloads(callee) == [CALLER]
        assert eng.stats().refused["probation"] == 6
        # three in a row: still refused; the fourth completes the probation and is relayed
        for seq in range(20, 23):
            moved.send(rtp(seq, 0, 0x9, INTRUDER), a.local_address)
        assert payloads(callee) == [] and a.stats().remote == caller.address
        moved.send(rtp(23, 0, 0x9, INTRUDER), a.local_address)
        assert payloads(callee) == [INTRUDER]
        assert a.stats().remote == moved.address
        callee.send(rtp(1, 0, 0x2), b.local_address)
        assert moved.recv() == rtp(1, 0, 0x2) and caller.recv(0.2) is None
        # the old source now needs a probation of its own
        caller.send(rtp(3, 320, 0x1, CALLER), a.local_address)
        assert payloads(callee) == []
        assert eng.stats().refused["probation"] == 10


def test_off_latches_the_first_source_wherever_it_is() -> None:
    with (
        engine(media_timeout=0, latching="off") as eng,
        peers(2) as (caller, callee),
        intruder() as third,
    ):
        a, _ = bridged(eng, caller, callee)
        third.send(rtp(1, 0, 0x666, INTRUDER), a.local_address)
        caller.send(rtp(1, 0, 0x1, CALLER), a.local_address)
        assert payloads(callee) == [INTRUDER]
        assert eng.stats().refused["foreign_address"] == 1


def test_legs_without_latching_accept_every_source() -> None:
    with engine(media_timeout=0) as eng, peers(2) as (sdp, callee), intruder() as third:
        a, b = eng.allocate_leg(latching=False), eng.allocate_leg()
        b.set_remote(*callee.address)
        eng.relay(a, b)
        third.send(rtp(1, 0, 0x9), a.local_address)
        assert callee.recv() == rtp(1, 0, 0x9)
        a.set_remote(*sdp.address)
        assert a.stats().foreign_source == 0 and sum(eng.stats().refused.values()) == 0


def test_unknown_latching_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="latching"):
        Engine("127.0.0.1", 6000, 6059, latching="loose")  # type: ignore[arg-type]


def test_port_pairs_are_random_across_the_range() -> None:
    with engine(media_timeout=0) as eng:
        ports = []
        for _ in range(20):  # allocated and freed: sequential allocation would step by 2
            leg = eng.allocate_leg()
            ports.append(leg.local_address[1])
            assert ports[-1] % 2 == 0 and leg.local_rtcp_port == ports[-1] + 1  # RFC 3550 §11
            leg.close()
        steps = sum(b - a == 2 for a, b in itertools.pairwise(ports))
        assert steps < 8, ports  # about one step in 30 when random
        assert len(set(ports)) >= 8 and max(ports) - min(ports) >= 20, ports


def test_every_pair_is_found_then_exhaustion_is_reported() -> None:
    with engine(media_timeout=0) as eng:  # 60 ports: 30 even/odd pairs
        mux = eng.allocate_leg(rtcp_mux=True)
        odd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            odd.bind(("127.0.0.1", mux.local_address[1] + 1))  # a mux leg takes one port
        finally:
            odd.close()
        legs = [eng.allocate_leg() for _ in range(29)]
        assert len({leg.local_address[1] for leg in [mux, *legs]}) == 30
        with pytest.raises(OSError) as raised:
            eng.allocate_leg()
        assert raised.value.errno == errno.EADDRNOTAVAIL
