"""Verifiable rewards and the reward contract every source follows.

    from referee.verifiers import Registry, Runtime, Sample, score_batch

    async with Runtime() as rt:
        source = Registry().create("exact", {}, rt)
        scores = await score_batch(source, [Sample(completion="The answer is 4", reference="4")])
"""

from .contract import RewardSource, Sample, Score, SourceFactory, UnscoredReason
from .errors import (
    ConfigError,
    DuplicateSourceError,
    PluginLoadError,
    RefereeError,
    RegistryError,
    UnknownSourceError,
    UnscoredError,
)
from .jsonl import jsonl_lines
from .mix import Component, SourceMix, WeightedMix, parse_source
from .registry import ENTRY_POINT_GROUP, Registry, SourceInfo, format_validation_error
from .runtime import Runtime
from .scoring import score_batch, score_in_workers
from .workers import DeadlineExceeded, WorkerDied, WorkerPool

__all__ = [
    "ENTRY_POINT_GROUP",
    "Component",
    "ConfigError",
    "DeadlineExceeded",
    "DuplicateSourceError",
    "PluginLoadError",
    "RefereeError",
    "Registry",
    "RegistryError",
    "RewardSource",
    "Runtime",
    "Sample",
    "Score",
    "SourceFactory",
    "SourceInfo",
    "SourceMix",
    "UnknownSourceError",
    "UnscoredError",
    "UnscoredReason",
    "WeightedMix",
    "WorkerDied",
    "WorkerPool",
    "format_validation_error",
    "jsonl_lines",
    "parse_source",
    "score_batch",
    "score_in_workers",
]
