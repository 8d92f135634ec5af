"""Admission control: bound the samples being scored at once, and shed the excess with 503 + Retry-After.

Without a bound, an overloaded service accepts everything and every request slows down until clients
time out, which is the worst failure for a trainer: a step that waits minutes and then gets nothing.
With it, work past `max_inflight_items` waits up to `queue_timeout_s` for room and is then refused
quickly with a Retry-After hint, which `RewardClient` honours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["Admission", "Overloaded"]


class Overloaded(Exception):
    def __init__(self, retry_after_s: int, message: str) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class Admission:
    def __init__(self, max_items: int, queue_timeout_s: float) -> None:
        self.max_items = max_items
        self.queue_timeout_s = queue_timeout_s
        self.in_flight = 0
        self._room = asyncio.Condition()

    @asynccontextmanager
    async def admit(self, n: int) -> AsyncIterator[None]:
        n = min(n, self.max_items)  # one request larger than the whole budget still runs, alone
        async with self._room:
            try:
                await asyncio.wait_for(self._room.wait_for(lambda: self.in_flight + n <= self.max_items),
                                       self.queue_timeout_s)
            except TimeoutError:
                raise Overloaded(
                    1, f"the service is at capacity ({self.in_flight} samples in flight, limit "
                    f"{self.max_items}); retry after the Retry-After delay, or add replicas"
                ) from None
            self.in_flight += n
        try:
            yield
        finally:
            async with self._room:
                self.in_flight -= n
                self._room.notify_all()
