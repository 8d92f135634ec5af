"""A reward function for `trl.GRPOTrainer(reward_funcs=[...])` that scores through the reward service.

    reward = ServiceReward("http://127.0.0.1:8000", source="math")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], ...)

TRL calls it with `prompts`, `completions`, `completion_ids` and every other dataset column as keyword
lists (the reference comes from the column named by `reference_column`). It is async, so TRL awaits it
together with other async reward functions; it is picklable (it holds no live client); TRL logs it
under `__name__`. Unscored items come back as `None`, which TRL turns into NaN
and leaves out of the reward instead of training on a fake 0. If the service stays unreachable after the
client's retries, it raises `RewardServiceError`: the trainer stops rather than guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from referee.service.client import AsyncRewardClient, SourceSpec
from referee.verifiers import Sample, Score

__all__ = ["ServiceReward", "as_text"]


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


class ServiceReward:
    """Scores TRL completions with `source` (a name or a weighted mix) at `url`.

    `reference_column`: dataset column holding the gold answer or tests. `metadata_column`: optional
    column of dicts passed as each sample's metadata. `name`: what TRL logs (default: the source name).
    After each call, `last_scores` holds the full `Score`s (reasons, details) for logging.
    """

    def __init__(self, url: str, source: SourceSpec = "math", options: Mapping[str, Any] | None = None, *,
                 api_key: str | None = None, name: str | None = None, reference_column: str = "reference",
                 metadata_column: str = "metadata", timeout: float = 300.0, max_batch: int = 512,
                 retries: int = 6) -> None:
        self.url = url
        self.source = source if isinstance(source, str) else [dict(c) for c in source]
        self.options = dict(options or {})
        self.api_key = api_key
        self.__name__ = name or (source if isinstance(source, str) else "mix")
        self.reference_column = reference_column
        self.metadata_column = metadata_column
        self.timeout, self.max_batch, self.retries = timeout, max_batch, retries
        self.last_scores: list[Score] = []

    def samples(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[Sample]:
        refs = columns.get(self.reference_column)
        metas = columns.get(self.metadata_column)
        out = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            ref = refs[i] if refs is not None else None
            meta = metas[i] if metas is not None and isinstance(metas[i], Mapping) else {}
            out.append(Sample(prompt=as_text(prompt), completion=as_text(completion),
                              reference=None if ref is None else str(ref), metadata=dict(meta)))
        return out

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        samples = self.samples(prompts, completions, **kwargs)
        # A client per call: TRL calls once per generation batch, so pooling saves ~1 ms, while a client
        # kept across calls would be bound to whichever event loop made it.
        async with AsyncRewardClient(self.url, api_key=self.api_key, timeout=self.timeout,
                                     max_batch=self.max_batch, retries=self.retries) as client:
            scores = await client.score(self.source, samples, self.options)
        self.last_scores = scores
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if log_metric is not None and scores:
            reasons = Counter(s.reason.value for s in scores if s.reason is not None)
            log_metric(f"{self.__name__}/unscored_frac", sum(reasons.values()) / len(scores))
            for reason, n in reasons.items():
                log_metric(f"{self.__name__}/unscored/{reason}", n / len(scores))
        return [s.value for s in scores]
