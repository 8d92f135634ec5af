"""The sandbox's run queue: at most `slots` runs at once, and waiting runs served fairly between batches.

A plain semaphore serves runs in arrival order, so one request of many slow candidates (four `while True`
loops, each held to its deadline) delays every request behind it by all of their deadlines. Here each run
belongs to a group (one `score()` batch), and a freed slot goes to the waiting group with the fewest runs
in progress, ties to the group served least recently: round-robin between batches, so a one-sample
request waits for at most about one run per other batch, not for the whole of each. A batch alone gets
every slot; two batches share them about evenly.

The queue is bounded: past `max_waiting` waiting runs, `QueueFull` (the caller reports the run unscored),
so memory stays bounded however much is submitted. Time spent waiting is not part of a run's deadlines,
which start when its slot does.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Hashable

__all__ = ["FairQueue", "QueueFull"]


class QueueFull(Exception):
    """Too many runs are waiting already."""


class _Group:
    __slots__ = ("last_served", "running", "waiting")

    def __init__(self) -> None:
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.running = 0
        self.last_served = 0


class FairQueue:
    def __init__(self, slots: int, max_waiting: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self.max_waiting = max_waiting
        self._free = slots
        self._groups: dict[Hashable, _Group] = {}
        self._waiting = 0
        self._clock = itertools.count(1)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self.slots - self._free

    async def acquire(self, group: Hashable) -> None:
        """Wait for a slot for one run of `group`; `QueueFull` when `max_waiting` runs wait already."""
        state = self._groups.get(group)
        if state is None:
            state = self._groups[group] = _Group()
        if self._free > 0 and self._waiting == 0:
            self._free -= 1
            self._grant(state)
            return
        if self._waiting >= self.max_waiting:
            self._forget_if_idle(group)
            raise QueueFull(f"the sandbox's run queue is full ({self._waiting} runs waiting, {self.slots} "
                            "running); retry later, or send smaller batches")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiting.append(future)
        self._waiting += 1
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: hand the slot on
                self.release(group)
            else:
                if future in state.waiting:  # else release() has dropped it already
                    state.waiting.remove(future)
                    self._waiting -= 1
                self._forget_if_idle(group)
            raise

    def release(self, group: Hashable) -> None:
        """Give back a slot that `acquire(group)` granted."""
        state = self._groups[group]
        state.running -= 1
        self._forget_if_idle(group)
        while True:
            waiting = [s for s in self._groups.values() if s.waiting]
            if not waiting:
                self._free += 1
                return
            chosen = min(waiting, key=lambda s: (s.running, s.last_served))
            future = chosen.waiting.popleft()
            self._waiting -= 1
            if not future.done():  # else it was cancelled while waiting: its acquire() tidies up
                self._grant(chosen)
                future.set_result(None)
                return

    def _grant(self, state: _Group) -> None:
        state.running += 1
        state.last_served = next(self._clock)

    def _forget_if_idle(self, group: Hashable) -> None:
        state = self._groups.get(group)
        if state is not None and not state.running and not state.waiting:
            del self._groups[group]
