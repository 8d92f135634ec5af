"""A weighted mix of reward sources: each sample's value is the weighted sum of its component values.

Components score the whole batch concurrently. If a component could not score a sample, the mix is
unscored (`component_unscored`) for that sample, because a sum missing a term is a different reward.
With `on_unscored="skip"` the missing terms are dropped instead (the sum of the scored terms, not
rescaled); a sample with no scored component at all is still unscored.

Weights may be negative (a penalty: `{"source": "wordcount", "weight": -0.1}`) but must be finite, and so must
the sum of their absolute values: a mix whose total overflows (1e308 + 1e308) is refused when it is built
(`ConfigError`, a 422 naming the weights), not found out as `inf` on every sample. A sum that still
overflows because a component returned a huge value is unscored `source_error` with the reason.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .contract import RewardSource, Sample, Score, UnscoredReason
from .errors import ConfigError
from .scoring import score_batch

__all__ = ["Component", "WeightedMix"]


@dataclass(frozen=True)
class Component:
    source: RewardSource
    weight: float


class WeightedMix:
    name = "mix"

    def __init__(self, components: Sequence[Component], on_unscored: Literal["fail", "skip"] = "fail") -> None:
        if not components:
            raise ValueError("a weighted mix needs at least one component")
        given = ", ".join(f"{c.source.name}: {c.weight:g}" for c in components)
        total = sum(abs(c.weight) for c in components)
        if not math.isfinite(total):  # also when a weight itself is inf or nan
            raise ConfigError(f"source: the mix's weights must be finite numbers and so must the sum of their "
                              f"absolute values; got {given} (sum {total:g}); scale them down")
        self.components = list(components)
        self.on_unscored = on_unscored
        self.version = "+".join(f"{c.source.name}@{c.source.version}" for c in self.components)

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        per_component = await asyncio.gather(*(score_batch(c.source, batch) for c in self.components))
        return [self._combine([scores[i] for scores in per_component]) for i in range(len(batch))]

    def _combine(self, parts: list[Score]) -> Score:
        weights = [c.weight for c in self.components]
        details: dict[str, Any] = {"weights": {c.source.name: c.weight for c in self.components},
                                   "on_unscored": self.on_unscored}
        scored = [(p, w) for p, w in zip(parts, weights, strict=True) if p.value is not None]
        missing = [p.source for p in parts if p.value is None]
        if missing and (self.on_unscored == "fail" or not scored):
            return Score(
                value=None, reason=UnscoredReason.COMPONENT_UNSCORED, source=self.name, version=self.version,
                details={**details, "error": f"component(s) {', '.join(missing)} could not score this sample"},
                components=parts,
            )
        value = sum(p.value * w for p, w in scored if p.value is not None)
        if missing:
            details["skipped"] = missing
        if not math.isfinite(value):
            return Score(value=None, reason=UnscoredReason.SOURCE_ERROR, source=self.name, version=self.version,
                         details={**details, "error": f"the weighted sum of {[p.value for p, _ in scored]} with "
                                  f"weights {[w for _, w in scored]} is not a finite number"}, components=parts)
        return Score(value=value, source=self.name, version=self.version, details=details, components=parts)
