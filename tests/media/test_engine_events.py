"""Engine events through the event fd: first packet, SSRC change, media timeout, asyncio."""

from __future__ import annotations

import asyncio

from media_helpers import engine, peers, rtp, wait_for

from src_client.media import EngineEvent


def test_first_packet_ssrc_change_and_media_timeout() -> None:
    # latching "off": media arrives before any SDP, so the first packet arms the timer
    with engine(media_timeout=0.3, latching="off") as eng, peers(1) as (phone,):
        ringing = eng.allocate_leg()  # no remote and no media yet: no timer running
        leg = eng.allocate_leg()
        phone.send(rtp(1, 0, 0x10), leg.local_address)
        phone.send(rtp(2, 160, 0x10), leg.local_address)
        phone.send(rtp(3, 320, 0x20), leg.local_address)
        events: list[EngineEvent] = []

        def timeouts() -> int:
            events.extend(eng.read_events())
            return [e.kind for e in events].count("media_timeout")

        assert wait_for(lambda: timeouts() == 1)
        kinds = [(e.kind, e.leg_id, e.ssrc, e.old_ssrc) for e in events]
        assert kinds == [
            ("first_packet", leg.id, 0x10, 0),
            ("ssrc_change", leg.id, 0x20, 0x10),
            ("media_timeout", leg.id, 0x20, 0),
        ]
        assert events[2].time - events[0].time >= 0.3
        phone.send(rtp(4, 480, 0x20), leg.local_address)  # media is back: re-armed
        assert wait_for(lambda: timeouts() == 2)
        assert all(e.leg_id == leg.id for e in events)
        ringing.set_remote(*phone.address)  # the answer came: silence counts from now
        assert wait_for(lambda: timeouts() == 3)
        assert events[-1].leg_id == ringing.id


async def test_async_events_iterator() -> None:
    with engine(media_timeout=0) as eng, peers(1) as (phone,):
        legs = [eng.allocate_leg() for _ in range(3)]
        for leg in legs:
            leg.set_remote(*phone.address)
        stream = eng.events()

        async def first_three() -> list[EngineEvent]:
            return [await anext(stream) for _ in range(3)]

        task = asyncio.create_task(first_three())
        await asyncio.sleep(0.05)  # the iterator is now waiting on the fd
        for i, leg in enumerate(legs):
            phone.send(rtp(i, 0, 0x100 + i), leg.local_address)
        got = await asyncio.wait_for(task, 5)
        assert sorted((e.leg_id, e.ssrc) for e in got) == [
            (leg.id, 0x100 + i) for i, leg in enumerate(legs)
        ]
        await stream.aclose()
