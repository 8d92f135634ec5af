"""A third-party plugin: one working source and two that break the contract on purpose (for tests of
the boundary that turns a plugin's failure into unscored results)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from referee.verifiers import ConfigError, Runtime, Sample, Score, score_in_workers

__all__ = ["MemoryHog", "Raises", "Sleep", "Unavailable", "WordCount", "WrongLength"]


class WordCountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: int = Field(10, ge=1, description="Word count that earns the full reward.")


class WordCount:
    """1.0 at exactly `target` words, falling linearly to 0 at 0 or 2 x target words."""

    name = "wordcount"
    version = "0.1"
    description = "Rewards completions of about `target` words (test plugin)."
    Config = WordCountConfig

    def __init__(self, config: WordCountConfig, runtime: Runtime) -> None:
        self.config = config

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        t = self.config.target
        return [
            Score(value=max(0.0, 1 - abs(len(s.completion.split()) - t) / t), source=self.name,
                  version=self.version, details={"words": len(s.completion.split())})
            for s in batch
        ]


class _Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Raises:
    name = "testplugin-raises"
    version = "0.1"
    description = "Always raises (test plugin: error paths)."
    Config = _Empty

    def __init__(self, config: _Empty, runtime: Runtime) -> None:
        pass

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        raise RuntimeError("boom from a broken plugin")


class WrongLength(Raises):
    name = "testplugin-wrong-length"
    description = "Returns one score too few (test plugin: error paths)."

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        return [Score(value=1.0, source=self.name, version=self.version) for _ in batch][:-1]


class SleepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(1.0, ge=0, le=60, description="How long each batch takes.")


class Sleep:
    """Takes `seconds` per batch, then scores 1.0: holds capacity for load and shedding tests."""

    name = "testplugin-sleep"
    version = "0.1"
    description = "Sleeps, then scores 1.0 (test plugin: load tests)."
    Config = SleepConfig

    def __init__(self, config: SleepConfig, runtime: Runtime) -> None:
        self.config = config

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        await asyncio.sleep(self.config.seconds)
        return [Score(value=1.0, source=self.name, version=self.version) for _ in batch]


def _allocate(megabytes: int) -> tuple[float, dict[str, int]]:
    blocks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    return 1.0, {"allocated_mb": len(blocks)}


class MemoryHog(Raises):
    """Allocates `metadata.mb` megabytes in the runtime's worker pool (test plugin: memory faults)."""

    name = "testplugin-memory"
    description = "Allocates metadata.mb MB in a pool worker, then scores 1.0 (test plugin: faults)."

    def __init__(self, config: _Empty, runtime: Runtime) -> None:
        self.runtime = runtime

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        return await score_in_workers(self, batch, _allocate, lambda s: (int(s.metadata.get("mb", 1)),),
                                      self.runtime, timeout=60)


class Unavailable(Raises):
    """Cannot start on any host (test plugin: start-up checks)."""

    name = "testplugin-unavailable"
    description = "Refuses to start (test plugin: start-up checks)."

    async def start(self) -> None:
        raise ConfigError("this host lacks the frobnicator; install it")


class BatchProbe(Raises):
    """Scores 1.0 and says in `details.batch` how many samples its `score` call held: on Ray, a source that opts
    in to batching across requests (`batch_across_requests`) sees several requests' samples in one call. It
    compares too (the longer reply is better), as a source with a `compare` method beside `score`."""

    name = "testplugin-batch"
    description = "Scores 1.0; details.batch is the size of the call (test plugin: batching)."
    batch_across_requests = True

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        return [Score(value=1.0, source=self.name, version=self.version, details={"batch": len(batch)})
                for _ in batch]

    async def compare(self, pairs: Sequence[Any]) -> list[Any]:
        from referee.judges import Comparison

        return [Comparison(p_a_better=float(len(p.a) > len(p.b)), consistent=True, principles={},
                           details={"rule": "longer is better"}) for p in pairs]

