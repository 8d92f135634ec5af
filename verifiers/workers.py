"""Worker processes with per-call deadlines, enforced by killing the worker.

CPU-bound checks (sympy, parsing) must not block the event loop, and must not run unbounded: a
pathological answer such as `10^{10^{10}}` can pin a core for hours. `signal.alarm` is no answer: it only
works on the main thread, and several peers silently turn its failure into a reward of 0. Here each call
runs in a pebble worker process; past its deadline the worker is terminated (then SIGKILLed), pebble
starts a fresh one, and the call raises `DeadlineExceeded`. A worker that dies for another reason (a
segfault, the OOM killer) raises `WorkerDied`. Other calls are unaffected either way.

Each worker's address space is capped (`memory_mb`, RLIMIT_AS): an item that tries to exhaust memory
gets a MemoryError in its own worker (or the worker dies), reported as `WorkerDied`, instead of waking
the kernel's OOM killer, which could pick the service itself.

Workers are forked from a forkserver, not from the service process: forking a process that runs an
event loop and threads is unsafe, and the forkserver keeps restarts cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pebble

from .errors import RefereeError

__all__ = ["DeadlineExceeded", "WorkerDied", "WorkerPool"]

T = TypeVar("T")


class DeadlineExceeded(RefereeError):
    """The call ran past its deadline; its worker was killed."""


class WorkerDied(RefereeError):
    """The worker process exited while running the call (crash, out of memory)."""


class WorkerPool:
    """A pool of worker processes; `await pool.run(fn, *args, timeout=s)` runs `fn` in one of them.

    `fn` and its arguments must be picklable (a module-level function). `preload` names modules the
    forkserver imports once so that every (re)started worker has them ready.
    """

    def __init__(self, max_workers: int | None = None, *, preload: Sequence[str] = (),
                 memory_mb: int | None = 2048) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self._preload = list(preload)
        self._pool: pebble.ProcessPool | None = None

    def _ensure(self) -> pebble.ProcessPool:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            if self._preload:
                ctx.set_forkserver_preload(self._preload)
            limit = self.memory_mb * 1024 * 1024 if self.memory_mb else None
            self._pool = pebble.ProcessPool(max_workers=self.max_workers, context=ctx,
                                            initializer=_limit_memory, initargs=(limit,))
        return self._pool

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        future = self._ensure().schedule(fn, args=args, timeout=timeout)
        try:
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError as exc:
            raise DeadlineExceeded(f"no result within {timeout:g}s; the worker was killed") from exc
        except pebble.ProcessExpired as exc:
            raise WorkerDied(f"the worker process died (exit code {exc.exitcode})") from exc
        except MemoryError as exc:
            raise WorkerDied(f"the item exhausted the worker's memory limit of {self.memory_mb} MB") from exc
        except asyncio.CancelledError:
            future.cancel()  # pebble stops the worker running a cancelled call
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)
            self._pool = None


def _limit_memory(limit_bytes: int | None) -> None:
    if limit_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
