"""RFC 3261 timer values (§17, table 4 of Appendix A) and the timer heap the UA core runs on.

The heap is one ``heapq`` for every transaction, dialog and session timer of the core: tens of
thousands of dialogs cost one list entry per pending timer, not one asyncio handle each.
Cancellation is lazy (the entry's callback is cleared, which also frees whatever the bound
method kept alive); the heap is compacted when dead entries outnumber live ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

#: A heap entry: ``[when, seq, callback]``; ``callback`` is ``None`` once cancelled.
TimerEntry = list[object]
TimerCallback = Callable[[float], None]

_COMPACT_MIN_DEAD = 1024


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1/T2/T4 and the timers derived from them (RFC 3261 Appendix A).

    Timers D, I, J and K exist to absorb retransmissions, so over a reliable transport they are
    zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.t1 <= self.t2) or self.t4 <= 0:
            raise ValueError("timer values must satisfy 0 < T1 <= T2 and T4 > 0")

    @property
    def a(self) -> float:
        """INVITE retransmission, initial interval (doubles without cap)."""
        return self.t1

    @property
    def b(self) -> float:
        """INVITE transaction timeout."""
        return 64 * self.t1

    def d(self, reliable: bool) -> float:
        """Wait time for response retransmissions: at least 32 s over UDP."""
        return 0.0 if reliable else max(32.0, 64 * self.t1)

    @property
    def e(self) -> float:
        """Non-INVITE retransmission, initial interval (doubles up to T2)."""
        return self.t1

    @property
    def f(self) -> float:
        """Non-INVITE transaction timeout."""
        return 64 * self.t1

    @property
    def g(self) -> float:
        """INVITE final response retransmission, initial interval (doubles up to T2)."""
        return self.t1

    @property
    def h(self) -> float:
        """Wait time for ACK receipt."""
        return 64 * self.t1

    def i(self, reliable: bool) -> float:
        """Wait time for ACK retransmissions."""
        return 0.0 if reliable else self.t4

    def j(self, reliable: bool) -> float:
        """Wait time for non-INVITE request retransmissions."""
        return 0.0 if reliable else 64 * self.t1

    def k(self, reliable: bool) -> float:
        """Wait time for non-INVITE response retransmissions."""
        return 0.0 if reliable else self.t4


class TimerHeap:
    """Deadline-ordered callbacks with lazy cancellation."""

    __slots__ = ("_dead", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[TimerEntry] = []
        self._seq = count()
        self._dead = 0

    def __len__(self) -> int:
        return len(self._heap) - self._dead

    def schedule(self, when: float, callback: TimerCallback) -> TimerEntry:
        entry: TimerEntry = [when, next(self._seq), callback]
        heapq.heappush(self._heap, entry)
        return entry

    def cancel(self, entry: TimerEntry | None) -> None:
        """Cancel ``entry``; cancelling a fired or already cancelled entry does nothing."""
        if entry is None or entry[2] is None:
            return
        entry[2] = None
        self._dead += 1
        if self._dead > _COMPACT_MIN_DEAD and self._dead * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None  # type: ignore[return-value]

    def run_due(self, now: float) -> int:
        """Fire every callback due at ``now`` in deadline order; returns how many fired.

        Each callback gets its own deadline, not ``now``: a late wake-up then replays the schedule
        (retransmission intervals keep doubling from the planned times), and a timer a callback
        schedules at or before ``now`` fires in the same call.
        """
        heap = self._heap
        fired = 0
        while heap and heap[0][0] <= now:  # type: ignore[operator]
            entry = heapq.heappop(heap)
            callback = entry[2]
            if callback is None:
                self._dead -= 1
                continue
            entry[2] = None
            fired += 1
            callback(entry[0])  # type: ignore[operator]
        return fired
