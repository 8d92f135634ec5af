"""The sandbox's run queue (runqueue.py) on its own: fairness between groups, its bound, and cancellation
(a request past its deadline cancels its runs while they wait or run)."""

from __future__ import annotations

import asyncio

import pytest

from referee.verifiers.code.inside.common import limit_hit, signal_limit
from referee.verifiers.code.runqueue import FairQueue, QueueFull


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_freed_slot_goes_to_the_group_with_the_fewest_runs_in_progress() -> None:
    queue = FairQueue(slots=2, max_waiting=100)
    order: list[str] = []

    async def run(name: str, group: str) -> None:
        await queue.acquire(group)
        order.append(name)

    big = [asyncio.create_task(run(f"big {i}", "big")) for i in range(5)]
    await settle()
    assert order == ["big 0", "big 1"] and queue.waiting == 3
    small = [asyncio.create_task(run(f"small {i}", "small")) for i in range(2)]
    await settle()
    queue.release("big")  # big has 1 running, small 0: small goes first
    await settle()
    queue.release("big")  # big 0 running, small 1: big
    await settle()
    queue.release("small")  # big 1, small 0: small
    await settle()
    assert order[2:] == ["small 0", "big 2", "small 1"]
    for _ in range(3):
        queue.release("big")
        await settle()
    await asyncio.gather(*big, *small)
    assert order[5:] == ["big 3", "big 4"] and queue.waiting == 0


async def test_the_queue_is_bounded() -> None:
    queue = FairQueue(slots=1, max_waiting=2)
    await queue.acquire("a")
    waiting = [asyncio.create_task(queue.acquire("a")) for _ in range(2)]
    await settle()
    with pytest.raises(QueueFull, match="2 runs waiting"):
        await queue.acquire("b")
    for _ in waiting:
        queue.release("a")
        await settle()
    await asyncio.gather(*waiting)
    queue.release("a")
    assert (queue.running, queue.waiting) == (0, 0)


async def test_cancelled_waiters_neither_leak_nor_take_a_slot() -> None:
    queue = FairQueue(slots=1, max_waiting=10)
    await queue.acquire("a")
    cancelled = asyncio.create_task(queue.acquire("b"))
    later = asyncio.create_task(queue.acquire("c"))
    await settle()
    cancelled.cancel()
    await settle()
    assert queue.waiting == 1
    queue.release("a")  # goes to c, not to the cancelled b
    await settle()
    assert later.done() and queue.running == 1
    # granted, then cancelled before it could run: the slot passes on
    granted = asyncio.create_task(queue.acquire("d"))
    await settle()
    queue.release("c")
    granted.cancel()
    await settle()
    assert queue.running == 0 and queue.waiting == 0
    await queue.acquire("e")  # the slot is free again
    queue.release("e")


@pytest.mark.parametrize(("name", "message", "limit"), [
    ("MemoryError", "", "memory"),
    ("OSError", "[Errno 27] File too large", "file_size"),
    ("OSError", "[Errno 28] No space left on device: 'x'", "disk"),
    ("OSError", "[Errno 24] Too many open files: '/dev/null'", "open_files"),
    ("BlockingIOError", "[Errno 11] Resource temporarily unavailable", "processes"),
    ("RuntimeError", "can't start new thread", "processes"),
    ("ValueError", "[Errno 27] is just text here", "file_size"),  # a label only: the test failed anyway
    ("AssertionError", "", None),
    ("OSError", "[Errno 2] No such file or directory", None),
])
def test_which_limit_an_exception_names(name: str, message: str, limit: str | None) -> None:
    assert limit_hit(name, message) == limit


@pytest.mark.parametrize(("status", "limit"), [(24, "cpu_time"), (25, "file_size"), (9, None), (0, None),
                                               (1 << 8, None), (None, None)])
def test_which_limit_a_signal_names(status: int | None, limit: str | None) -> None:
    assert signal_limit(status) == limit
