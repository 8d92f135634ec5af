"""The ingress's view of sources that run as Ray Serve deployments.

`RaySources` is the `EnabledSources` of the Ray ingress: every check the single-process service makes on a
request's source and options happens here, before anything is sent (an unknown source is a 404, a bad or
operator-only option a 422), but nothing is built: `build` returns a `DeploymentSource`, whose `score` sends
the samples to the source's replicas. The routes still score through `run_scoring` (admission, deadline,
audit log written before the answer, metrics), exactly as in the single-process service.

Faults. Ray Serve retries routing by itself, but not a request a replica had accepted when it died: the caller
gets `ActorDiedError` (checked in Ray 2.60's router: the replica is dropped from rotation and the error is
raised). Scoring is a pure function of the samples and options, so `DeploymentSource` sends the chunk again,
and the router picks a live replica; after `ray.retries` more tries the chunk's samples are unscored
`worker_error` with the Ray errors in `details`, never 0. An exception raised inside a replica (a bug) is
unscored `source_error`, as in the single-process service. The request deadline bounds it all: if no replica
comes back in time, what is open is unscored `timeout`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from referee.verifiers import (
    ConfigError,
    Registry,
    RewardSource,
    Runtime,
    Sample,
    Score,
    UnscoredError,
    UnscoredReason,
)

from ..sources import EnabledSources

if TYPE_CHECKING:
    from ..settings import ServiceSettings

__all__ = ["DeploymentSource", "RaySources", "ReplicasFailed"]

log = logging.getLogger(__name__)

_SAMPLES = TypeAdapter(list[Sample])
_SCORES = TypeAdapter(list[Score])
_KEEP_CHARS = 500  # of each Ray error kept in details


class ReplicasFailed(UnscoredError):
    """Every try of a call to a source's replicas met a dead or unreachable replica (unscored `worker_error`)."""

    def __init__(self, message: str) -> None:
        super().__init__(UnscoredReason.WORKER_ERROR, message)


def _methods(factory: Any) -> frozenset[str]:
    """The public async methods of a source class besides `score` and `start`: what its proxy forwards."""
    return frozenset(n for n, f in inspect.getmembers(factory, inspect.iscoroutinefunction)
                     if not n.startswith("_") and n not in ("score", "start"))


class _Checked:
    """What `RaySources._create` returns: the options passed every check; the source itself runs elsewhere."""

    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        raise AssertionError("a checked placeholder is never scored")


class RaySources(EnabledSources):
    """Enabled sources whose replicas are Ray Serve deployments, reached through `handles` (by source name).

    A request's source and options are checked here as the single process checks them: by building the source
    (cheap by contract: models and pools come later, from the runtime), which is then never scored. A source
    that this node cannot build at all (no bubblewrap on the ingress's node, say) is checked against its
    options schema only, and its replicas check the rest (what fails there is unscored, not a 422).
    """

    def __init__(self, registry: Registry, runtime: Runtime, settings: ServiceSettings,
                 handles: Mapping[str, Any]) -> None:
        super().__init__(registry, runtime, settings.sources, settings.source_options)
        missing = sorted(set(self.names()) - set(handles))
        if missing:
            raise ConfigError(f"source(s) {', '.join(missing)} are enabled but have no Ray Serve deployment")
        self.handles = dict(handles)
        self.layout = settings.ray
        self._built_here: set[str] = set()

    async def start(self) -> None:
        """Wait until each source's deployment answers, and take over its verdict on whether it can run."""
        statuses = await asyncio.gather(*(self.handles[n].status.remote() for n in self.names()))
        for status in statuses:
            name, problem = status["source"], status["unavailable"]
            if problem is None:
                continue
            if self.explicit:
                raise ConfigError(f"source {name!r} cannot run on its Ray replicas: {problem}")
            log.warning("source %r is installed but cannot run on its Ray replicas, so it is disabled: %s",
                        name, problem)
            self.unavailable[name] = problem
            self._names.remove(name)
        for name in self.names():
            try:
                super()._create(name, self.operator_options.get(name, {}))
            except Exception as exc:
                log.info("source %r cannot be built on the ingress (%s): requests to it are checked against its "
                         "options schema here, and fully by its replicas", name, exc)
            else:
                self._built_here.add(name)

    def _create(self, name: str, options: dict[str, Any]) -> RewardSource:
        # A bad option is the caller's 422 here, not an unscored batch later.
        if name in self._built_here:
            return super()._create(name, options)
        self.registry.config(name, options)
        return _Checked(name, str(self.registry.get(name).version))

    def build(self, name: str, options: Mapping[str, Any], *, operator: bool = False) -> RewardSource:
        checked = super().build(name, options, operator=operator)  # built (or checked) here, never scored here
        # The replica merges the operator's options in itself (and checks again): send the request's own.
        return DeploymentSource(name, checked.version, dict(options), self.handles[name],
                                chunk_size=self.layout.deployment(name).chunk_size, retries=self.layout.retries,
                                operator=operator, methods=_methods(self.registry.get(name)))


class DeploymentSource:
    """Reward source `name` scored by its Ray Serve deployment: the batch is split into chunks that replicas
    score concurrently, and a chunk whose replica died is sent again (see the module docstring).

    The source's other public async methods (`methods`: the judge's `compare` and `generate`, say) are
    forwarded to a replica as they are, arguments and result pickled, with the same retries; past them they
    raise `ReplicasFailed`, which their callers turn into an unscored result as for any failing source.
    """

    def __init__(self, name: str, version: str, options: dict[str, Any], handle: Any, *, chunk_size: int,
                 retries: int, operator: bool = False, methods: frozenset[str] = frozenset()) -> None:
        self.name, self.version = name, version
        self.options = options
        self.handle = handle
        self.chunk_size = chunk_size
        self.retries = retries
        self.operator = operator
        self._methods = methods

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in self.__dict__.get("_methods", ()):
            raise AttributeError(f"{type(self).__name__} of source {self.__dict__.get('name')!r} has no {method!r}")

        async def forwarded(*args: Any, **kwargs: Any) -> Any:
            return await self._call(method, args, kwargs)

        return forwarded

    async def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from ray.exceptions import RayError, RayTaskError
        from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

        errors: list[str] = []
        for _ in range(self.retries + 1):
            try:
                return await self.handle.call.remote(self.options, self.operator, method, args, kwargs)
            except RayTaskError as exc:  # raised by the source itself: the caller sees it as in one process
                raise exc.cause if isinstance(exc.cause, BaseException) else exc from None
            except (RayError, ReplicaUnavailableError, DeploymentUnavailableError) as exc:
                errors.append(_text(exc))
        raise ReplicasFailed(f"the replicas of source {self.name!r} died or were unreachable {len(errors)} times "
                             f"running {method}; last: {_first_line_of(errors[-1])}")

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        chunks = [list(batch[i : i + self.chunk_size]) for i in range(0, len(batch), self.chunk_size)]
        parts = await asyncio.gather(*(self._chunk(c) for c in chunks))
        return [s for part in parts for s in part]

    async def _chunk(self, samples: list[Sample]) -> list[Score]:
        from ray.exceptions import RayError, RayTaskError
        from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

        payload = _SAMPLES.dump_json(samples)
        errors: list[str] = []
        for _ in range(self.retries + 1):
            try:
                raw = await self.handle.score.remote(self.options, self.operator, payload)
            except RayTaskError as exc:  # the replica's code raised: a bug, reported as the single process does
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc  # not Ray's coloured header
                return self._unscored(UnscoredReason.SOURCE_ERROR, samples, f"a replica of source {self.name!r} "
                                      f"raised {_first_line(cause)}", [_text(cause)])
            except (RayError, ReplicaUnavailableError, DeploymentUnavailableError) as exc:
                # The replica (or its node) died or could not be reached: idempotent, so try another one.
                log.warning("a replica of source %r failed on a chunk of %d; %s", self.name, len(samples),
                            "trying again" if len(errors) < self.retries else "giving up", exc_info=False)
                errors.append(_text(exc))
                continue
            return _SCORES.validate_json(raw)
        return self._unscored(UnscoredReason.WORKER_ERROR, samples, f"the replicas of source {self.name!r} "
                              f"scoring this sample died or were unreachable {len(errors)} times (ray.retries="
                              f"{self.retries}); last: {_first_line_of(errors[-1])}", errors)

    def _unscored(self, reason: UnscoredReason, samples: list[Sample], error: str,
                  ray_errors: list[str]) -> list[Score]:
        return [Score.unscored(reason, error, source=self.name, version=self.version, ray_errors=ray_errors)
                for _ in samples]


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_KEEP_CHARS]


def _first_line(exc: BaseException) -> str:
    return _first_line_of(_text(exc))


def _first_line_of(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
