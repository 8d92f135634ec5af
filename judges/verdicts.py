"""Read a judge's verdict: from its written reply (parsed defensively) or its next-token distribution.

Written replies: the judge gives its reason first and then a `Verdict: X` line. Only the LAST
`Verdict:` match counts (a judge may quote or reconsider before concluding), the word after it must be a
whole word (`\\b`), and it must be in the allowed set; anything else is no verdict, which the judge turns
into an unscored `judge_parse_failure`. There is no fallback to "any Yes somewhere in the text".

Distributions: the value is an expected value over the allowed verdict tokens, each weighted by its
probability renormalised over the allowed set. If the judge puts almost no probability on any allowed
verdict, it was not answering the question, and that too is no verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["A_B", "YES_NO", "Distribution", "VerdictScale", "expected_value", "parse_verdict"]

_MARKER = re.compile(r"\bverdict\s*:", re.IGNORECASE)
_WORD = re.compile(r"[\s*_\"'\[(]*([A-Za-z]+)\b")


@dataclass(frozen=True)
class VerdictScale:
    """The allowed verdicts and the value each stands for."""

    values: dict[str, float]
    fold_case: bool
    """Whether "yes" and "YES" count as "Yes". Not for letters: a lower-case "a" is usually the article."""

    def variants(self) -> list[str]:
        """Token spellings counted for each verdict: as is (and other cases if folded), with a leading space."""
        out: list[str] = []
        for label in self.values:
            forms = (label, label.lower(), label.upper()) if self.fold_case else (label,)
            for form in dict.fromkeys(forms):
                out += [form, " " + form]
        return out

    def label_of(self, token: str) -> str | None:
        word = token.strip()
        if self.fold_case:
            return next((label for label in self.values if label.lower() == word.lower()), None)
        return word if word in self.values else None


YES_NO = VerdictScale({"Yes": 1.0, "No": 0.0}, fold_case=True)
A_B = VerdictScale({"A": 1.0, "B": 0.0}, fold_case=False)


def parse_verdict(reply: str, scale: VerdictScale) -> tuple[str | None, int | None]:
    """The verdict in the last `Verdict:` line and the offset just after that colon; (None, None) if none."""
    markers = list(_MARKER.finditer(reply))
    if not markers:
        return None, None
    last = markers[-1]
    m = _WORD.match(reply, last.end())
    if m is None:
        return None, None
    return scale.label_of(m.group(1)), last.end()


@dataclass(frozen=True)
class Distribution:
    value: float | None
    """Expected value over the allowed verdicts; None when `mass` is below the floor."""
    mass: float
    """Total probability the judge put on allowed verdict tokens (before renormalising)."""
    probs: dict[str, float]
    """Renormalised probability of each allowed verdict."""


def expected_value(logprobs: Mapping[str, float], scale: VerdictScale, *, min_mass: float) -> Distribution:
    """The expected verdict value from token log-probabilities (token spellings as in `scale.variants()`)."""
    per_label = dict.fromkeys(scale.values, 0.0)
    for token, lp in logprobs.items():
        label = scale.label_of(token)
        if label is not None and math.isfinite(lp):
            per_label[label] += math.exp(lp)
    mass = sum(per_label.values())
    if mass <= 0 or mass < min_mass:
        return Distribution(None, mass, {k: 0.0 for k in per_label})
    probs = {k: v / mass for k, v in per_label.items()}
    return Distribution(sum(scale.values[k] * p for k, p in probs.items()), mass, probs)
