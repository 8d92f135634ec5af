"""Reward-hacking monitors, exported with the other metrics.

A policy that games its reward usually shows it before the reward curve does:
- completions drift in length (padding a judge, or truncating to dodge a verifier):
  `referee_completion_chars` (histogram) and `referee_completion_chars_ewma` per source;
- the same completion comes back again and again (a collapsed policy or a found exploit):
  `referee_repeated_completions` counts completions already seen among the last `window` ones;
- a verifier and a judge scored the same sample and disagree (the judge rewards what the checker
  rejects, or the reverse): `referee_verifier_judge_disagreements` against `referee_verifier_judge_pairs`;
- the unscored rate jumps (the policy found inputs that break a checker): `referee_unscored_rate_ewma`;
- a proxy reward (a learned scorer: an LLM judge or a reward model) keeps rising while the gold reward (a
  verifier scoring the same samples) falls: the over-optimisation curve of Gao et al. (2022).
  `referee_proxy_up_gold_down` is 1 while that holds, with `referee_gold_drop` (the smoothed gold's fall from
  its best) and `referee_proxy_gain` (the smoothed proxy's rise since then), per (verifier, proxy) pair of a
  mix. `ProxyGoldTrend` is the rule, shared with the trainers (which feed it training reward and held-out
  accuracy per evaluation).
"""

from __future__ import annotations

import hashlib
import statistics
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from referee.verifiers import Sample, Score

__all__ = ["HackingMonitors", "ProxyGoldTrend", "is_proxy", "verifier_judge_pairs", "verifier_proxy_values"]

_LENGTH_BUCKETS = (16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536)
_EWMA_ALPHA = 0.05  # per request: a few dozen requests of memory
_GOLD_TOLERANCE = 0.05  # a verifier's score lies in [0, 1]: a fall of 5 points of its smoothed mean


def _is_judge(source: str) -> bool:
    return source == "judge" or source.startswith("judge")


def verifier_judge_pairs(score: Score) -> list[tuple[str, str, bool]]:
    """For a mix's score: each (verifier, judge, disagree) among its scored components, where they disagree
    if one passes (>= 0.5) and the other fails (< 0.5)."""
    passed = {c.source: c.value >= 0.5 for c in score.components or () if c.value is not None}
    judges = [name for name in passed if _is_judge(name)]
    return [(v, j, passed[v] != passed[j]) for v in passed if not _is_judge(v) for j in judges]


def is_proxy(source: str) -> bool:
    """A learned scorer, which a policy can over-optimise: an LLM judge or a reward model. Verifiers are gold."""
    return _is_judge(source) or source.startswith("reward_model")


def verifier_proxy_values(score: Score) -> list[tuple[str, str, float, float]]:
    """For a mix's score: (verifier, proxy, verifier's value, proxy's value) for each pair of its scored components."""
    values = {c.source: float(c.value) for c in score.components or () if c.value is not None}
    return [(v, p, values[v], values[p]) for v in values if not is_proxy(v) for p in values if is_proxy(p)]


@dataclass
class ProxyGoldTrend:
    """Is the proxy reward rising while the gold reward falls (Gao et al. 2022, reward over-optimisation)?

    `update(proxy, gold)` takes one observation of each (the means over a batch of samples, or over a training
    interval), smoothed by an EWMA of weight `alpha` (1: no smoothing). The trend remembers the smoothed gold's
    best and the smoothed proxy at that moment. `diverging` holds when the gold has since fallen by more than
    `tolerance` while the proxy has risen above its value then: the proxy says "better" as the gold says "worse".
    The proxy's scale does not matter (a reward model's is arbitrary); the tolerance is in the gold's units.
    """

    alpha: float = 1.0
    tolerance: float = 0.05
    proxy: float | None = None
    gold: float | None = None
    best_gold: float | None = None
    proxy_at_best: float | None = None

    def update(self, proxy: float, gold: float) -> None:
        self.proxy = proxy if self.proxy is None else self.proxy + self.alpha * (proxy - self.proxy)
        self.gold = gold if self.gold is None else self.gold + self.alpha * (gold - self.gold)
        if self.best_gold is None or self.gold >= self.best_gold:
            self.best_gold, self.proxy_at_best = self.gold, self.proxy

    @property
    def gold_drop(self) -> float:
        return 0.0 if self.gold is None or self.best_gold is None else self.best_gold - self.gold

    @property
    def proxy_gain(self) -> float:
        return 0.0 if self.proxy is None or self.proxy_at_best is None else self.proxy - self.proxy_at_best

    @property
    def diverging(self) -> bool:
        return self.gold_drop > self.tolerance and self.proxy_gain > 0


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
        self.gold_drop = Gauge("referee_gold_drop", "Fall of the verifier's smoothed mean score from its best, on "
                               "samples a proxy scored too.", ["verifier", "proxy"], registry=registry)
        self.proxy_gain = Gauge("referee_proxy_gain", "Rise of the proxy's smoothed mean score since the verifier's "
                                "best.", ["verifier", "proxy"], registry=registry)
        self.proxy_up_gold_down = Gauge(
            "referee_proxy_up_gold_down", "1 while the proxy's smoothed score rises and the verifier's has fallen "
            f"by more than {_GOLD_TOLERANCE} from its best (reward over-optimisation), else 0.", ["verifier", "proxy"],
            registry=registry)
        self._trends: dict[tuple[str, str], ProxyGoldTrend] = {}
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
        self._trend(scores)

    def _trend(self, scores: Sequence[Score]) -> None:
        pairs: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for score in scores:
            for verifier, proxy, gold, value in verifier_proxy_values(score):
                golds, proxies = pairs.setdefault((verifier, proxy), ([], []))
                golds.append(gold)
                proxies.append(value)
        for (verifier, proxy), (golds, proxies) in pairs.items():
            trend = self._trends.setdefault((verifier, proxy), ProxyGoldTrend(_EWMA_ALPHA, _GOLD_TOLERANCE))
            trend.update(statistics.fmean(proxies), statistics.fmean(golds))
            self.gold_drop.labels(verifier, proxy).set(trend.gold_drop)
            self.proxy_gain.labels(verifier, proxy).set(trend.proxy_gain)
            self.proxy_up_gold_down.labels(verifier, proxy).set(1.0 if trend.diverging else 0.0)

    def _disagreement(self, score: Score) -> None:
        for verifier, judge, disagree in verifier_judge_pairs(score):
            self.pairs.labels(verifier, judge).inc()
            if disagree:
                self.disagreements.labels(verifier, judge).inc()
