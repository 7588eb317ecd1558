"""Two or more sans-IO UA cores on a simulated network with a controllable clock.

Every datagram is logged with its send time; a test can drop datagrams with a predicate, or
play the peer itself by injecting raw messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from src_client.sip.core import CoreConfig, Event, UserAgentCore
from src_client.sip.message import Message, parse_message
from src_client.sip.timers import TimerConfig
from src_client.sip.transport import Address


@dataclass
class Sent:
    time: float
    src: Address
    dst: Address
    data: bytes

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()

    @property
    def message(self) -> Message:
        return parse_message(self.data)


@dataclass
class Net:
    cores: dict[Address, UserAgentCore] = field(default_factory=dict)
    events: dict[Address, list[Event]] = field(default_factory=dict)
    log: list[Sent] = field(default_factory=list)
    now: float = 0.0
    drop: Callable[[Sent], bool] = lambda sent: False

    def add(self, address: Address, config: CoreConfig | None = None) -> UserAgentCore:
        core = UserAgentCore(config or CoreConfig(timers=TimerConfig()))
        core.local_addresses[address.transport] = address
        self.cores[address] = core
        self.events[address] = []
        return core

    def address_of(self, core: UserAgentCore) -> Address:
        return next(a for a, c in self.cores.items() if c is core)

    def inject(self, data: bytes, src: Address, dst: Address) -> None:
        """Deliver a raw message (a peer played by the test) and pump the results."""
        self.cores[dst].receive(data, src, dst, self.now)
        self.pump()

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for address, core in list(self.cores.items()):
                while (event := core.next_event()) is not None:
                    self.events[address].append(event)
                for data, dst in core.datagrams_to_send():
                    moved = True
                    sent = Sent(self.now, address, dst, data)
                    self.log.append(sent)
                    target = self.cores.get(dst)
                    if target is not None and not self.drop(sent):
                        target.receive(data, address, dst, self.now)

    def run_until(self, until: float) -> None:
        self.pump()
        while True:
            deadlines = [d for c in self.cores.values() if (d := c.next_timer()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = min(deadlines)
            for core in self.cores.values():
                core.handle_timer(self.now)
            self.pump()
        self.now = until

    def sent(self, src: Address, start: str) -> list[Sent]:
        return [s for s in self.log if s.src == src and s.first_line.startswith(start)]

    def times(self, src: Address, start: str) -> list[float]:
        return [s.time for s in self.sent(src, start)]

    def take(self, address: Address, kind: type) -> list:  # type: ignore[type-arg]
        found = [e for e in self.events[address] if isinstance(e, kind)]
        self.events[address] = [e for e in self.events[address] if not isinstance(e, kind)]
        return found
