"""`POST /v1/fine_tuning/alpha/graders/run` and `/validate`, as OpenAI's API answers them.

Point the OpenAI SDK at the service (`OpenAI(base_url="http://HOST:8000/v1", api_key=KEY)`) and call
`client.fine_tuning.alpha.graders.run(grader=..., model_sample=..., item=...)` or `.validate(grader=...)`.

- A malformed or unknown spec, a bad template, a formula outside the allowed language, or a grader type this
  service cannot run is a 422 whose `detail` names the field and the problem; `/run` checks first. The model
  sample, the item (as JSON) and each template are held to `max_field_chars` before any of them is read.
- `/run` answers `{reward, metadata: {name, type, errors, execution_time, scores, token_usage,
  sampled_model_name, referee}, sub_rewards, model_grader_token_usage_per_model}`. A run that could not
  grade answers reward 0.0 (OpenAI's protocol has no null) with its `metadata.errors` flags set and
  `metadata.referee = {"unscored": true, "error": "<what failed>", "request_id": ...}`; a graded run has
  `{"unscored": false, "error": null, "request_id": ...}`.
- A run takes the one scoring path (`scoring.run_scoring`) as one sample (completion = the model sample,
  reference = the item as JSON): admitted as one item per grader (a multi grader: one per sub-grader), under
  the request deadline (past it: `unresponsive_reward_error`), counted as source `grader.<type>`, and recorded
  in the audit log as kind `grader`. Python graders run on the registered `code` source and score_model
  graders on the `judge` source, as the operator configured them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError

from referee.verifiers import Sample, Score, UnscoredReason

from ...auth import require_api_key
from ...errors import ApiError, describe_errors
from ...scoring import request_id, run_scoring
from ..common import json_body
from . import model_grader, python_grader
from .check import SpecError, check
from .engine import ERROR_DETAILS, ERROR_FLAGS, Context, Outcome, grade, sample_namespaces
from .spec import MultiGrader, RunRequest, ValidateRequest

__all__ = ["GRADERS_VERSION", "GraderRun", "router"]

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["openai-graders"])

GRADERS_VERSION = "1.0"

M = TypeVar("M", bound=BaseModel)

# The unscored reason a failed run is recorded with, by its first OpenAI error flag.
_REASONS = {
    "unresponsive_reward_error": UnscoredReason.TIMEOUT,
    "python_grader_server_error": UnscoredReason.SANDBOX_ERROR,
    "model_grader_server_error": UnscoredReason.BACKEND_ERROR,
    "model_grader_parse_error": UnscoredReason.JUDGE_PARSE_FAILURE,
    "model_grader_refusal_error": UnscoredReason.JUDGE_PARSE_FAILURE,
    "invalid_variable_error": UnscoredReason.INVALID_INPUT,
    "sample_parse_error": UnscoredReason.INVALID_INPUT,
    "python_grader_runtime_error": UnscoredReason.INVALID_REFERENCE,  # the grader, the caller's checker, failed
}
_FLAGS = {UnscoredReason.TIMEOUT: "unresponsive_reward_error"}  # a score the path itself made unscored


async def _parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc


def _check(app: Any, grader: Any) -> None:
    try:
        check(grader, python_available=lambda g: python_grader.unavailable(app),
              model_available=lambda g: model_grader.unavailable(g, app),
              max_chars=app.state.settings.max_field_chars)
    except SpecError as exc:
        raise ApiError(422, f"invalid grader: {exc}",
                       [{"loc": exc.loc, "msg": exc.message, "type": "grader_spec"}]) from exc


@router.post("/v1/fine_tuning/alpha/graders/validate", summary="Validate an OpenAI grader spec",
             openapi_extra=json_body(ValidateRequest))
async def validate(request: Request) -> dict[str, Any]:
    req = await _parse(request, ValidateRequest)
    await asyncio.to_thread(_check, request.app, req.grader)  # templates and python source: request text
    return {"grader": req.grader.model_dump(exclude_none=True)}


def _errors(outcome: Outcome) -> dict[str, Any]:
    errors: dict[str, Any] = {flag: bool(outcome.errors.get(flag, False)) for flag in ERROR_FLAGS}
    errors.update({key: outcome.errors.get(key) for key in ERROR_DETAILS})
    return errors


class GraderRun:
    """One OpenAI grader as a reward source over samples (completion = the model sample, metadata["item"] = the
    item), so a run takes the one scoring path. Its `Score` carries the run's `Outcome` (`outcome_of`)."""

    version = GRADERS_VERSION

    def __init__(self, grader: Any, context: Context, spec_sha256: str) -> None:
        self.grader = grader
        self.context = context
        self.name = f"grader.{grader.type}"
        self.spec_sha256 = spec_sha256

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        return [self._score(await grade(self.grader, self.context)) for _ in batch]

    def _score(self, outcome: Outcome) -> Score:
        details = {"grader": self.grader.name, "grader_sha256": self.spec_sha256, "errors": outcome.errors,
                   "sub": outcome.sub, "token_usage": outcome.token_usage, "model": outcome.model}
        if outcome.value is None:
            flag = next((f for f in ERROR_FLAGS if outcome.errors.get(f)), "other_error")
            return Score.unscored(_REASONS.get(flag, UnscoredReason.SOURCE_ERROR), outcome.error or flag,
                                  source=self.name, version=self.version, **details)
        return Score(value=outcome.value, source=self.name, version=self.version, details=details)


def outcome_of(score: Score) -> Outcome:
    d = score.details
    if "errors" in d:
        return Outcome(score.value, dict(d["errors"]), d.get("error"), dict(d.get("sub") or {}), d.get("token_usage"),
                       d.get("model"))
    # unscored by the path itself (the request deadline) or by the boundary (a bug): no outcome inside
    flag = _FLAGS.get(score.reason, "other_error") if score.reason is not None else "other_error"
    return Outcome.failed(flag, str(d.get("error", "unscored")))


def _leaves(grader: Any) -> int:
    return len(grader.graders) if isinstance(grader, MultiGrader) else 1


def _prepare(req: RunRequest, app: Any) -> tuple[Context, Sample, str]:
    """Limits first, then the spec's checks and the sample's parsing: request text, so off the event loop."""
    settings = app.state.settings
    limit = settings.max_field_chars
    if len(req.model_sample) > limit:
        raise ApiError(422, f"model_sample: {len(req.model_sample)} characters exceed max_field_chars={limit}; "
                       "truncate it or raise REFEREE_MAX_FIELD_CHARS")
    item = req.item_namespace()
    item_json = json.dumps(item, ensure_ascii=False)
    if len(item_json) > limit:
        raise ApiError(422, f"item: {len(item_json)} characters as JSON exceed max_field_chars={limit}; send a "
                       "smaller item or raise REFEREE_MAX_FIELD_CHARS")
    _check(app, req.grader)
    template_sample, python_sample = sample_namespaces(req.model_sample)
    ctx = Context(item=item, sample=template_sample, python_sample=python_sample, runtime=app.state.runtime,
                  timeout=settings.item_timeout_s,
                  python=functools.partial(python_grader.run, sources=app.state.sources),
                  model=functools.partial(model_grader.run, sources=app.state.sources),
                  max_insert_chars=limit)
    spec = hashlib.sha256(req.grader.model_dump_json().encode()).hexdigest()
    sample = Sample(completion=req.model_sample, reference=item_json if item else None, metadata={})
    return ctx, sample, spec


@router.post("/v1/fine_tuning/alpha/graders/run", summary="Run an OpenAI grader on one model sample",
             openapi_extra=json_body(RunRequest))
async def run(request: Request, response: Response) -> dict[str, Any]:
    req = await _parse(request, RunRequest)
    ctx, sample, spec = await asyncio.to_thread(_prepare, req, request.app)
    start = time.perf_counter()
    [score] = await run_scoring(request, GraderRun(req.grader, ctx, spec), [sample], kind="grader",
                                cost=_leaves(req.grader))
    elapsed = time.perf_counter() - start
    outcome = outcome_of(score)
    rid = request_id(request)
    response.headers["x-request-id"] = rid
    sub = dict(outcome.sub) if req.grader.type == "multi" else {}
    return {
        "reward": outcome.value if outcome.value is not None else 0.0,
        "metadata": {
            "name": req.grader.name,
            "type": req.grader.type,
            "errors": _errors(outcome),
            "execution_time": elapsed,
            "scores": sub,
            "token_usage": outcome.token_usage,
            "sampled_model_name": outcome.model,
            "referee": {"unscored": outcome.value is None, "error": outcome.error, "request_id": rid},
        },
        "sub_rewards": sub,
        "model_grader_token_usage_per_model": (
            {outcome.model: {"total_tokens": outcome.token_usage}} if outcome.model and outcome.token_usage else {}
        ),
    }
