"""Deadlines are enforced by killing the worker process; other work goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from referee.verifiers import DeadlineExceeded, Runtime, Sample, UnscoredReason, WorkerDied, WorkerPool
from referee.verifiers.scoring import score_in_workers


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # pure CPU: no signal.alarm-style trick could interrupt a C loop either
        pass
    return "done"


def pid() -> int:
    return os.getpid()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def check(completion: str) -> tuple[float, dict[str, str]]:
    if completion == "slow":
        spin(60)
    if completion == "crash":
        die()
    return float(len(completion)), {"seen": completion}


async def test_overrun_is_killed_and_the_worker_replaced() -> None:
    pool = WorkerPool(1)
    try:
        first = await pool.run(pid, timeout=10)
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await pool.run(spin, 60, timeout=0.5)
        assert time.monotonic() - start < 20  # killed, not waited out
        second = await pool.run(pid, timeout=10)
        assert second != first  # the overrunning worker is gone
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
    finally:
        pool.close()


async def test_worker_death_is_reported() -> None:
    pool = WorkerPool(1)
    try:
        with pytest.raises(WorkerDied):
            await pool.run(die, timeout=10)
        assert await pool.run(spin, 0.01, timeout=10) == "done"
    finally:
        pool.close()


async def test_score_in_workers_maps_outcomes_per_item() -> None:
    class Src:
        name, version = "probe", "1"

    async with Runtime(workers=2) as rt:
        batch = [Sample(completion=c) for c in ["ab", "slow", "crash", "abcd"]]
        scores = await score_in_workers(Src(), batch, check, lambda s: (s.completion,), rt, timeout=1.0)
    assert [s.value for s in scores] == [2.0, None, None, 4.0]
    assert scores[1].reason == UnscoredReason.TIMEOUT and scores[1].details["timeout_s"] == 1.0
    assert scores[2].reason == UnscoredReason.WORKER_ERROR
    assert scores[3].details == {"seen": "abcd"}


def hog(megabytes: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    return len(blocks)


async def test_memory_exhaustion_stays_in_its_worker() -> None:
    pool = WorkerPool(1, memory_mb=512)
    try:
        with pytest.raises(WorkerDied, match="memory limit of 512 MB"):
            await pool.run(hog, 4096, timeout=60)
        assert await pool.run(hog, 16, timeout=60) == 16  # the pool still serves
    finally:
        pool.close()


async def test_cancelled_call_stops_its_worker() -> None:
    pool = WorkerPool(1)
    try:
        task = asyncio.ensure_future(pool.run(spin, 60, timeout=120))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.run(spin, 0.01, timeout=10) == "done"  # the pool still serves
    finally:
        pool.close()
