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

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from referee.service.client import AsyncRewardClient, RewardServiceError, SourceSpec
from referee.service.monitors import verifier_judge_pairs
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
    column of dicts (or JSON objects as text) passed as each sample's metadata. `name`: what TRL logs
    (default: the source name). `deadline`: seconds to keep trying while the service is unreachable or
    answers 429/5xx (default: give up after the client's `retries`). After each call, `last_scores` holds
    the full `Score`s (reasons, details) for logging.
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
        refs = columns.get(self.reference_column)
        metas = columns.get(self.metadata_column)
        out = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            ref = refs[i] if refs is not None else None
            meta = metas[i] if metas is not None else None
            if isinstance(meta, str) and meta.strip():
                meta = json.loads(meta)
            meta = meta if isinstance(meta, Mapping) else {}
            out.append(Sample(prompt=as_text(prompt), completion=as_text(completion),
                              reference=None if ref is None else str(ref), metadata=dict(meta)))
        return out

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        samples = self.samples(prompts, completions, **kwargs)
        scores = await self._score(samples)
        self.last_scores = scores
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if log_metric is not None and scores:
            reasons = Counter(s.reason.value for s in scores if s.reason is not None)
            log_metric(f"{self.__name__}/unscored_frac", sum(reasons.values()) / len(scores))
            for reason, n in reasons.items():
                log_metric(f"{self.__name__}/unscored/{reason}", n / len(scores))
            self._log_components(scores, log_metric)
            self._log_hacking_signals(samples, scores, log_metric)
        return [s.value for s in scores]

    def _log_hacking_signals(self, samples: Sequence[Sample], scores: Sequence[Score],
                             log_metric: Callable[[str, float], None]) -> None:
        """The service's reward-hacking monitors, per step: completions repeated within the batch, and
        verifier-judge disagreement when the source is a mix of both."""
        texts = [s.completion for s in samples]
        log_metric(f"{self.__name__}/repeated_frac", 1 - len(set(texts)) / len(texts))
        pairs = [disagree for score in scores for _, _, disagree in verifier_judge_pairs(score)]
        if pairs:
            log_metric(f"{self.__name__}/verifier_judge_disagreement", sum(pairs) / len(pairs))

    async def _score(self, samples: list[Sample]) -> list[Score]:
        start = time.monotonic()
        while True:
            try:
                # A client per call: TRL calls once per generation batch, so pooling saves ~1 ms, while a client
                # kept across calls would be bound to whichever event loop made it.
                async with AsyncRewardClient(self.url, api_key=self.api_key, timeout=self.timeout,
                                             max_batch=self.max_batch, retries=self.retries) as client:
                    return await client.score(self.source, samples, self.options)
            except RewardServiceError as exc:
                refused = exc.status is not None and exc.status != 429 and exc.status < 500
                if refused or self.deadline is None:
                    raise
                waited = time.monotonic() - start
                if waited >= self.deadline:
                    raise RewardServiceError(f"the reward service at {self.url} did not answer for {waited:.0f}s "
                                             f"(deadline {self.deadline:g}s); last error: {exc}", exc.status) from exc
                await asyncio.sleep(min(5.0, self.deadline - waited))

    def _log_components(self, scores: Sequence[Score], log_metric: Callable[[str, float], None]) -> None:
        per_source: dict[str, list[float]] = {}
        for score in scores:
            for part in score.components or ():
                if part.value is not None:
                    per_source.setdefault(part.source, []).append(part.value)
        for source, values in per_source.items():
            log_metric(f"{self.__name__}/{source}/mean", statistics.fmean(values))
            log_metric(f"{self.__name__}/{source}/std", statistics.pstdev(values))
