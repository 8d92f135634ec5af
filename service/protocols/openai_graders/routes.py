"""`POST /v1/fine_tuning/alpha/graders/run` and `/validate`, as OpenAI's API answers them.

Point the OpenAI SDK at the service (`OpenAI(base_url="http://HOST:8000/v1", api_key=KEY)`) and call
`client.fine_tuning.alpha.graders.run(grader=..., model_sample=..., item=...)` or `.validate(grader=...)`.

- A malformed or unknown spec, a bad template, a formula outside the allowed language, or a grader type this
  service cannot run is a 422 whose `detail` names the field and the problem; `/run` checks first.
- `/run` answers `{reward, metadata: {name, type, errors, execution_time, scores, token_usage,
  sampled_model_name, referee}, sub_rewards, model_grader_token_usage_per_model}`. A run that could not
  grade answers reward 0.0 (OpenAI's protocol has no null) with its `metadata.errors` flags set and
  `metadata.referee = {"unscored": true, "error": "<what failed>"}`; a graded run has
  `{"unscored": false, "error": null}`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError

from ...auth import require_api_key
from ...errors import ApiError, describe_errors
from ..common import json_body
from . import model_grader, python_grader
from .check import SpecError, check
from .engine import ERROR_DETAILS, ERROR_FLAGS, Context, Outcome, grade, sample_namespaces
from .spec import RunRequest, ValidateRequest

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["openai-graders"])

M = TypeVar("M", bound=BaseModel)


async def _parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc


def _check(request: Request, grader: Any) -> None:
    app = request.app
    try:
        check(grader, python_available=lambda g: python_grader.unavailable(app),
              model_available=model_grader.unavailable)
    except SpecError as exc:
        raise ApiError(422, f"invalid grader: {exc}",
                       [{"loc": exc.loc, "msg": exc.message, "type": "grader_spec"}]) from exc


@router.post("/v1/fine_tuning/alpha/graders/validate", summary="Validate an OpenAI grader spec",
             openapi_extra=json_body(ValidateRequest))
async def validate(request: Request) -> dict[str, Any]:
    req = await _parse(request, ValidateRequest)
    _check(request, req.grader)
    return {"grader": req.grader.model_dump(exclude_none=True)}


def _errors(outcome: Outcome) -> dict[str, Any]:
    errors: dict[str, Any] = {flag: bool(outcome.errors.get(flag, False)) for flag in ERROR_FLAGS}
    errors.update({key: outcome.errors.get(key) for key in ERROR_DETAILS})
    return errors


@router.post("/v1/fine_tuning/alpha/graders/run", summary="Run an OpenAI grader on one model sample",
             openapi_extra=json_body(RunRequest))
async def run(request: Request) -> dict[str, Any]:
    req = await _parse(request, RunRequest)
    _check(request, req.grader)
    settings = request.app.state.settings
    template_sample, python_sample = sample_namespaces(req.model_sample)
    judge_backend = settings.source_options.get("judge", {}).get("backend")  # the operator's, never the request's
    ctx = Context(item=req.item_namespace(), sample=template_sample, python_sample=python_sample,
                  runtime=request.app.state.runtime, timeout=settings.item_timeout_s,
                  python=functools.partial(python_grader.run, isolation=python_grader.isolation(settings)),
                  model=functools.partial(model_grader.run, operator=judge_backend))
    start = time.perf_counter()
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            outcome = await grade(req.grader, ctx)
    except TimeoutError:
        outcome = Outcome.failed("unresponsive_reward_error", f"no result within the request deadline of "
                                 f"{settings.request_timeout_s:g}s (REFEREE_REQUEST_TIMEOUT_S)")
    except Exception as exc:  # a bug in a grader: this run is unscored, the service goes on
        log.exception("grader %r failed", req.grader.name)
        outcome = Outcome.failed("other_error", f"internal error running the grader: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - start
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
            "referee": {"unscored": outcome.value is None, "error": outcome.error},
        },
        "sub_rewards": sub,
        "model_grader_token_usage_per_model": (
            {outcome.model: {"total_tokens": outcome.token_usage}} if outcome.model and outcome.token_usage else {}
        ),
    }
