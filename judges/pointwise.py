"""Pointwise judging: each (prompt, response) gets a value in [0, 1] for every principle.

All items x principles go to the backend in one batched call per step, so a local model runs full
batches and an HTTP server sees all requests at once (bounded by its limiter).
"""

from __future__ import annotations

from collections.abc import Sequence

from referee.verifiers import UnscoredReason

from .backends import Backend
from .constitution import Constitution
from .errors import BackendError
from .method import MethodSettings, Outcome, judge_messages, sigmoid
from .neutralise import neutralise
from .prompts import load_template
from .verdicts import YES_NO, VerdictScale, expected_value, parse_verdict

__all__ = ["POINTWISE_TEMPLATES", "judge_pointwise", "likelihood_deltas", "verdict_outcomes"]

POINTWISE_TEMPLATES = {"verdict": "pointwise.v1", "reasoned": "pointwise_reasoned.v1", "likelihood": "likelihood.v1"}

Item = tuple[str, str]  # (prompt, response)


async def judge_pointwise(c: Constitution, backend: Backend, settings: MethodSettings,
                          items: Sequence[Item]) -> list[dict[str, Outcome]]:
    """Per item, {principle id: Outcome}."""
    jobs = [(i, p) for i in range(len(items)) for p in c.principles]
    if settings.method == "likelihood":
        deltas = await likelihood_deltas(c, backend, items, per_token=settings.likelihood_per_token)
        outcomes = [_from_delta(deltas[i][p.id], settings) for i, p in jobs]
    else:
        template = load_template(POINTWISE_TEMPLATES[settings.method])
        prompts = [backend.chat(judge_messages(template, c, p, prompt=items[i][0], response=items[i][1]))
                   for i, p in jobs]
        outcomes = await verdict_outcomes(backend, settings, prompts, YES_NO)
    out: list[dict[str, Outcome]] = [{} for _ in items]
    for (i, p), o in zip(jobs, outcomes, strict=True):
        out[i][p.id] = o
    return out


async def verdict_outcomes(backend: Backend, settings: MethodSettings, prompts: Sequence[str],
                           scale: VerdictScale) -> list[Outcome]:
    """The expected verdict for each prompt, directly (`verdict`) or after a written reason (`reasoned`)."""
    if settings.method == "verdict":
        lps = await backend.next_token_logprobs(prompts, scale.variants())
        return [_from_distribution(lp, scale, settings, {}) for lp in lps]

    replies = await backend.generate(prompts, settings.max_reason_tokens)
    outcomes: list[Outcome | None] = [None] * len(prompts)
    follow: list[tuple[int, str, dict[str, str]]] = []
    for k, reply in enumerate(replies):
        if isinstance(reply, BackendError):
            outcomes[k] = Outcome(None, UnscoredReason.BACKEND_ERROR, str(reply))
            continue
        label, cut = parse_verdict(reply, scale)
        if label is None or cut is None:
            allowed = " or ".join(f"'Verdict: {v}'" for v in scale.values)
            outcomes[k] = Outcome(None, UnscoredReason.JUDGE_PARSE_FAILURE,
                                  f"the judge's reply does not end in {allowed}; a larger judge model or the "
                                  "`verdict` method avoids free-text parsing", {"reply": reply})
            continue
        follow.append((k, prompts[k] + reply[:cut], {"reply": reply, "verdict": label}))
    lps = await backend.next_token_logprobs([f[1] for f in follow], scale.variants())
    for (k, _, details), lp in zip(follow, lps, strict=True):
        outcomes[k] = _from_distribution(lp, scale, settings, details)
    return [o for o in outcomes if o is not None]


def _from_distribution(lp: dict[str, float] | BackendError, scale: VerdictScale, settings: MethodSettings,
                       details: dict[str, str]) -> Outcome:
    if isinstance(lp, BackendError):
        return Outcome(None, UnscoredReason.BACKEND_ERROR, str(lp), dict(details))
    dist = expected_value(lp, scale, min_mass=settings.min_verdict_mass)
    info = {**details, "verdict_mass": round(dist.mass, 6), "probs": {k: round(v, 6) for k, v in dist.probs.items()}}
    if dist.value is None:
        return Outcome(None, UnscoredReason.JUDGE_PARSE_FAILURE,
                       f"the judge put {dist.mass:.2%} probability on the allowed verdicts "
                       f"({', '.join(scale.values)}), under min_verdict_mass={settings.min_verdict_mass:g}", info)
    return Outcome(dist.value, details=info)


async def likelihood_deltas(c: Constitution, backend: Backend, items: Sequence[Item], *,
                            per_token: bool) -> list[dict[str, float | BackendError]]:
    """Per item and principle, the log-likelihood gain (nats) of the response under the principle.

    Per token when `per_token`; otherwise the total.
    """
    template = load_template(POINTWISE_TEMPLATES["likelihood"])

    def prompt(prompt_text: str, system: str) -> str:
        return backend.chat([{"role": "system", "content": system},
                             {"role": "user", "content": template.render("user", {"prompt": neutralise(prompt_text)})}])

    neutral_system = template.render("neutral", {})
    conditioned = {p.id: template.render("conditioned", {"principle": p.text}) for p in c.principles}
    prompts: list[str] = []
    continuations: list[str] = []
    for prompt_text, response in items:
        continuation = neutralise(response) + backend.turn_end
        for system in (neutral_system, *conditioned.values()):
            prompts.append(prompt(prompt_text, system))
            continuations.append(continuation)
    seqs = await backend.sequence_logprobs(prompts, continuations)
    width = 1 + len(c.principles)
    out: list[dict[str, float | BackendError]] = []
    for i in range(len(items)):
        neutral, *rest = seqs[i * width : (i + 1) * width]
        row: dict[str, float | BackendError] = {}
        for p, cond in zip(c.principles, rest, strict=True):
            if isinstance(neutral, BackendError):
                row[p.id] = neutral
            elif isinstance(cond, BackendError):
                row[p.id] = cond
            else:
                gain = cond.logprob - neutral.logprob
                row[p.id] = gain / max(1, cond.tokens) if per_token else gain
        out.append(row)
    return out


def _from_delta(delta: float | BackendError, settings: MethodSettings) -> Outcome:
    if isinstance(delta, BackendError):
        return Outcome(None, UnscoredReason.BACKEND_ERROR, str(delta))
    return Outcome(sigmoid(settings.likelihood_scale * delta), details={"gain": round(delta, 6)})

