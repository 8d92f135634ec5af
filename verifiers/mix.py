"""A weighted mix of reward sources: each sample's value is the weighted sum of its component values.

How a mix is written, the one grammar every edge reads (`referee score --source`, `referee train --source`,
the trainer protocols' URL segment such as `/openrlhf/math:1,judge:0.2/get_reward`): `parse_source`.

    parse_source("math")                  # one source
    parse_source("math:1,judge:0.2")      # a mix: comma-separated `name` or `name:weight` (weight 1 if left out)

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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .contract import RewardSource, Sample, Score, UnscoredReason
from .errors import ConfigError
from .scoring import score_batch

__all__ = ["Component", "SourceMix", "WeightedMix", "parse_source"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SYNTAX = "write a source name, or a mix `name:weight,name:weight` (e.g. `math:1,judge:0.2`)"


@dataclass(frozen=True)
class SourceMix:
    """A `--source` as written: one source, or weighted components (`is_mix`)."""

    components: tuple[tuple[str, float], ...]
    is_mix: bool

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.components]

    def __str__(self) -> str:
        if not self.is_mix:
            return self.components[0][0]
        return ",".join(f"{name}:{weight:g}" for name, weight in self.components)

    def request(self, options: Mapping[str, Any] | None = None) -> tuple[str | list[dict[str, Any]], dict[str, Any]]:
        """The `source` and `options` of a `/v1/score` request. For a mix, `options` maps each component's name
        to its options, plus the mix's own `on_unscored`."""
        options = dict(options or {})
        if not self.is_mix:
            return self.components[0][0], options
        unknown = sorted(set(options) - set(self.names) - {"on_unscored"})
        if unknown:
            raise ConfigError(f"options {', '.join(map(repr, unknown))} name no component of the mix {self}; for a "
                              f"mix, options maps each component's name to its options, plus 'on_unscored'")
        for name in self.names:
            if not isinstance(options.get(name, {}), Mapping):
                raise ConfigError(f"options[{name!r}] must be a JSON object of that source's options")
        mix = [{"source": name, "weight": weight, "options": dict(options.pop(name, {}))}
               for name, weight in self.components]
        return mix, options


def parse_source(text: str) -> SourceMix:
    """`name`, or a mix `name:weight,name:weight`; a `ConfigError` naming the bad part and the syntax otherwise."""
    components: list[tuple[str, float]] = []
    for part in (p.strip() for p in str(text).split(",")):
        name, sep, weight_text = part.partition(":")
        if not _NAME.match(name):
            raise ConfigError(f"source {text!r}: {part!r} is not a source name; {_SYNTAX}")
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
            if not math.isfinite(weight):
                raise ConfigError(f"source {text!r}: weight {weight_text!r} of {name!r} is not a finite number; "
                                  f"{_SYNTAX}")
        components.append((name, weight))
    names = [name for name, _ in components]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"source {text!r} names {', '.join(map(repr, twice))} twice; each source may appear "
                          "once in a mix")
    return SourceMix(tuple(components), is_mix=len(components) > 1 or ":" in str(text))


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
