"""Long-lived resources that reward sources share, owned by whoever runs them.

The service creates one `Runtime` in its lifespan; the CLI and tests use `async with Runtime() as rt`.
Sources never create process pools, HTTP clients or models at import time or per request: they ask the
runtime, which builds each once and closes it at the end.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .workers import WorkerPool

__all__ = ["Runtime"]

T = TypeVar("T")


class Runtime:
    """Shared resources: a worker pool for CPU-bound checks and keyed long-lived objects.

    `workers`: size of the process pool (default: the number of CPUs).
    `item_timeout_s`: the default deadline per item for CPU-bound checks, used by sources that have
    no deadline option of their own.
    `worker_memory_mb`: address-space cap of each worker process (None: no cap).
    """

    def __init__(self, *, workers: int | None = None, item_timeout_s: float = 10.0,
                 worker_memory_mb: int | None = 2048, preload: Sequence[str] = ("sympy",)) -> None:
        self.item_timeout_s = item_timeout_s
        self.pool = WorkerPool(workers, preload=preload, memory_mb=worker_memory_mb)
        self._resources: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def resource(self, key: str, factory: Callable[[], T]) -> T:
        """The object stored under `key`, built by `factory()` the first time.

        Objects with `aclose()` or `close()` are closed when the runtime closes. Keys are namespaced by
        the caller, e.g. `"judge.local:/path/to/model"`.
        """
        if key not in self._resources:
            self._resources[key] = factory()
        return self._resources[key]  # type: ignore[no-any-return,unused-ignore]

    async def aresource(self, key: str, factory: Callable[[], Any]) -> Any:
        """Like `resource`, for factories that are slow (run in a thread) or async; built once."""
        if key in self._resources:
            return self._resources[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._resources:
                made = factory() if inspect.iscoroutinefunction(factory) else await asyncio.to_thread(factory)
                self._resources[key] = await made if inspect.isawaitable(made) else made
        return self._resources[key]

    async def aclose(self) -> None:
        for obj in reversed(list(self._resources.values())):
            closer = getattr(obj, "aclose", None) or getattr(obj, "close", None)
            if closer is not None:
                result = closer()
                if inspect.isawaitable(result):
                    await result
        self._resources.clear()
        await asyncio.to_thread(self.pool.close)

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
