"""Relay between two legs over real loopback sockets: RTP and RTCP both ways, rtcp-mux,
symmetric-RTP latching, validation of what arrives, workers."""

from __future__ import annotations

import socket
import struct

import pytest
from media_helpers import Peer, engine, peers, rtp, wait_for

from src_client.media import Engine

SR = struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + bytes(20)  # SR without report blocks


def test_relay_both_ways_rtp_and_rtcp_unchanged() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (a_rtp, a_rtcp, b_rtp, b_rtcp):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        assert a.local_address[1] % 2 == 0 and a.local_rtcp_port == a.local_address[1] + 1
        a.set_remote("127.0.0.1", a_rtp.port, a_rtcp.port)
        b.set_remote("127.0.0.1", b_rtp.port, b_rtcp.port)
        eng.relay(a, b)
        to_b = [rtp(i, i * 160, 0xAAAA, bytes([i]) * 160) for i in range(20)]
        to_a = [rtp(i, i * 160, 0xBBBB, bytes([100 + i]) * 160, pt=8) for i in range(20)]
        for pa, pb in zip(to_b, to_a, strict=True):
            a_rtp.send(pa, a.local_address)
            b_rtp.send(pb, b.local_address)
        assert [d for _, d in b_rtp.collect(20)] == to_b
        assert [d for _, d in a_rtp.collect(20)] == to_a
        a_rtcp.send(SR, ("127.0.0.1", a.local_rtcp_port))
        b_rtcp.send(SR[:4] + b"\x00\x00\x56\x78" + SR[8:], ("127.0.0.1", b.local_rtcp_port))
        assert b_rtcp.recv() == SR
        assert a_rtcp.recv() == SR[:4] + b"\x00\x00\x56\x78" + SR[8:]
        # symmetric RTP: each party hears the call from the port it sends to
        b_rtp.send(rtp(99, 0, 0xBBBB), b.local_address)
        _, src = a_rtp.sock.recvfrom(2048)
        assert src == a.local_address
        sa, sb = a.stats(), b.stats()
        assert (sa.packets_in, sa.rtcp_in, sa.packets_out, sa.rtcp_out) == (20, 1, 21, 1)
        assert (sb.packets_in, sb.rtcp_in, sb.packets_out, sb.rtcp_out) == (21, 1, 20, 1)
        assert sa.bytes_in == sum(map(len, to_b)) and sa.ssrc == 0xAAAA
        assert sa.malformed == sb.malformed == 0


def test_relay_rtcp_mux() -> None:
    with engine(media_timeout=0) as eng, peers(2) as (pa, pb):
        a, b = eng.allocate_leg(rtcp_mux=True), eng.allocate_leg(rtcp_mux=True)
        assert a.local_rtcp_port == a.local_address[1]
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        pa.send(rtp(1, 160, 7), a.local_address)
        pa.send(SR, a.local_address)
        assert [d for _, d in pb.collect(2)] == [rtp(1, 160, 7), SR]
        stats = a.stats()
        assert (stats.packets_in, stats.rtcp_in) == (1, 1)


def test_latching_learns_first_source_and_rejects_foreign_ones() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (phone, sdp_addr, intruder, other):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*sdp_addr.address)  # SDP says one thing, NAT says another
        b.set_remote(*other.address)
        eng.relay(a, b)
        phone.send(rtp(1, 0, 0x1), a.local_address)
        assert other.recv() is not None
        for i in range(5):
            intruder.send(rtp(100 + i, 0, 0x666), a.local_address)
        phone.send(rtp(2, 160, 0x1), a.local_address)
        assert [d for _, d in other.collect(10, 0.5)] == [rtp(2, 160, 0x1)]
        other.send(rtp(9, 0, 0x2), b.local_address)
        assert phone.recv() == rtp(9, 0, 0x2)  # sent to the latched source, not the SDP one
        assert sdp_addr.recv(0.2) is None
        stats = a.stats()
        assert stats.foreign_source == 5 and stats.latched and stats.remote == phone.address
        a.set_remote(*sdp_addr.address)  # a new SDP re-opens learning
        intruder.send(rtp(3, 0, 0x3), a.local_address)
        assert other.recv() == rtp(3, 0, 0x3)
        assert a.stats().remote == intruder.address


def test_without_latching_every_source_is_relayed_and_replies_follow_sdp() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (p1, p2, sdp_addr, other):
        a, b = eng.allocate_leg(latching=False), eng.allocate_leg(latching=False)
        a.set_remote(*sdp_addr.address)
        b.set_remote(*other.address)
        eng.relay(a, b)
        p1.send(rtp(1, 0, 1), a.local_address)
        p2.send(rtp(2, 0, 2), a.local_address)
        assert len(other.collect(2)) == 2
        other.send(rtp(3, 0, 3), b.local_address)
        assert sdp_addr.recv() == rtp(3, 0, 3)
        assert a.stats().foreign_source == 0


def test_invalid_packets_are_counted_and_dropped() -> None:
    bad = [
        b"",
        b"\x80\x00\x00",  # shorter than a header
        b"\x40" + rtp(1, 0, 1)[1:],  # version 1
        b"\x8f" + rtp(1, 0, 1)[1:12] + b"\x00" * 8,  # 15 CSRCs announced, 2 present
        b"\x90" + rtp(1, 0, 1)[1:12] + b"\xbe\xde\x00\x10" + b"\x00" * 8,  # extension too long
        b"\xa0" + rtp(1, 0, 1)[1:] + b"\x00",  # padding count 0
        b"\xa0" + rtp(1, 0, 1, b"\x01\x02")[1:] + b"\xff",  # padding longer than the payload
        bytes([0x80, 200]) + rtp(1, 0, 1)[2:],  # RTCP on the RTP port
    ]
    with engine(media_timeout=0) as eng, peers(2) as (pa, pb):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        for data in bad:
            pa.send(data, a.local_address)
        pa.send(b"\x00" * 8, ("127.0.0.1", a.local_rtcp_port))  # not RTCP either
        assert wait_for(lambda: a.stats().malformed == len(bad) + 1)
        pa.send(b"\xa0" + rtp(5, 0, 1, b"\x01\x02\x00\x02")[1:], a.local_address)  # valid pad
        assert pb.recv() is not None
        assert pb.recv(0.2) is None
        assert a.stats().packets_in == 1


def test_relay_across_workers_and_unrelay() -> None:
    with engine(media_timeout=0, workers=2) as eng, peers(2) as (pa, pb):
        a, b = eng.allocate_leg(), eng.allocate_leg()  # round-robin: different workers
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        for i in range(10):
            pa.send(rtp(i, 0, 1), a.local_address)
            pb.send(rtp(i, 0, 2), b.local_address)
        assert len(pb.collect(10)) == 10 and len(pa.collect(10)) == 10
        eng.unrelay(a, b)
        pa.send(rtp(11, 0, 1), a.local_address)
        assert wait_for(lambda: a.stats().packets_in == 11)
        assert pb.recv(0.2) is None


def test_control_errors_are_typed() -> None:
    with engine(media_timeout=0) as eng:
        a, b, c = eng.allocate_leg(), eng.allocate_leg(), eng.allocate_leg()
        with pytest.raises(ValueError):
            a.set_remote("pbx.example.com", 4000)
        with pytest.raises(ValueError):
            a.set_remote("127.0.0.1", 70000)
        with pytest.raises(ValueError):
            a.set_remote("::1", 4000)  # an IPv4 engine cannot reach it
        with pytest.raises(ValueError):
            eng.relay(a, a)
        eng.relay(a, b)
        with pytest.raises(ValueError):
            eng.relay(a, c)
        with pytest.raises(ValueError):
            eng.unrelay(a, c)
        c.close()
        c.close()
        with pytest.raises(KeyError):
            c.stats()
        assert eng.stats().legs == 2
    with pytest.raises(ValueError):
        a.stats()  # engine closed
    b.close()  # closing after the engine is a no-op


def test_ipv6_relay() -> None:
    with Engine("::1", 7980, 7999, media_timeout=0) as eng:
        socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            for s in socks:
                s.bind(("::1", 0))
                s.settimeout(2)
            a, b = eng.allocate_leg(), eng.allocate_leg()
            assert a.local_address == ("::1", a.local_address[1])
            a.set_remote("::1", 5000)  # another port: the source latches (NAT)
            b.set_remote("::1", socks[1].getsockname()[1])
            eng.relay(a, b)
            socks[0].sendto(rtp(1, 0, 6), a.local_address)
            data, src = socks[1].recvfrom(2048)
            assert data == rtp(1, 0, 6) and src[:2] == b.local_address
            assert a.stats().remote == ("::1", socks[0].getsockname()[1])
        finally:
            for s in socks:
                s.close()


def test_port_range_exhaustion_raises_and_closing_frees_ports() -> None:
    with engine(media_timeout=0) as eng:
        legs = []
        with pytest.raises(OSError):
            for _ in range(31):
                legs.append(eng.allocate_leg())
        ports = [leg.local_address[1] for leg in legs]
        # 60 ports = 30 pairs, fewer if another process holds some of them
        assert 0 < len(legs) <= 30 and len(set(ports)) == len(ports)
        assert all(
            p % 2 == 0 and leg.local_rtcp_port == p + 1 for p, leg in zip(ports, legs, strict=True)
        )
        legs[0].close()

        def released() -> bool:  # the worker closes the sockets on its next iteration
            try:
                Peer(legs[0].local_address[1]).close()
            except OSError:
                return False
            return True

        assert wait_for(released)
        assert eng.allocate_leg().local_address == legs[0].local_address  # ...and reused
