"""Admission control: bound the samples being scored, and the request bytes held, at once; shed the excess
with 503 + Retry-After.

Without a bound, an overloaded service accepts everything and every request slows down until clients
time out, which is the worst failure for a trainer: a step that waits minutes and then gets nothing.
With it, work past `max_inflight_items` waits up to `queue_timeout_s` for room and is then refused
quickly with a Retry-After hint, which `RewardClient` honours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["Admission", "ByteBudget", "Overloaded"]


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


class ByteBudget:
    """Bound the request-body bytes held at once: a body is counted from before it is read until its request
    has been answered, since what it parses into lives that long. Past the budget a request waits up to
    `queue_timeout_s` for room (a body of known length) or is refused at once (a streamed body, whose size
    is known only as it arrives), with 503 + Retry-After either way."""

    def __init__(self, max_bytes: int, queue_timeout_s: float) -> None:
        self.max_bytes = max_bytes
        self.queue_timeout_s = queue_timeout_s
        self.in_flight = 0
        self._room = asyncio.Condition()

    def _refusal(self, n: int) -> Overloaded:
        return Overloaded(1, f"the service is at capacity ({self.in_flight} bytes of request bodies in flight, "
                          f"limit {self.max_bytes}, this body {n} bytes); retry after the Retry-After delay, send "
                          "smaller batches, or raise max_inflight_bytes (REFEREE_MAX_INFLIGHT_BYTES)")

    async def reserve(self, n: int, *, wait: bool) -> None:
        """Count `n` more bytes, or raise `Overloaded`."""
        async with self._room:
            if self.in_flight + n > self.max_bytes:
                if not wait:
                    raise self._refusal(n)
                try:
                    await asyncio.wait_for(self._room.wait_for(lambda: self.in_flight + n <= self.max_bytes),
                                           self.queue_timeout_s)
                except TimeoutError:
                    raise self._refusal(n) from None
            self.in_flight += n

    async def release(self, n: int) -> None:
        if n:
            async with self._room:
                self.in_flight -= n
                self._room.notify_all()
