"""Reward source `judge`: an LLM judge scoring responses against a versioned constitution (RLAIF).

    {"source": "judge", "options": {"constitution": "hhh@1", "method": "likelihood"}}

- `mode="pointwise"`: each sample's value is the weighted mean over principles of the judge's expected
  verdict (see `referee.judges.method` for the three methods), in [0, 1].
- `mode="pairwise"`: the value is P(completion is better than `reference`), judged in both orders and
  averaged; `reference` holds the baseline reply (e.g. the reference policy's). No reference: unscored.

`Judge.compare` answers `POST /v1/compare` and the preference-data CLI with the full breakdown.

Length bias: judges, large and small, tend to prefer longer replies. `length_penalty` (default 0, off)
lowers the judge's log-odds by that much per 100 words of the reply (pointwise), or of the reply's
excess over the other one (pairwise), after the principles are combined; per-principle values stay raw.
For the `likelihood` method, `likelihood_per_token` normalises by length instead (a gain per token).

Every score carries provenance in `details`: the constitution (`name@version`, or `inline`) and its
sha256, whether it is a released version, and the judge (model, backend, method, template and its sha256,
sampling). Judgements are cached per runtime (`referee.judges.cache`); a cached score says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from referee.verifiers import ConfigError, Runtime, Sample, Score, UnscoredReason

from .backends import Backend, BackendConfig, Message, open_backend
from .cache import CACHE_KEY, JudgeCache, cache_key
from .constitution import Constitution, InlineConstitution
from .embedded import embedded_gguf_path
from .environment import constitution_library
from .errors import BackendError
from .method import Method, MethodSettings, Outcome, sigmoid
from .pairwise import PAIRWISE_TEMPLATES, judge_pairwise
from .pointwise import POINTWISE_TEMPLATES, judge_pointwise
from .prompts import load_template

__all__ = ["Comparison", "Judge", "JudgeConfig", "Pair"]


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    constitution: str | InlineConstitution = Field(
        "hhh", description="'name' (latest version), 'name@version', or an inline {principles: [{id, text, weight}]}.")
    mode: Literal["pointwise", "pairwise"] = Field(
        "pointwise", description="pointwise: judge each completion; pairwise: P(completion beats `reference`).")
    method: Method = Field("verdict", description="verdict | reasoned | likelihood; see referee.judges.method.")
    backend: BackendConfig = Field(
        default_factory=BackendConfig, json_schema_extra={"operator_only": True},
        description="Where the judge model runs. Operator-only in the service: a request must not make the "
        "server load a model folder or call a URL of its choosing.")
    length_penalty: float = Field(
        0.0, ge=0, le=100, description="Log-odds taken off per 100 words of the reply (pairwise: of its excess).")
    min_verdict_mass: float = Field(
        0.01, gt=0, lt=1, description="Least probability on allowed verdict tokens; below it: judge_parse_failure.")
    max_reason_tokens: int = Field(96, ge=8, le=2048, description="Longest written reason (method=reasoned).")
    likelihood_scale: float = Field(
        0.25, gt=0, le=1000,
        description="Slope of the sigmoid over the log-likelihood gain in nats (method=likelihood).")
    likelihood_per_token: bool = Field(
        False,
        description="Divide the likelihood gain by the reply's token count (normalises length; method=likelihood).")
    max_chars: int = Field(
        16_000, ge=1, description="Longest prompt or reply judged, in characters; longer: unscored invalid_input.")
    cache: bool = Field(True, description="Serve repeated judgements from the runtime's cache.")


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", description="The prompt both replies answer.")
    a: str = Field(description="The first reply.")
    b: str = Field(description="The second reply.")


class PrincipleComparison(BaseModel):
    p_a_better: float | None = Field(description="P(a is better) under this principle, mean of both orders.")
    p_a_first: float | None = Field(None, description="P(a is better) with a shown first.")
    p_a_second: float | None = Field(None, description="P(a is better) with a shown second.")
    consistent: bool | None = Field(None, description="Whether both orders prefer the same reply.")
    reason: UnscoredReason | None = Field(None, description="Why p_a_better is null.")
    error: str | None = Field(None, description="What failed, when unscored.")


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    p_a_better: float | None = Field(description="Weighted P(a is better) over principles; null if unscored.")
    consistent: bool | None = Field(description="Whether both presentation orders prefer the same reply (weighted).")
    reason: UnscoredReason | None = Field(None, description="Why p_a_better is null.")
    error: str | None = Field(None, description="What failed, when unscored.")
    principles: dict[str, PrincipleComparison] = Field(description="Per-principle breakdown.")
    details: dict[str, Any] = Field(description="Provenance: constitution, judge model, method, template.")


class Judge:
    name = "judge"
    version = "1.0"
    description = "LLM judge against a versioned constitution (RLAIF): pointwise or pairwise, order-debiased."
    Config = JudgeConfig
    # On Ray (docs/scale.md), join concurrent requests into one call: the local backend runs batched passes.
    batch_across_requests = True

    def __init__(self, config: JudgeConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self.constitution: Constitution = constitution_library(runtime).resolve(config.constitution)
        self.settings = MethodSettings(config.method, config.min_verdict_mass, config.max_reason_tokens,
                                       config.likelihood_scale, config.likelihood_per_token)

    async def start(self) -> None:
        """Check, cheaply and without loading a model, that this host can run the configured backend."""
        b = self.config.backend
        if b.kind == "local":
            import importlib.util

            missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
            if missing:
                raise ConfigError(f"the local judge backend needs {' and '.join(missing)}: install referee[local], "
                                  "or configure an OpenAI-compatible backend (backend.kind=openai)")
            if b.local.model is None:
                embedded_gguf_path()  # raises ConfigError naming the package to install

    # -- provenance ---------------------------------------------------------------------------------

    def _template(self, pairwise: bool) -> str:
        return (PAIRWISE_TEMPLATES if pairwise else POINTWISE_TEMPLATES)[self.config.method]

    def provenance(self, backend: Backend | None, *, pairwise: bool) -> dict[str, Any]:
        c, template = self.constitution, load_template(self._template(pairwise))
        if backend is not None:
            judge = backend.provenance()
        else:  # the backend could not be opened; say what was asked for
            b = self.config.backend
            judge = {"backend": b.kind, "model": (b.local.model or "embedded") if b.kind == "local" else b.openai.model}
        judge.update(self.settings.provenance(), template=template.ref, template_sha256=template.sha256,
                     length_penalty=self.config.length_penalty)
        released = constitution_library(self.runtime).is_released(c) if c.version is not None else None
        return {"constitution": c.ref, "constitution_sha256": c.sha256, "released": released, "judge": judge}

    # -- scoring ------------------------------------------------------------------------------------

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        pairwise = self.config.mode == "pairwise"
        pairs = [Pair(prompt=s.prompt, a=s.completion, b=s.reference or "") for s in batch]
        problems: dict[int, Score] = {}
        for i, s in enumerate(batch):
            if pairwise and not s.reference:
                problems[i] = self._unscored(UnscoredReason.NO_REFERENCE, "mode=pairwise compares the completion "
                                             "with `reference` (a baseline reply); give one or use mode=pointwise",
                                             pairwise)
        todo = [i for i in range(len(batch)) if i not in problems]
        if pairwise:
            compared = await self.compare([pairs[i] for i in todo])
            results = dict(zip(todo, (self._score_of(c) for c in compared), strict=True))
        else:
            results = dict(zip(todo, await self._pointwise([batch[i] for i in todo]), strict=True))
        return [problems.get(i) or results[i] for i in range(len(batch))]

    def _unscored(self, reason: UnscoredReason, error: str, pairwise: bool, backend: Backend | None = None,
                  **details: Any) -> Score:
        return Score.unscored(reason, error, source=self.name, version=self.version,
                              **self.provenance(backend, pairwise=pairwise), **details)

    def _score_of(self, c: Comparison) -> Score:
        details = {**c.details, "consistent": c.consistent,
                   "principles": {k: v.model_dump(exclude_none=True) for k, v in c.principles.items()}}
        if c.p_a_better is None:
            return Score.unscored(c.reason or UnscoredReason.SOURCE_ERROR, c.error or "unscored",
                                  source=self.name, version=self.version, **details)
        return Score(value=c.p_a_better, source=self.name, version=self.version, details=details)

    def _too_long(self, *texts: str) -> str | None:
        longest = max(len(t) for t in texts)
        if longest > self.config.max_chars:
            return (f"a text of {longest} characters exceeds max_chars={self.config.max_chars}; it would not fit "
                    "the judge's context. Truncate it or raise max_chars")
        return None

    async def _open(self) -> tuple[Backend | None, str | None]:
        try:
            return await open_backend(self.config.backend, self.runtime), None
        except Exception as exc:
            return None, f"judge backend could not be opened: {type(exc).__name__}: {exc}"

    async def generate(self, messages: Sequence[Message], reply_start: str, max_tokens: int) -> tuple[str, str]:
        """Free text from this judge's model, for callers that bring their own prompt and output contract (the
        OpenAI `score_model` grader): the chat `messages`, then the reply continued from `reply_start`, greedy,
        at most `max_tokens`. Returns (the continuation, the model id); `BackendError` if the model fails.
        The constitution plays no part, and the caller neutralises the policy's text in `messages`."""
        backend, error = await self._open()
        if backend is None:
            raise BackendError(error or "judge backend could not be opened")
        [reply] = await backend.generate([backend.chat(messages) + reply_start], max_tokens)
        if isinstance(reply, Exception):
            raise reply
        return reply, backend.model_id

    def _cache(self) -> JudgeCache | None:
        return self.runtime.resource(CACHE_KEY, JudgeCache) if self.config.cache else None

    def _key(self, provenance: dict[str, Any], kind: str, *texts: str) -> str:
        return cache_key(kind, provenance, *texts)

    async def _pointwise(self, samples: Sequence[Sample]) -> list[Score]:
        backend, error = await self._open()
        if backend is None:
            return [self._unscored(UnscoredReason.BACKEND_ERROR, error or "", False) for _ in samples]
        cache = self._cache()
        provenance = self.provenance(backend, pairwise=False)
        out: list[Score | None] = [None] * len(samples)
        keys = [self._key(provenance, "pointwise", s.prompt, s.completion) for s in samples]
        todo: list[int] = []
        for i, s in enumerate(samples):
            hit = cache.get(keys[i]) if cache else None
            if hit is not None:
                out[i] = hit.model_copy(update={"details": {**hit.details, "cached": True}})
            elif (too_long := self._too_long(s.prompt, s.completion)) is not None:
                out[i] = self._unscored(UnscoredReason.INVALID_INPUT, too_long, False, backend)
            else:
                todo.append(i)
        judged = await judge_pointwise(self.constitution, backend, self.settings,
                                       [(samples[i].prompt, samples[i].completion) for i in todo])
        for i, per_principle in zip(todo, judged, strict=True):
            score = self._combine_pointwise(per_principle, provenance, _words(samples[i].completion))
            out[i] = score
            if cache is not None and score.scored:
                cache.put(keys[i], score)
        return [s for s in out if s is not None]

    def _combine_pointwise(self, per: dict[str, Outcome], provenance: dict[str, Any], words: int) -> Score:
        details = {**provenance, "principles": {k: o.as_dict() for k, o in per.items()}}
        failed = next((o for o in per.values() if o.value is None), None)
        if failed is not None:
            return Score.unscored(failed.reason or UnscoredReason.SOURCE_ERROR, failed.error or "unscored",
                                  source=self.name, version=self.version, **details)
        raw = self.constitution.weighted({k: o.value for k, o in per.items() if o.value is not None})
        value = _penalise(raw, self.config.length_penalty * words / 100)
        if self.config.length_penalty:
            details.update(raw_value=raw, words=words)
        return Score(value=value, source=self.name, version=self.version, details=details)

    async def compare(self, pairs: Sequence[Pair]) -> list[Comparison]:
        """P(a is better) per pair, averaged over both presentation orders, with the per-principle breakdown."""
        backend, error = await self._open()
        if backend is None:
            return [self._failed_comparison(UnscoredReason.BACKEND_ERROR, error or "", None) for _ in pairs]
        cache = self._cache()
        provenance = self.provenance(backend, pairwise=True)
        out: list[Comparison | None] = [None] * len(pairs)
        keys = [self._key(provenance, "compare", p.prompt, p.a, p.b) for p in pairs]
        todo: list[int] = []
        for i, p in enumerate(pairs):
            hit = cache.get(keys[i]) if cache else None
            if hit is not None:
                out[i] = hit.model_copy(update={"details": {**hit.details, "cached": True}})
            elif (too_long := self._too_long(p.prompt, p.a, p.b)) is not None:
                out[i] = self._failed_comparison(UnscoredReason.INVALID_INPUT, too_long, backend)
            else:
                todo.append(i)
        judged = await judge_pairwise(self.constitution, backend, self.settings,
                                      [(pairs[i].prompt, pairs[i].a, pairs[i].b) for i in todo])
        for i, per_principle in zip(todo, judged, strict=True):
            comparison = self._combine_pairwise(per_principle, provenance, _words(pairs[i].a) - _words(pairs[i].b))
            out[i] = comparison
            if cache is not None and comparison.p_a_better is not None:
                cache.put(keys[i], comparison)
        return [c for c in out if c is not None]

    def _failed_comparison(self, reason: UnscoredReason, error: str, backend: Backend | None) -> Comparison:
        return Comparison(p_a_better=None, consistent=None, reason=reason, error=error, principles={},
                          details=self.provenance(backend, pairwise=True))

    def _combine_pairwise(self, per: dict[str, Outcome], provenance: dict[str, Any], excess_words: int) -> Comparison:
        principles = {
            k: PrincipleComparison(p_a_better=o.value, p_a_first=o.details.get("p_a_first"),
                                   p_a_second=o.details.get("p_a_second"), consistent=o.details.get("consistent"),
                                   reason=o.reason, error=o.error)
            for k, o in per.items()
        }
        details = {**provenance, "raw": {k: o.details for k, o in per.items()}}
        failed = next((o for o in per.values() if o.value is None), None)
        if failed is not None:
            return Comparison(p_a_better=None, consistent=None, reason=failed.reason, error=failed.error,
                              principles=principles, details=details)
        c = self.constitution
        first = c.weighted({k: v.p_a_first for k, v in principles.items() if v.p_a_first is not None})
        second = c.weighted({k: v.p_a_second for k, v in principles.items() if v.p_a_second is not None})
        raw = c.weighted({k: o.value for k, o in per.items() if o.value is not None})
        value = _penalise(raw, self.config.length_penalty * excess_words / 100)
        if self.config.length_penalty:
            details.update(raw_p_a_better=raw, excess_words=excess_words)
        return Comparison(p_a_better=value, consistent=(first - 0.5) * (second - 0.5) > 0,
                          principles=principles, details=details)


def _words(text: str) -> int:
    return len(text.split())


def _penalise(p: float, logits: float) -> float:
    """`p` with `logits` taken off its log-odds (p clipped away from 0 and 1 so the log-odds exist)."""
    if logits == 0:
        return p
    q = min(max(p, 1e-6), 1 - 1e-6)
    return sigmoid(math.log(q / (1 - q)) - logits)
