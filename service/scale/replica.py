"""The Ray Serve deployments: one per enabled reward source (`SourceReplica`), and the HTTP ingress.

Imported only where Ray runs (the `referee serve --ray` driver and the replicas): it imports Ray.

A `SourceReplica` holds what a single-process service holds for that one source: its own `Runtime` (worker
pool, sandbox, models) and an `EnabledSources` built from the operator's settings, so every replica applies
the operator's `source_options`, operator-only fields and ceilings itself, whatever a request asks. Samples and
scores travel as JSON bytes (pydantic-core on both sides), not pickled models: cheaper at batch 1,024, and
independent of class identity across nodes.

With batching on (`batch` in the deployment's settings, or the source's `batch_across_requests`), chunks of
concurrent requests that use the same options are joined by `@serve.batch` into one call of the source, so a
model-backed source (a judge on a GPU) runs full batches.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import ray
from pydantic import TypeAdapter
from ray import serve

from referee.judges import configure_judges
from referee.verifiers import Registry, Runtime, Sample, Score, UnscoredReason, score_batch

from ..app import create_app
from ..settings import ServiceSettings
from ..sources import EnabledSources
from .config import BatchSettings
from .proxy import RaySources

__all__ = ["Ingress", "SourceReplica"]

log = logging.getLogger(__name__)

SAMPLES = TypeAdapter(list[Sample])
SCORES = TypeAdapter(list[Score])

# A call to a batched replica: (options key, options, operator, samples). Serve's batch size counts samples.
_Call = tuple[str, dict[str, Any], bool, list[Sample]]


def _samples_in(calls: list[_Call]) -> int:
    return sum(len(c[3]) for c in calls)


def settings_from_json(data: str) -> ServiceSettings:
    return ServiceSettings.model_validate_json(data)


def replica_runtime(settings: ServiceSettings, registry: Registry, name: str, workers: int | None) -> Runtime:
    """The Runtime a replica of source `name` owns: the one the single-process lifespan builds (service/app.py),
    with a pool sized for this replica."""
    runtime = Runtime(workers=workers or settings.pool_workers, item_timeout_s=settings.item_timeout_s,
                      worker_memory_mb=settings.worker_memory_mb,
                      preload=["sympy", *registry.worker_preload([name])])
    configure_judges(runtime, settings.judge_environment())
    return runtime


@serve.deployment
class SourceReplica:
    """One replica of reward source `name`: `score(options, operator, samples_json) -> scores_json`, and `call` for
    the source's other async methods. `operator` is True only where the service itself chose the options."""

    async def __init__(self, name: str, settings_json: str, batch: dict[str, Any] | None) -> None:  # type: ignore[misc]
        settings = settings_from_json(settings_json)
        registry = Registry()
        self.name = name
        actor_cpus = settings.ray.deployment(name).ray_actor_options.get("num_cpus", 1)
        workers = settings.ray.deployment(name).pool_workers or max(1, math.ceil(actor_cpus or 1))
        self.runtime = replica_runtime(settings, registry, name, workers)
        operator = {name: settings.source_options[name]} if name in settings.source_options else {}
        self.sources = EnabledSources(registry, self.runtime, [name], operator)
        self.unavailable: str | None = None
        self.required = settings.sources is not None  # the operator named it: it must run
        try:
            await self.sources.start()
        except Exception as exc:
            # Not fatal here: the ingress decides (a source the operator named stops the service, one enabled
            # only because it is installed is left out), as the single-process service does.
            log.warning("source %r cannot run on this replica: %s", name, exc)
            self.unavailable = f"{type(exc).__name__}: {exc}"
        self.chunks = 0  # scored by this replica: status() shows how a batch was spread
        self.batch = BatchSettings.model_validate(batch) if batch is not None else None
        if self.batch is not None:
            batcher: Any = self._together  # serve.batch's wrapper carries the setters
            batcher.set_max_batch_size(self.batch.max_batch_size)
            batcher.set_batch_wait_timeout_s(self.batch.batch_wait_timeout_s)

    def check_health(self) -> None:
        """Serve replaces a replica whose check fails: one that cannot run a source the operator named (a node
        without bubblewrap, say) gives way to one that may land on a node that can."""
        if self.unavailable is not None and self.required:
            raise RuntimeError(f"source {self.name!r} cannot run on this replica: {self.unavailable}")

    async def status(self) -> dict[str, Any]:
        return {"source": self.name, "unavailable": self.unavailable, "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(), "chunks": self.chunks}

    async def score(self, options: dict[str, Any], operator: bool, payload: bytes) -> bytes:
        samples = SAMPLES.validate_json(payload)
        self.chunks += 1
        if self.batch is not None and len(samples) < self.batch.max_batch_size:
            key = json.dumps([options, operator], sort_keys=True, default=str)
            scores = await self._together((key, options, operator, samples))
        else:
            scores = await self._score(options, operator, samples)
        return SCORES.dump_json(scores)

    async def call(self, options: dict[str, Any], operator: bool, method: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
        """Another public async method of the source (the judge's `compare`, `generate`), as the ingress asked."""
        source = self.sources.build(self.name, options, operator=operator)
        fn = None if method.startswith("_") else getattr(source, method, None)
        if fn is None or not inspect.iscoroutinefunction(fn):
            raise AttributeError(f"source {self.name!r} has no public async method {method!r}")
        return await fn(*args, **kwargs)

    async def _score(self, options: dict[str, Any], operator: bool, samples: Sequence[Sample]) -> list[Score]:
        try:
            source = self.sources.build(self.name, options, operator=operator)
        except Exception as exc:
            # The ingress checked these options with the same settings; reaching here is a bug, not bad input.
            log.exception("source %r refused options the ingress accepted", self.name)
            return [Score.unscored(UnscoredReason.SOURCE_ERROR, f"the replica could not build source {self.name!r}: "
                                   f"{type(exc).__name__}: {exc}", source=self.name, version="unknown")
                    for _ in samples]
        return await score_batch(source, samples)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.01, batch_size_fn=_samples_in)
    async def _together(self, calls: list[_Call]) -> list[list[Score]]:
        groups: dict[str, list[int]] = {}
        for i, call in enumerate(calls):
            groups.setdefault(call[0], []).append(i)
        out: list[list[Score]] = [[] for _ in calls]

        async def one_group(members: list[int]) -> None:
            _, options, operator, _ = calls[members[0]]
            scores = await self._score(options, operator, [s for i in members for s in calls[i][3]])
            start = 0
            for i in members:
                out[i] = scores[start : start + len(calls[i][3])]
                start += len(calls[i][3])

        await asyncio.gather(*(one_group(m) for m in groups.values()))
        return out

    async def __del__(self) -> None:
        await self.runtime.aclose()


@serve.deployment
@serve.ingress()
class Ingress:
    """The HTTP app of `referee serve` (same routes, auth, admission, audit, metrics) as a Ray Serve ingress,
    scoring through the source deployments' handles."""

    def __init__(self, settings_json: str, handles: dict[str, Any]) -> None:
        self._settings = settings_from_json(settings_json)
        self._handles = handles

    def __serve_build_asgi_app__(self) -> Any:
        def sources(registry: Registry, runtime: Runtime, settings: ServiceSettings) -> EnabledSources:
            return RaySources(registry, runtime, settings, self._handles)

        return create_app(self._settings, sources=sources)
