"""Preference pairs from comparisons: which pairs are safe to train on, and the DPO row each one becomes.

    kept, dropped = select_pairs(pairs, comparisons, min_confidence=0.6, keep_inconsistent=False)
    print(dropped.summary(len(pairs)))   # "kept 3 of 5 pairs; dropped 2: inconsistent 1 (...), ..."

A comparison is P(a is better) from `/v1/compare` or `Judge.compare`. By default a pair is dropped when:

- `unscored`: the comparison has no value (the reason is counted too, e.g. `judge_parse_failure`);
- `identical`: a and b are the same text: there is no preference to learn, whatever the judge said;
- `inconsistent`: the judge preferred a when a was shown first and b when b was (its verdict follows the
  position, not the replies: the position bias LLM judges are known for). `keep_inconsistent` keeps them;
  a reward model has no presentation order, so its comparisons are always consistent;
- `low_confidence`: confidence = max(p, 1 - p) is below `min_confidence` (default 0.6, i.e. |p - 0.5| >= 0.1).
  A pair the judge barely separates is closer to noise than to a label. `min_confidence 0` keeps them.

Kept pairs become TRL DPO rows, `{prompt, chosen, rejected}` (plain strings, or TRL's conversational form),
with `confidence`, `consistent`, `p_a_better` and the labeller's provenance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from referee.judges import Comparison, Pair
from referee.verifiers import ConfigError

__all__ = ["DEFAULT_MIN_CONFIDENCE", "Dropped", "check_min_confidence", "dpo_row", "labeller", "select_pairs"]

DEFAULT_MIN_CONFIDENCE = 0.6

_WHY = {
    "unscored": "the comparison could not be made",
    "identical": "a and b are the same text",
    "tie": "P(a better) is exactly 0.5: no preference",
    "inconsistent": "the two presentation orders disagree; --keep_inconsistent keeps them",
    "low_confidence": "confidence max(p, 1-p) below --min_confidence {min_confidence:g}; --min_confidence 0 keeps them",
}


@dataclass
class Dropped:
    """How many pairs were dropped, and why (`reasons`); for unscored ones, the unscored reasons too."""

    min_confidence: float
    reasons: Counter[str] = field(default_factory=Counter)
    unscored: Counter[str] = field(default_factory=Counter)

    def summary(self, total: int) -> str:
        kept = total - sum(self.reasons.values())
        if not self.reasons:
            return f"kept {kept} of {total} pairs; dropped none"
        parts = []
        for reason, n in self.reasons.most_common():
            why = _WHY[reason].format(min_confidence=self.min_confidence)
            if reason == "unscored" and self.unscored:
                why += ": " + ", ".join(f"{r} {k}" for r, k in self.unscored.most_common())
            parts.append(f"{reason} {n} ({why})")
        return f"kept {kept} of {total} pairs; dropped {sum(self.reasons.values())}: " + "; ".join(parts)


def check_min_confidence(value: float) -> float:
    if not 0 <= value <= 1:
        raise ConfigError(f"min_confidence must lie in [0, 1] (a confidence is max(p, 1-p)), got {value}; "
                          f"{DEFAULT_MIN_CONFIDENCE} drops pairs with |p - 0.5| < 0.1, 0 keeps every pair")
    return value


def labeller(source: str, comparison: Comparison) -> dict[str, Any]:
    """The provenance a row carries: for the judge its constitution, sha256, model and method; for a reward model
    its folder name and weights' sha256."""
    d = comparison.details
    if source == "judge":
        judge = d.get("judge") or {}
        return {"judge": {"constitution": d.get("constitution"), "sha256": d.get("constitution_sha256"),
                          "model": judge.get("model"), "method": judge.get("method")}}
    own = d.get(source)  # a reward model's provenance: folder name, weights' and tokenizer's sha256, format
    return {source: dict(own) if isinstance(own, Mapping) else {}}


def dpo_row(prompt: str, chosen: str, rejected: str, fmt: str = "standard") -> dict[str, Any]:
    """A TRL DPO row: plain strings, or (`fmt="conversational"`) chat messages."""
    if fmt == "conversational":
        return {"prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def select_pairs(pairs: Sequence[Pair], comparisons: Sequence[Comparison | None], *, min_confidence: float,
                 keep_inconsistent: bool, source: str = "judge", fmt: str = "standard",
                 extra: Sequence[Mapping[str, Any]] | None = None) -> tuple[list[dict[str, Any]], Dropped]:
    """The DPO rows of the pairs worth keeping (module docstring), in input order, and what was dropped.
    A comparison of None means the pair was not sent (identical texts). `extra[i]` is merged into row i."""
    dropped = Dropped(check_min_confidence(min_confidence))
    rows = []
    for i, (pair, c) in enumerate(zip(pairs, comparisons, strict=True)):
        if pair.a == pair.b:
            dropped.reasons["identical"] += 1
            continue
        if c is None or c.p_a_better is None:
            dropped.reasons["unscored"] += 1
            dropped.unscored[c.reason.value if c is not None and c.reason is not None else "unknown"] += 1
            continue
        if c.consistent is False and not keep_inconsistent:
            dropped.reasons["inconsistent"] += 1
            continue
        confidence = max(c.p_a_better, 1 - c.p_a_better)
        if c.p_a_better == 0.5:  # no preference at all: which side is "chosen" would be the presentation order
            dropped.reasons["tie"] += 1
            continue
        if confidence < min_confidence:
            dropped.reasons["low_confidence"] += 1
            continue
        chosen, rejected = (pair.a, pair.b) if c.p_a_better >= 0.5 else (pair.b, pair.a)
        rows.append(dpo_row(pair.prompt, chosen, rejected, fmt) | {
            "confidence": round(confidence, 6), "consistent": c.consistent, "p_a_better": round(c.p_a_better, 6),
            **labeller(source, c), **(dict(extra[i]) if extra is not None else {})})
    return rows, dropped
