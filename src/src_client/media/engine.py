"""Typed face of the C media engine (``src_client._engine``).

The engine owns the media sockets and runs its own worker threads; nothing here is on the
packet path. Python allocates legs (port pairs), relays two legs, forks a leg's inbound
(received from the party) or outbound (sent to the party) audio to an SRS, plays prompts, and
reads counters and events. Events arrive through a file descriptor that asyncio watches.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncGenerator, Iterable
from types import TracebackType
from typing import get_args

from src_client import _engine
from src_client.media.model import (
    Direction,
    EngineEvent,
    EngineStats,
    EventKind,
    ForkStats,
    Latching,
    LegStats,
    RefusedReason,
    SrtpParams,
)

_EVENT_KINDS: dict[int, EventKind] = dict(enumerate(get_args(EventKind), start=1))
_REFUSED_REASONS: tuple[RefusedReason, ...] = get_args(RefusedReason)
_G711 = (0, 8)  # PCMU, PCMA (RFC 3551 §6)


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range 1..65535")
    return port


def _check_host(host: str) -> str:
    ipaddress.ip_address(host)  # ValueError for names: the engine never resolves
    return host


class Engine:
    """The media engine: one per process, with ``workers`` packet threads.

    Ports come in pairs from ``port_min..port_max`` (RTP even, RTCP odd). A leg silent for
    ``media_timeout`` seconds raises a ``media_timeout`` event (0 disables); the timer starts
    with the leg's remote address or its first packet, so a call still ringing never times
    out. Forks send an RTCP sender report about every ``rtcp_interval`` seconds.

    ``latching`` says which sources a leg allocated with latching accepts (native/leg.c has
    the details); refused packets are counted (:attr:`LegStats.foreign_source`,
    :attr:`EngineStats.refused`) and go nowhere:

    - ``strict``: only the IP address of the party's SDP (:meth:`Leg.set_remote`), from any
      port (NAT); the first port heard latches, then only that source until the next SDP.
      Nothing is accepted before the leg has an SDP address.
    - ``learn``: as strict, and any other source after ``SC_LEARN_PROBATION`` (4) RTP packets
      in a row with consecutive sequence numbers (parties behind NAT that signal a private
      address, or whose mapping changes mid-call).
    - ``off``: the first source to send latches, wherever it is.
    """

    def __init__(
        self,
        address: str = "127.0.0.1",
        port_min: int = 20000,
        port_max: int = 29999,
        workers: int = 1,
        media_timeout: float = 30.0,
        rtcp_interval: float = 5.0,
        latching: Latching = "strict",
    ) -> None:
        self.address = _check_host(address)
        if latching not in get_args(Latching):
            raise ValueError(f"latching must be 'strict', 'learn' or 'off', not {latching!r}")
        self.closed = False
        self._core = _engine.Engine(
            address, port_min, port_max, workers, media_timeout, rtcp_interval,
            latching=latching,
        )  # fmt: skip

    def allocate_leg(self, *, rtcp_mux: bool = False, latching: bool = True) -> Leg:
        """A new leg on a free port pair drawn at random from the range (one port with
        rtcp-mux, RFC 5761). With ``latching`` the leg accepts sources as the engine's
        ``latching`` mode says and sends to the source it latched (symmetric RTP, RFC 4961);
        without, it accepts every source and sends where :meth:`Leg.set_remote` says (a port
        reserved for a fork, which takes the sockets over)."""
        leg_id, rtp_port, rtcp_port = self._core.allocate_leg(rtcp_mux, latching)
        return Leg(self, leg_id, (self.address, rtp_port), rtcp_port)

    def relay(self, a: Leg, b: Leg) -> None:
        """Relays RTP and RTCP between two legs, unchanged, both ways."""
        self._core.relay(a.id, b.id)

    def unrelay(self, a: Leg, b: Leg) -> None:
        self._core.unrelay(a.id, b.id)

    def add_fork(
        self,
        leg: Leg,
        direction: Direction,
        *,
        destination: tuple[str, int] | None,
        rtcp_destination: tuple[str, int] | None = None,
        drop_payload_types: Iterable[int] = (),
        srtp: SrtpParams | None = None,
        inband_dtmf: bool = True,
        ssrc: int | None = None,
        local_leg: Leg | None = None,
        clock_rate: int = 8000,
        cname: str | None = None,
    ) -> Fork:
        """Copies one direction of ``leg`` to an SRS as a stream of its own.

        The fork sends from its own port pair (or takes over ``local_leg``'s, allocated earlier
        for an SDP offer), so the SRS's RTCP comes back to it. ``destination`` None leaves it
        silent until :meth:`Fork.set_destination`. RTCP goes to ``rtcp_destination``, by
        default the RTP port + 1. ``drop_payload_types`` are never forwarded (the call's RFC
        4733 telephone-event types) and the sequence numbers stay gapless; with
        ``inband_dtmf`` DTMF tones in PCMU/PCMA audio are replaced by silence on the fork.
        """
        if direction not in get_args(Direction):
            raise ValueError(f"direction must be 'inbound' or 'outbound', not {direction!r}")
        drop = tuple(drop_payload_types)
        if any(not 0 <= pt <= 127 for pt in drop):
            raise ValueError("payload types are 0..127")
        if ssrc is not None and not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError("ssrc must be a 32-bit unsigned integer")
        dest = _checked_addr(destination)
        rtcp_dest = _checked_addr(rtcp_destination)
        if rtcp_dest is not None and dest is None:
            raise ValueError("rtcp_destination needs a destination")
        fork_id, fork_ssrc, port = self._core.add_fork(
            leg.id,
            direction == "outbound",
            dest,
            rtcp_dest,
            drop,
            (srtp.suite, srtp.key, srtp.salt) if srtp else None,
            inband_dtmf,
            -1 if ssrc is None else ssrc,
            local_leg.id if local_leg else 0,
            clock_rate,
            cname,
        )
        if local_leg is not None:
            local_leg.closed = True  # its sockets now belong to the fork
        return Fork(self, fork_id, fork_ssrc, (self.address, port), leg, direction)

    def play(self, leg: Leg, payload: bytes, payload_type: int, *, loop: int = 1) -> Player:
        """Sends G.711 audio (PCMU 0 / PCMA 8, 8 kHz) into ``leg`` in 20 ms packets at real-time
        pace; ``loop`` 0 repeats until stopped (TwiML ``<Play loop="0">``). While it plays, the
        relayed stream toward the leg is muted. A ``player_done`` event marks the end."""
        if payload_type not in _G711:
            raise ValueError("the player sends G.711 only: payload type 0 (PCMU) or 8 (PCMA)")
        if not payload:
            raise ValueError("nothing to play")
        if loop < 0:
            raise ValueError("loop must be >= 0")
        player_id = self._core.play(leg.id, bytes(payload), payload_type, loop)
        return Player(self, leg, player_id)

    def events_fd(self) -> int:
        """Readable when :meth:`read_events` has something (an eventfd)."""
        return self._core.events_fd()

    def read_events(self) -> list[EngineEvent]:
        return [
            EngineEvent(_EVENT_KINDS[kind], leg_id, fork_id, player_id, ssrc, old, t)
            for kind, leg_id, fork_id, player_id, ssrc, old, t in self._core.read_events()
        ]

    async def events(self) -> AsyncGenerator[EngineEvent, None]:
        """Yields events as they come, watching the event fd with ``loop.add_reader``."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fd = self.events_fd()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                ready.clear()
                batch = self.read_events()  # drains the fd too: no wake-up is lost
                for event in batch:
                    yield event
                if not batch:
                    await ready.wait()
        finally:
            loop.remove_reader(fd)

    def stats(self) -> EngineStats:
        legs, forks, tx_dropped, events_dropped, workers, refused = self._core.stats()
        return EngineStats(
            legs, forks, tx_dropped, events_dropped, workers,
            dict(zip(_REFUSED_REASONS, refused, strict=True)),
        )  # fmt: skip

    def close(self) -> None:
        """Stops the workers and frees every leg and fork (forks send their RTCP BYE)."""
        self.closed = True
        self._core.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _checked_addr(addr: tuple[str, int] | None) -> tuple[str, int] | None:
    if addr is None:
        return None
    host, port = addr
    return _check_host(host), _check_port(port)


class Leg:
    """A port pair facing one call party."""

    def __init__(self, engine: Engine, leg_id: int, local: tuple[str, int], rtcp_port: int):
        self.engine = engine
        self.id = leg_id
        self.local_address = local
        self.local_rtcp_port = rtcp_port
        self.closed = False

    def __repr__(self) -> str:
        return f"<Leg {self.id} {self.local_address[0]}:{self.local_address[1]}>"

    def set_remote(self, host: str, rtp_port: int, rtcp_port: int | None = None) -> None:
        """The party's address from its SDP (RTCP by default on the next port, RFC 3550 §11,
        or the same port with rtcp-mux). Resets latching so the source is learnt again; with
        strict or learn latching this address is the one media is accepted from."""
        mux = self.local_rtcp_port == self.local_address[1]
        if rtcp_port is None:
            rtcp_port = rtp_port if mux else rtp_port + 1
        self.engine._core.leg_set_remote(
            self.id, _check_host(host), _check_port(rtp_port), _check_port(rtcp_port)
        )

    def stats(self) -> LegStats:
        return LegStats(*self.engine._core.leg_stats(self.id))

    def close(self) -> None:
        """Frees the ports; the leg's forks are removed (with their RTCP BYE). Idempotent."""
        if not self.closed:
            self.closed = True
            if not self.engine.closed:
                self.engine._core.leg_close(self.id)


class Fork:
    """One forked track toward an SRS."""

    def __init__(
        self,
        engine: Engine,
        fork_id: int,
        ssrc: int,
        local: tuple[str, int],
        leg: Leg,
        direction: Direction,
    ):
        self.engine = engine
        self.id = fork_id
        self.ssrc = ssrc
        self.local_address = local
        self.leg = leg
        self.direction = direction
        self.removed = False

    def __repr__(self) -> str:
        return f"<Fork {self.id} {self.direction} of leg {self.leg.id} ssrc={self.ssrc:#010x}>"

    def set_destination(
        self, host: str, port: int, rtcp_port: int | None = None, rtcp_host: str | None = None
    ) -> None:
        """Where the SRS wants the track (its SDP answer); RTCP defaults to port + 1."""
        rtcp_port = port + 1 if rtcp_port is None else rtcp_port
        self.engine._core.fork_set_destination(
            self.id,
            _check_host(host),
            _check_port(port),
            _check_host(rtcp_host or host),
            _check_port(rtcp_port),
        )

    def pause(self) -> None:
        """Stops sending RTP; sequence numbers resume without a gap, timestamps keep following
        wall time so the SRS keeps both tracks aligned."""
        self.engine._core.fork_set_paused(self.id, True)

    def resume(self) -> None:
        self.engine._core.fork_set_paused(self.id, False)

    def stats(self) -> ForkStats:
        return ForkStats(*self.engine._core.fork_stats(self.id))

    def remove(self) -> None:
        """Sends an RTCP BYE (SRTCP when secure) and frees the fork. Idempotent, and a no-op
        once the leg or the engine was closed (which removed the fork already)."""
        if self.removed:
            return
        self.removed = True
        if not self.leg.closed and not self.engine.closed:
            self.engine._core.fork_remove(self.id)


class Player:
    """A prompt being played into a leg."""

    def __init__(self, engine: Engine, leg: Leg, player_id: int):
        self.engine = engine
        self.leg = leg
        self.id = player_id

    @property
    def done(self) -> bool:
        """True once the audio ended, it was stopped or replaced, or the leg closed."""
        return not self.engine._core.player_active(self.leg.id, self.id)

    def stop(self) -> None:
        self.engine._core.player_stop(self.leg.id, self.id)
