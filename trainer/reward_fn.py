"""A reward function for `trl.GRPOTrainer(reward_funcs=[...])` that scores through the reward service.

    reward = ServiceReward("http://127.0.0.1:8000", source="math")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], ...)

TRL calls it with `prompts`, `completions`, `completion_ids` and every other dataset column as keyword
lists (the reference comes from the column named by `reference_column`). It is async, so TRL awaits it
together with other async reward functions; it is picklable (it holds no live client); TRL logs it
under `__name__`. Unscored items come back as `None`, which TRL turns into NaN
and leaves out of the reward instead of training on a fake 0. If the service stays unreachable after the
client's retries (and, with `deadline`, until that many seconds have passed), it raises
`RewardServiceError`: the trainer stops rather than guess.

Metrics it logs through TRL's `log_metric`: `<name>/unscored_frac` and `<name>/unscored/<reason>`, and for a
weighted mix `<name>/<component>/mean` and `/std` per source (over the samples that source scored); and
the reward-hacking signals `<name>/repeated_frac` (completions repeated within the batch) and, for a mix
of a verifier and a judge, `<name>/verifier_judge_disagreement`.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from referee.service.client import AsyncRewardClient, SourceSpec
from referee.service.monitors import verifier_judge_pairs
from referee.verifiers import Sample, Score

__all__ = ["ServiceReward", "as_text", "reward_metrics", "to_samples"]


def as_text(value: Any) -> str:
    """Plain text of a TRL prompt or completion: a string, or a conversation (list of messages)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _content(value.get("content"))
    if isinstance(value, Sequence):
        messages = [m for m in value if isinstance(m, Mapping)]
        if len(messages) == 1:
            return _content(messages[0].get("content"))
        return "\n\n".join(f"{m.get('role', 'user')}: {_content(m.get('content'))}" for m in messages)
    return str(value)


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "" if content is None else str(content)


def to_samples(prompts: Sequence[Any], completions: Sequence[Any], references: Sequence[Any] | None = None,
               metadata: Sequence[Any] | None = None) -> list[Sample]:
    """`Sample`s from TRL-style columns: prompts and completions as text or conversations, references (or None),
    metadata as dicts or JSON objects written as text."""
    out = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        ref = references[i] if references is not None else None
        meta = metadata[i] if metadata is not None else None
        if isinstance(meta, str) and meta.strip():
            meta = json.loads(meta)
        meta = meta if isinstance(meta, Mapping) else {}
        out.append(Sample(prompt=as_text(prompt), completion=as_text(completion),
                          reference=None if ref is None else str(ref), metadata=dict(meta)))
    return out


def reward_metrics(name: str, samples: Sequence[Sample], scores: Sequence[Score]) -> dict[str, float]:
    """What a trainer logs per reward batch, under `name`: the unscored fraction (overall and by reason), each
    mix component's mean and std, and the service's reward-hacking monitors (completions repeated within the
    batch; verifier-judge disagreement when the source mixes both)."""
    if not scores:
        return {}
    reasons = Counter(s.reason.value for s in scores if s.reason is not None)
    out = {f"{name}/unscored_frac": sum(reasons.values()) / len(scores)}
    out.update({f"{name}/unscored/{reason}": n / len(scores) for reason, n in reasons.items()})
    per_source: dict[str, list[float]] = {}
    for score in scores:
        for part in score.components or ():
            if part.value is not None:
                per_source.setdefault(part.source, []).append(part.value)
    for source, values in per_source.items():
        out[f"{name}/{source}/mean"] = statistics.fmean(values)
        out[f"{name}/{source}/std"] = statistics.pstdev(values)
    texts = [s.completion for s in samples]
    out[f"{name}/repeated_frac"] = 1 - len(set(texts)) / len(texts)
    pairs = [disagree for score in scores for _, _, disagree in verifier_judge_pairs(score)]
    if pairs:
        out[f"{name}/verifier_judge_disagreement"] = sum(pairs) / len(pairs)
    return out


class ServiceReward:
    """Scores TRL completions with `source` (a name or a weighted mix) at `url`.

    `reference_column`: dataset column holding the gold answer or tests. `metadata_column`: optional
    column of dicts (or JSON objects as text) passed as each sample's metadata. `name`: what TRL logs
    (default: the source name). `deadline`: seconds to keep trying while the service is unreachable or
    answers 429/5xx (default: give up after the client's `retries`). TRL sees only the values; the full
    `Score`s of the latest call (reasons, details) stay in `last_scores`, for the completions log.
    """

    def __init__(self, url: str, source: SourceSpec = "math", options: Mapping[str, Any] | None = None, *,
                 api_key: str | None = None, name: str | None = None, reference_column: str = "reference",
                 metadata_column: str = "metadata", timeout: float = 300.0, max_batch: int = 512,
                 retries: int = 6, deadline: float | None = None) -> None:
        self.url = url
        self.source = source if isinstance(source, str) else [dict(c) for c in source]
        self.options = dict(options or {})
        self.api_key = api_key
        self.__name__ = name or (source if isinstance(source, str) else "mix")
        self.reference_column = reference_column
        self.metadata_column = metadata_column
        self.timeout, self.max_batch, self.retries = timeout, max_batch, retries
        self.deadline = deadline
        self.last_scores: list[Score] = []

    def samples(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[Sample]:
        return to_samples(prompts, completions, columns.get(self.reference_column), columns.get(self.metadata_column))

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        samples = self.samples(prompts, completions, **kwargs)
        # A client per call: TRL calls once per generation batch, so pooling saves ~1 ms, while a client kept
        # across calls would be bound to whichever event loop made it.
        async with AsyncRewardClient(self.url, api_key=self.api_key, timeout=self.timeout, max_batch=self.max_batch,
                                     retries=self.retries, deadline=self.deadline) as client:
            scores = await client.score(self.source, samples, self.options)
        self.last_scores = scores
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if log_metric is not None:
            for key, value in reward_metrics(self.__name__, samples, scores).items():
                log_metric(key, value)
        return [s.value for s in scores]
