"""Forks to an SRS over loopback: own SSRC, gapless renumbering checked by tshark, RFC 4733
packets dropped, continuous timestamps, pause/resume, RTCP SR and BYE."""

from __future__ import annotations

import itertools
import struct
import time
from pathlib import Path

import pytest
from media_helpers import (
    engine,
    parse_rtp,
    peers,
    rtcp_packets,
    rtp,
    sender_report,
    tshark_rtp_streams,
    wait_for,
    write_pcap,
)

from src_client.media import Engine, Leg


def call(eng: Engine, pa_addr: tuple[str, int], pb_addr: tuple[str, int]) -> tuple[Leg, Leg]:
    a, b = eng.allocate_leg(), eng.allocate_leg()
    a.set_remote(*pa_addr)
    b.set_remote(*pb_addr)
    eng.relay(a, b)
    return a, b


def stream_with_dtmf(ssrc: int, count: int) -> list[bytes]:
    """G.711 audio with an RFC 4733 event (PT 101, one timestamp, marker first) in the middle."""
    out = []
    for i in range(count):
        if 20 <= i < 30:
            event = struct.pack("!BBH", 5, 0x0A | (0x80 if i == 29 else 0), 160 * (i - 19))
            out.append(rtp(1000 + i, 20 * 160, ssrc, event, pt=101, marker=i == 20))
        else:
            out.append(rtp(1000 + i, i * 160, ssrc, bytes([i]) * 160))
    return out


def test_fork_has_own_ssrc_no_gaps_and_no_telephone_event(tmp_path: Path) -> None:
    with engine(media_timeout=0) as eng, peers(3) as (pa, pb, srs):
        a, _ = call(eng, pa.address, pb.address)
        fork = eng.add_fork(a, "inbound", destination=srs.address, drop_payload_types=[101])
        assert fork.local_address[1] % 2 == 0
        sent = stream_with_dtmf(0x11223344, 80)
        for data in sent:
            pa.send(data, a.local_address)
            time.sleep(0.002)
        assert len(pb.collect(80)) == 80  # the call itself keeps the events
        got = srs.collect(70)
        assert len(got) == 70 and srs.recv(0.2) is None
        pkts = [parse_rtp(d) for _, d in got]
        assert {p.ssrc for p in pkts} == {fork.ssrc} != {0x11223344}
        assert {p.pt for p in pkts} == {0}
        assert all((q.seq - p.seq) % 65536 == 1 for p, q in itertools.pairwise(pkts))
        assert [p.payload for p in pkts] == [d[12:] for d in sent if d[1] & 0x7F == 0]
        offset = (pkts[0].ts - 0) % 2**32
        assert all(p.ts == (offset + p.payload[0] * 160) % 2**32 for p in pkts)  # same clock
        pcap = tmp_path / "fork.pcap"
        write_pcap(pcap, got, fork.local_address, srs.address)
        (stream,) = tshark_rtp_streams(pcap, srs.port)
        assert stream.ssrc == fork.ssrc and stream.packets == 70
        assert stream.lost == 0 and not stream.problem
        assert stream.payload == "g711U"  # tshark names PT 101 "rtpevent": none left
        stats = fork.stats()
        assert (stats.packets_out, stats.dtmf_dropped) == (70, 10)


def test_tshark_oracle_flags_gaps_and_events(tmp_path: Path) -> None:
    """The analysis above can fail: a gap and a PT 101 packet are reported."""
    pkts = [rtp(i, i * 160, 0x42) for i in range(10) if i != 4]
    pkts.append(rtp(11, 1760, 0x42, b"\x05\x0a\x00\xa0", pt=101))
    pcap = tmp_path / "bad.pcap"
    write_pcap(
        pcap,
        [(1e9 + i * 0.02, d) for i, d in enumerate(pkts)],
        ("127.0.0.1", 4000),
        ("127.0.0.1", 5000),
    )
    (stream,) = tshark_rtp_streams(pcap, 5000)
    assert stream.lost > 0 and stream.problem and "rtpevent" in stream.payload


def test_outbound_fork_carries_what_the_leg_is_sent() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (pa, pb, srs_in, srs_out):
        a, b = call(eng, pa.address, pb.address)
        inbound = eng.add_fork(a, "inbound", destination=srs_in.address)
        outbound = eng.add_fork(a, "outbound", destination=srs_out.address)
        assert inbound.ssrc != outbound.ssrc
        for i in range(10):
            pa.send(rtp(i, i * 160, 0xA, b"\x01" * 160), a.local_address)
            pb.send(rtp(i, i * 160, 0xB, b"\x02" * 160), b.local_address)
        got_in = [parse_rtp(d) for _, d in srs_in.collect(10)]
        got_out = [parse_rtp(d) for _, d in srs_out.collect(10)]
        assert [p.payload for p in got_in] == [b"\x01" * 160] * 10
        assert [p.payload for p in got_out] == [b"\x02" * 160] * 10
        assert {p.ssrc for p in got_out} == {outbound.ssrc}


def test_timestamps_continue_across_an_input_ssrc_change() -> None:
    with engine(media_timeout=0) as eng, peers(3) as (pa, pb, srs):
        a, _ = call(eng, pa.address, pb.address)
        fork = eng.add_fork(a, "inbound", destination=srs.address)
        for i in range(5):
            pa.send(rtp(i, 1000 + i * 160, 0x1), a.local_address)
        time.sleep(0.05)
        for i in range(5):  # transfer: new source, new random bases
            pa.send(rtp(40000 + i, 3_000_000_000 + i * 160, 0x2), a.local_address)
        pkts = [parse_rtp(d) for _, d in srs.collect(10)]
        assert [p.seq for p in pkts] == [(pkts[0].seq + i) % 65536 for i in range(10)]
        jump = (pkts[5].ts - pkts[4].ts) % 2**32
        assert 0 <= jump < 8000  # wall-clock gap, not the input's 3e9 jump
        assert all((pkts[i + 1].ts - pkts[i].ts) % 2**32 == 160 for i in (5, 6, 7, 8))
        assert {p.ssrc for p in pkts} == {fork.ssrc}


def test_pause_resume_without_sequence_gap() -> None:
    with engine(media_timeout=0) as eng, peers(3) as (pa, pb, srs):
        a, _ = call(eng, pa.address, pb.address)
        fork = eng.add_fork(a, "inbound", destination=srs.address)
        for i in range(30):
            if i == 10:
                assert len(srs.collect(10)) == 10
                fork.pause()
            if i == 20:
                fork.resume()
            pa.send(rtp(i, i * 160, 0x5, bytes([i]) * 160), a.local_address)
            if i == 19:
                assert wait_for(lambda: a.stats().packets_in == 20)
        pkts = [parse_rtp(d) for _, d in srs.collect(10)]
        assert [p.payload[0] for p in pkts] == list(range(20, 30))
        assert fork.stats().packets_out == 20 and not fork.stats().paused
        first = pkts[0]
        assert all((p.seq - first.seq) % 65536 == i for i, p in enumerate(pkts))
        base = (first.ts - 20 * 160) % 2**32  # the timestamp offset survived the pause
        assert all(p.ts == (base + p.payload[0] * 160) % 2**32 for p in pkts)


def test_fork_without_destination_waits_for_the_srs_answer() -> None:
    with engine(media_timeout=0) as eng, peers(3) as (pa, pb, srs):
        a, _ = call(eng, pa.address, pb.address)
        offer_leg = eng.allocate_leg()  # ports for the SDP offer, before the fork exists
        fork = eng.add_fork(a, "inbound", destination=None, local_leg=offer_leg)
        assert fork.local_address == offer_leg.local_address and offer_leg.closed
        pa.send(rtp(1, 0, 9), a.local_address)
        assert wait_for(lambda: a.stats().packets_in == 1)
        assert srs.recv(0.2) is None
        fork.set_destination(*srs.address)
        pa.send(rtp(2, 160, 9), a.local_address)
        data, src = srs.sock.recvfrom(2048)
        assert src == offer_leg.local_address and parse_rtp(data).ssrc == fork.ssrc


def test_sender_reports_are_consistent_and_removal_sends_bye() -> None:
    with engine(media_timeout=0, rtcp_interval=0.4) as eng, peers(4) as (pa, pb, srs, srs_rtcp):
        a, _ = call(eng, pa.address, pb.address)
        fork = eng.add_fork(
            a,
            "inbound",
            destination=srs.address,
            rtcp_destination=srs_rtcp.address,
            cname="call-1@src",
        )
        for i in range(25):
            pa.send(rtp(i, 8000 + i * 160, 0x77, b"\x10" * 160), a.local_address)
            time.sleep(0.004)
        got = srs.collect(25)
        last_ts, last_arrival = parse_rtp(got[-1][1]).ts, got[-1][0]
        reports: list[tuple[int, float, int, int, int]] = []
        receiver_report = False
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not receiver_report:
            data = srs_rtcp.recv(2)
            assert data is not None
            parts = rtcp_packets(data)
            assert parts[1][0] == 202 and b"call-1@src" in parts[1][1]  # compound: SDES CNAME
            if parts[0][0] == 201:  # RFC 3550 §6.4: no longer a sender two reports after stopping
                receiver_report = True
            else:
                assert parts[0][0] == 200
                reports.append(sender_report(parts[0][1]))
        assert receiver_report and len(reports) >= 2
        ssrc, ntp, rtp_ts, packets, octets = reports[-1]
        assert (ssrc, packets, octets) == (fork.ssrc, 25, 25 * 160)
        assert abs(ntp - time.time()) < 2.0
        # one clock: between two reports, RTP time advances as NTP time does (8 kHz)
        _, ntp0, rtp0, _, _ = reports[-2]
        assert abs(((rtp_ts - rtp0) % 2**32) / 8000 - (ntp - ntp0)) < 0.005
        # and it continues the stream's timestamps: the last packet's time on that clock
        rtp_elapsed = ((rtp_ts - last_ts) % 2**32) / 8000
        assert abs(rtp_elapsed - (ntp - last_arrival)) < 1.0
        assert fork.stats().rtcp_out >= len(reports)
        fork.remove()
        bye = None
        while (data := srs_rtcp.recv(1)) is not None:
            parts = rtcp_packets(data)
            if parts[-1][0] == 203:
                bye = parts
                break
        assert bye is not None and int.from_bytes(bye[-1][1][4:8], "big") == fork.ssrc
        pa.send(rtp(99, 0, 0x77), a.local_address)
        assert srs.recv(0.2) is None
        with pytest.raises(KeyError):
            fork.stats()
        fork.remove()  # idempotent


def test_closing_the_leg_removes_its_forks_with_bye() -> None:
    with engine(media_timeout=0) as eng, peers(4) as (pa, pb, srs, srs_rtcp):
        a, _ = call(eng, pa.address, pb.address)
        fork = eng.add_fork(
            a, "inbound", destination=srs.address, rtcp_destination=srs_rtcp.address
        )
        pa.send(rtp(1, 0, 1), a.local_address)
        assert srs.recv() is not None
        a.close()
        datas = srs_rtcp.drain(0.5)
        assert any(rtcp_packets(d)[-1][0] == 203 for d in datas)
        assert eng.stats().forks == 0
        fork.remove()  # already gone with the leg: no error


def test_fork_argument_errors() -> None:
    with engine(media_timeout=0) as eng:
        leg = eng.allocate_leg()
        with pytest.raises(ValueError):
            eng.add_fork(leg, "both", destination=None)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            eng.add_fork(leg, "inbound", destination=("127.0.0.1", 5000), drop_payload_types=[128])
        with pytest.raises(ValueError):
            eng.add_fork(leg, "inbound", destination=("srs.example.com", 5000))
        with pytest.raises(ValueError):
            eng.add_fork(leg, "inbound", destination=None, local_leg=leg)
        fork = eng.add_fork(leg, "inbound", destination=None, ssrc=0xDEADBEEF)
        assert fork.ssrc == 0xDEADBEEF
