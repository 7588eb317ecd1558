"""Player: G.711 into a leg in 20 ms packets with a correct RTP header sequence; what it plays
reaches the leg's outbound forks; stop/replace/done."""

from __future__ import annotations

import itertools

import pytest
from media_helpers import engine, parse_rtp, peers, rtp, wait_for


def test_player_sends_paced_packets_with_correct_seq_ts_marker() -> None:
    audio = bytes(range(256)) * 2 + b"\x7f" * 90  # 602 bytes: 3 full frames + 122 + loop
    with engine(media_timeout=0) as eng, peers(2) as (phone, srs):
        leg = eng.allocate_leg()
        leg.set_remote(*phone.address)
        fork = eng.add_fork(leg, "outbound", destination=srs.address, inband_dtmf=False)
        player = eng.play(leg, audio, 8, loop=2)
        got = phone.collect(8, timeout=3)
        pkts = [parse_rtp(d) for _, d in got]
        assert len(pkts) == 8 and phone.recv(0.2) is None
        assert b"".join(p.payload for p in pkts) == audio * 2
        assert [len(p.payload) for p in pkts] == [160, 160, 160, 122] * 2
        assert [p.marker for p in pkts] == [True] + [False] * 7
        assert {p.pt for p in pkts} == {8} and len({p.ssrc for p in pkts}) == 1
        assert all((q.seq - p.seq) % 65536 == 1 for p, q in itertools.pairwise(pkts))
        assert all((q.ts - p.ts) % 2**32 == len(p.payload) for p, q in itertools.pairwise(pkts))
        # real-time pace, not a burst: 8 packets span at least 7 x 20 ms minus scheduling slack
        assert got[-1][0] - got[0][0] >= 0.1
        assert wait_for(lambda: player.done)
        events = [e for e in eng.read_events() if e.kind == "player_done"]
        assert [(e.leg_id, e.player_id, e.ssrc) for e in events] == [
            (leg.id, player.id, pkts[0].ssrc)
        ]
        recorded = [parse_rtp(d) for _, d in srs.collect(8)]
        assert b"".join(p.payload for p in recorded) == audio * 2
        assert {p.ssrc for p in recorded} == {fork.ssrc}


def test_player_mutes_relay_and_stop_restores_it() -> None:
    with engine(media_timeout=0) as eng, peers(2) as (pa, pb):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        player = eng.play(b, b"\xff" * 1600, 0, loop=0)  # forever
        first = pb.recv()
        assert first is not None and parse_rtp(first).marker
        pa.send(rtp(1, 0, 0xCAFE), a.local_address)
        assert wait_for(lambda: a.stats().packets_in == 1)
        player.stop()
        assert player.done
        pb.drain(0.1)
        pa.send(rtp(2, 160, 0xCAFE), a.local_address)
        data = pb.recv()
        assert data is not None and parse_rtp(data).ssrc == 0xCAFE
        assert not [e for e in eng.read_events() if e.kind == "player_done"]


def test_play_replaces_the_previous_prompt_and_validates() -> None:
    with engine(media_timeout=0) as eng, peers(1) as (phone,):
        leg = eng.allocate_leg()
        leg.set_remote(*phone.address)
        first = eng.play(leg, b"\x01" * 8000, 0)
        second = eng.play(leg, b"\x02" * 160, 0)
        assert first.done and wait_for(lambda: second.done)
        with pytest.raises(ValueError):
            eng.play(leg, b"\x00" * 160, 18)  # G.729: not G.711
        with pytest.raises(ValueError):
            eng.play(leg, b"", 0)
        leg.close()
        assert second.done
