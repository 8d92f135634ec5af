"""Reward-hacking monitors, exported with the other metrics.

A policy that games its reward usually shows it before the reward curve does:
- completions drift in length (padding a judge, or truncating to dodge a verifier):
  `referee_completion_chars` (histogram) and `referee_completion_chars_ewma` per source;
- the same completion comes back again and again (a collapsed policy or a found exploit):
  `referee_repeated_completions` counts completions already seen among the last `window` ones;
- a verifier and a judge scored the same sample and disagree (the judge rewards what the checker
  rejects, or the reverse): `referee_verifier_judge_disagreements` against `referee_verifier_judge_pairs`;
- the unscored rate jumps (the policy found inputs that break a checker): `referee_unscored_rate_ewma`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from referee.verifiers import Sample, Score

__all__ = ["HackingMonitors", "verifier_judge_pairs"]

_LENGTH_BUCKETS = (16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536)
_EWMA_ALPHA = 0.05  # per request: a few dozen requests of memory


def _is_judge(source: str) -> bool:
    return source == "judge" or source.startswith("judge")


def verifier_judge_pairs(score: Score) -> list[tuple[str, str, bool]]:
    """For a mix's score: each (verifier, judge, disagree) among its scored components, where they disagree
    if one passes (>= 0.5) and the other fails (< 0.5)."""
    passed = {c.source: c.value >= 0.5 for c in score.components or () if c.value is not None}
    judges = [name for name in passed if _is_judge(name)]
    return [(v, j, passed[v] != passed[j]) for v in passed if not _is_judge(v) for j in judges]


class HackingMonitors:
    def __init__(self, registry: CollectorRegistry, window: int = 50_000) -> None:
        self.length = Histogram("referee_completion_chars", "Completion length in characters, by source.",
                                ["source"], buckets=_LENGTH_BUCKETS, registry=registry)
        self.length_ewma = Gauge("referee_completion_chars_ewma",
                                 "Moving average of completion length per request, by source.", ["source"],
                                 registry=registry)
        self.repeated = Counter("referee_repeated_completions",
                                "Completions identical to one among the last `window` seen, by source.",
                                ["source"], registry=registry)
        self.pairs = Counter("referee_verifier_judge_pairs", "Samples scored by both a verifier and a judge.",
                             ["verifier", "judge"], registry=registry)
        self.disagreements = Counter(
            "referee_verifier_judge_disagreements",
            "Samples where the verifier passed (>= 0.5) and the judge failed (< 0.5), or the reverse.",
            ["verifier", "judge"], registry=registry)
        self.unscored_ewma = Gauge("referee_unscored_rate_ewma",
                                   "Moving average of the unscored fraction per request, by source.", ["source"],
                                   registry=registry)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._window = window
        self._ewma: dict[tuple[str, str], float] = {}

    def _smooth(self, gauge: Gauge, kind: str, source: str, value: float) -> None:
        key = (kind, source)
        prev = self._ewma.get(key)
        self._ewma[key] = value if prev is None else prev + _EWMA_ALPHA * (value - prev)
        gauge.labels(source).set(self._ewma[key])

    def observe(self, source: str, samples: Sequence[Sample], scores: Sequence[Score]) -> None:
        if not samples:
            return
        lengths = [len(s.completion) for s in samples]
        for n in lengths:
            self.length.labels(source).observe(n)
        self._smooth(self.length_ewma, "length", source, sum(lengths) / len(lengths))
        unscored = sum(1 for s in scores if s.value is None)
        self._smooth(self.unscored_ewma, "unscored", source, unscored / len(scores))
        repeats = 0
        for sample in samples:
            digest = hashlib.blake2b(sample.completion.encode(), digest_size=16).digest()
            if digest in self._seen:
                repeats += 1
                self._seen.move_to_end(digest)
            else:
                self._seen[digest] = None
                if len(self._seen) > self._window:
                    self._seen.popitem(last=False)
        if repeats:
            self.repeated.labels(source).inc(repeats)
        for score in scores:
            self._disagreement(score)

    def _disagreement(self, score: Score) -> None:
        for verifier, judge, disagree in verifier_judge_pairs(score):
            self.pairs.labels(verifier, judge).inc()
            if disagree:
                self.disagreements.labels(verifier, judge).inc()
