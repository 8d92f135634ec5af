"""Pairwise judging: for each (prompt, a, b), P(a is better) under every principle, order-debiased.

A judge asked "A or B?" tends to favour one slot whatever the replies say; a small one may answer A
every time. So each pair is judged in both presentation orders: `a_first` = P(a wins | a shown as A),
`a_second` = P(a wins | a shown as B) = 1 - P(A | b shown as A). The value is their mean, and
`consistent` says whether both orders prefer the same reply. A pure slot preference gives a_first near
1 and a_second near 0: mean 0.5, inconsistent, which is the honest answer. The `likelihood` method scores
each reply on its own, so it has no order and is consistent by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

from referee.verifiers import UnscoredReason

from .backends import Backend
from .constitution import Constitution
from .errors import BackendError
from .method import MethodSettings, Outcome, judge_messages, sigmoid
from .pointwise import likelihood_deltas, verdict_outcomes
from .prompts import load_template
from .verdicts import A_B

__all__ = ["PAIRWISE_TEMPLATES", "judge_pairwise"]

PAIRWISE_TEMPLATES = {"verdict": "pairwise.v1", "reasoned": "pairwise_reasoned.v1", "likelihood": "likelihood.v1"}

Pair = tuple[str, str, str]  # (prompt, a, b)


async def judge_pairwise(c: Constitution, backend: Backend, settings: MethodSettings,
                         pairs: Sequence[Pair]) -> list[dict[str, Outcome]]:
    """Per pair, {principle id: Outcome with value P(a better) and details a_first, a_second, consistent}."""
    if settings.method == "likelihood":
        return await _by_likelihood(c, backend, settings, pairs)
    template = load_template(PAIRWISE_TEMPLATES[settings.method])
    jobs = [(i, p, swap) for i in range(len(pairs)) for p in c.principles for swap in (False, True)]
    prompts = []
    for i, p, swap in jobs:
        prompt, a, b = pairs[i]
        first, second = (b, a) if swap else (a, b)
        prompts.append(backend.chat(judge_messages(template, c, p, prompt=prompt, response_a=first, response_b=second)))
    judged = await verdict_outcomes(backend, settings, prompts, A_B)
    out: list[dict[str, Outcome]] = [{} for _ in pairs]
    for k in range(0, len(jobs), 2):
        i, p, _ = jobs[k]
        out[i][p.id] = _combine(judged[k], judged[k + 1])
    return out


def _combine(a_shown_first: Outcome, a_shown_second: Outcome) -> Outcome:
    details = {"a_first": a_shown_first.as_dict(), "a_second": a_shown_second.as_dict()}
    for o in (a_shown_first, a_shown_second):
        if o.value is None:
            return Outcome(None, o.reason or UnscoredReason.SOURCE_ERROR, o.error, details)
    assert a_shown_first.value is not None and a_shown_second.value is not None
    p1 = a_shown_first.value          # P(A) with a in slot A
    p2 = 1.0 - a_shown_second.value   # P(B) with a in slot B
    return Outcome((p1 + p2) / 2, details={"p_a_first": round(p1, 6), "p_a_second": round(p2, 6),
                                           "consistent": (p1 - 0.5) * (p2 - 0.5) > 0, **details})


async def _by_likelihood(c: Constitution, backend: Backend, settings: MethodSettings,
                         pairs: Sequence[Pair]) -> list[dict[str, Outcome]]:
    items = [(prompt, text) for prompt, a, b in pairs for text in (a, b)]
    deltas = await likelihood_deltas(c, backend, items, per_token=settings.likelihood_per_token)
    out: list[dict[str, Outcome]] = []
    for i in range(len(pairs)):
        da, db = deltas[2 * i], deltas[2 * i + 1]
        row: dict[str, Outcome] = {}
        for p in c.principles:
            ga, gb = da[p.id], db[p.id]
            if isinstance(ga, BackendError) or isinstance(gb, BackendError):
                row[p.id] = Outcome(None, UnscoredReason.BACKEND_ERROR, str(ga if isinstance(ga, BackendError) else gb))
                continue
            value = sigmoid(settings.likelihood_scale * (ga - gb))
            row[p.id] = Outcome(value, details={"p_a_first": round(value, 6), "p_a_second": round(value, 6),
                                                "consistent": True, "gain_a": round(ga, 6), "gain_b": round(gb, 6)})
        out.append(row)
    return out
