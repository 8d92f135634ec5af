"""Scoring methods and what one principle's judgement of one item produces (`Outcome`).

- `verdict`: ask for a one-word verdict ("Yes"/"No", or "A"/"B" for a pair) and read the judge's
  next-token distribution over the allowed verdicts: the value is the expected verdict, P(Yes) or P(A).
- `reasoned`: the judge writes a reason, then a `Verdict:` line (greedy decoding). The verdict is parsed
  defensively (`referee.judges.verdicts`); the value is the expected verdict read from the distribution at
  the parsed verdict's position, so it stays a probability conditioned on the judge's own reasoning.
- `likelihood`: no question at all. How much more likely is the response when the model is told to
  follow the principle than when it is not? `g = log p(response | principle prompt) - log p(response |
  neutral prompt)`, a log-likelihood ratio in nats (a log Bayes factor for "written by an assistant
  following the principle" against "written by a plain assistant"). The value is
  `sigmoid(likelihood_scale * g)`; for a pair, `sigmoid(likelihood_scale * (g_a - g_b))`. It draws on
  what even a small model does well (predicting text) instead of what it does badly (answering
  questions about text), and has no presentation order to be biased by. `likelihood_per_token` divides
  g by the response's token count (length-normalised; it then favours short replies, whose first tokens
  gain the most).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from referee.verifiers import UnscoredReason

from .constitution import Constitution, Principle
from .neutralise import neutralise
from .prompts import Template

__all__ = ["Method", "MethodSettings", "Outcome", "judge_messages", "sigmoid"]

Method = Literal["verdict", "reasoned", "likelihood"]


@dataclass(frozen=True)
class MethodSettings:
    method: Method = "verdict"
    min_verdict_mass: float = 0.01
    """Below this total probability on the allowed verdict tokens, the judge did not answer: no verdict."""
    max_reason_tokens: int = 96
    likelihood_scale: float = 0.25
    likelihood_per_token: bool = False

    def provenance(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.method == "likelihood":
            out["likelihood_scale"] = self.likelihood_scale
            out["likelihood_per_token"] = self.likelihood_per_token
        else:
            out["min_verdict_mass"] = self.min_verdict_mass
        if self.method == "reasoned":
            out["max_reason_tokens"] = self.max_reason_tokens
        return out


@dataclass(frozen=True)
class Outcome:
    """One principle's judgement of one item: a value in [0, 1], or None with a reason."""

    value: float | None
    reason: UnscoredReason | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, **self.details}
        if self.reason is not None:
            out["reason"] = str(self.reason)
            out["error"] = self.error
        return out


def judge_messages(template: Template, c: Constitution, p: Principle, **texts: str) -> list[dict[str, str]]:
    """System and user messages for one principle; the policy's `texts` are neutralised first."""
    values = {"preamble": c.preamble, "principle": p.text, **{k: neutralise(v) for k, v in texts.items()}}
    return [{"role": "system", "content": template.render("system", values)},
            {"role": "user", "content": template.render("user", values)}]


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
