"""The one boundary where whatever a source does becomes valid `Score`s, and the per-item helper.

`score_batch` is what every caller (service, CLI, mixes) uses instead of `source.score`: a source that
raises, returns the wrong number of scores, or returns something that is not a `Score` yields
unscored `source_error` results, never an exception out of the batch and never a fake 0.

`score_in_workers` is for sources whose per-item check is CPU-bound: it runs a module-level function per
sample in the runtime's worker pool under a deadline and maps each outcome to a `Score`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .contract import RewardSource, Sample, Score, UnscoredReason
from .errors import UnscoredError
from .runtime import Runtime
from .workers import DeadlineExceeded, WorkerDied

__all__ = ["score_batch", "score_in_workers"]

log = logging.getLogger(__name__)

Check = Callable[..., tuple[float, dict[str, Any]]]


async def score_batch(source: RewardSource, batch: Sequence[Sample]) -> list[Score]:
    """Score `batch` with `source`, guaranteeing one valid `Score` per sample in order."""
    name = getattr(source, "name", type(source).__name__)
    version = str(getattr(source, "version", "unknown"))

    def broken(error: str) -> list[Score]:
        return [Score.unscored(UnscoredReason.SOURCE_ERROR, error, source=name, version=version) for _ in batch]

    if not batch:
        return []
    try:
        scores = await source.score(batch)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("reward source %r raised on a batch of %d", name, len(batch))
        return broken(f"source {name!r} raised {type(exc).__name__}: {exc}")
    if not isinstance(scores, list) or len(scores) != len(batch):
        got = len(scores) if isinstance(scores, list) else type(scores).__name__
        return broken(f"source {name!r} broke the contract: returned {got} scores for {len(batch)} samples")
    return [
        s if isinstance(s, Score) else Score.unscored(
            UnscoredReason.SOURCE_ERROR,
            f"source {name!r} broke the contract: returned {type(s).__name__}, not Score",
            source=name, version=version,
        )
        for s in scores
    ]


async def score_in_workers(
    source: RewardSource,
    batch: Sequence[Sample],
    check: Check,
    args: Callable[[Sample], tuple[Any, ...]],
    runtime: Runtime,
    *,
    timeout: float,
) -> list[Score]:
    """Run `check(*args(sample))` for each sample in a worker process, each under its own deadline.

    `check` is a module-level function returning `(value, details)` or raising `UnscoredError`. An item
    past its deadline is unscored `timeout`; a dead worker, `worker_error`; any other exception,
    `source_error`. Items run concurrently, bounded by the pool size.
    """

    async def one(sample: Sample) -> Score:
        try:
            value, details = await runtime.pool.run(check, *args(sample), timeout=timeout)
        except UnscoredError as exc:
            return Score.unscored(exc.reason, str(exc), source=source.name, version=source.version)
        except DeadlineExceeded as exc:
            return Score.unscored(UnscoredReason.TIMEOUT, str(exc), source=source.name,
                                  version=source.version, timeout_s=timeout)
        except WorkerDied as exc:
            return Score.unscored(UnscoredReason.WORKER_ERROR, str(exc), source=source.name,
                                  version=source.version)
        except Exception as exc:
            return Score.unscored(UnscoredReason.SOURCE_ERROR, f"{type(exc).__name__}: {exc}",
                                  source=source.name, version=source.version)
        return Score(value=value, source=source.name, version=source.version, details=details)

    return list(await asyncio.gather(*(one(s) for s in batch)))
