"""NeMo Gym's resources-server protocol: `POST /verify` (and `POST /seed_session`).

A NeMo Gym agent calls `http://HOST:PORT/seed_session`, then `http://HOST:PORT/verify` with the dataset row
plus `response` (an OpenAI Responses API response); the URL path is fixed, so the source travels in the
row: give each JSONL row a `"referee": {"source": "math", "options": {...}}` object (NeMo Gym passes extra
row fields through to `/verify`). `/nemo_gym/{source}/verify` names the source in the path instead (a mix:
`math:1,wordcount:0.2`), with `?options=` and `?on_unscored=` as in every protocol route.

The sample: prompt from `responses_create_params.input`, completion from the last assistant message in
`response.output` (its `output_text` parts), reference from the row field named by `reference_field`
(default `expected_answer`, NeMo Gym's convention; a non-string value is sent as JSON), metadata from
`verifier_metadata` when it is an object.

The answer is the request echoed back plus `reward` and `reward_components` (NeMo Gym's
`BaseMultiRewardVerifyResponse`: one value per component, the source's own name for a single source). An
item that could not be scored is NeMo Gym's masked sample: `mask_sample: true`, `reward` 0.0,
`failure_kind` from NeMo Gym's vocabulary where one fits (else `referee:<reason>`), `failure_reason` the
sentence saying what failed; an unscored component of a mix shows 0.0 in `reward_components`. `referee_score`
in the answer carries the full score (reason, details, provenance).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from referee.verifiers import Sample, Score, UnscoredReason

from ..auth import require_api_key
from ..errors import ApiError, describe_errors
from ..schemas import ComponentSpec
from .common import SourceSpec, json_body, parse_options, parse_source, score_resolved, score_samples

__all__ = ["FAILURE_KINDS", "RefereeBlock", "completion_text", "prompt_text", "router"]

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["nemo-gym"])

# UnscoredReason -> NeMo Gym's shared failure vocabulary (nemo_gym/failure_kinds.py); others are namespaced.
FAILURE_KINDS: dict[UnscoredReason, str] = {
    UnscoredReason.BACKEND_ERROR: "judge_failed",
    UnscoredReason.JUDGE_PARSE_FAILURE: "judge_unparseable",
    UnscoredReason.SOURCE_ERROR: "verifier_error",
    UnscoredReason.SANDBOX_ERROR: "provider_unavailable",
}


class RefereeBlock(BaseModel):
    """The `referee` object of a dataset row: which source scores it, and how."""

    model_config = ConfigDict(extra="forbid")

    source: str | list[ComponentSpec] | None = Field(None, description="A source name or a weighted mix.")
    options: dict[str, Any] = Field(default_factory=dict, description="Options of the source (or MixOptions).")
    reference_field: str = Field("expected_answer", description="Row field holding the reference.")


class VerifyRequest(BaseModel):
    # NeMo Gym rows carry task fields of their own; they are echoed back, never refused.
    model_config = ConfigDict(extra="allow")

    responses_create_params: dict[str, Any] = Field(description="The OpenAI Responses create params of the task.")
    response: dict[str, Any] = Field(description="The policy's OpenAI Responses API response.")
    referee: RefereeBlock | None = Field(None, description="Source and options, when the URL does not name them.")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                       and p.get("type") in ("input_text", "output_text", "text"))
    return ""


def prompt_text(params: Mapping[str, Any]) -> str:
    """The task's prompt as text: `input` when a string, else its messages (`role: content` when several)."""
    given = params.get("input")
    if isinstance(given, str):
        return given
    messages = [m for m in given if isinstance(m, Mapping) and "content" in m] if isinstance(given, list) else []
    if len(messages) == 1:
        return _content_text(messages[0]["content"])
    return "\n\n".join(f"{m.get('role', 'user')}: {_content_text(m['content'])}" for m in messages)


def completion_text(response: Mapping[str, Any]) -> str:
    """The text of the last assistant message in a Responses API `output` (reasoning and tool calls left out)."""
    output = response.get("output")
    for item in reversed(output if isinstance(output, list) else []):
        if isinstance(item, Mapping) and item.get("type") == "message" and item.get("role", "assistant") == "assistant":
            return _content_text(item.get("content"))
    return ""


def _reference(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _answer(body: dict[str, Any], score: Score, spec: SourceSpec) -> dict[str, Any]:
    if isinstance(spec, str):
        components = {spec: score.value or 0.0}
    else:
        parts = score.components or []
        components = {c.source: (p.value or 0.0) for c, p in zip(spec, parts, strict=False)}
    answer = {
        **body,
        "reward": score.value if score.value is not None else 0.0,
        "reward_components": components,
        "mask_sample": not score.scored,
        "failure_kind": None,
        "failure_reason": None,
        "referee_score": score.model_dump(mode="json"),
    }
    if score.reason is not None:
        answer["failure_kind"] = FAILURE_KINDS.get(score.reason, f"referee:{score.reason.value}")
        answer["failure_reason"] = str(score.details.get("error", score.reason.value))
    return answer


async def _verify(request: Request, path_source: str | None = None, options: str | None = None,
                  on_unscored: str | None = None) -> dict[str, Any]:
    raw = await request.body()
    try:
        req = VerifyRequest.model_validate_json(raw)
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc
    block = req.referee or RefereeBlock()
    if path_source is None and block.source is None:
        raise ApiError(422, "no source: give the dataset row a `referee` object such as "
                       '{"source": "math"}, or call /nemo_gym/{source}/verify')
    extra = req.model_extra or {}
    metadata = extra.get("verifier_metadata")
    sample = Sample(
        prompt=prompt_text(req.responses_create_params),
        completion=completion_text(req.response),
        reference=_reference(extra.get(block.reference_field)),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
    )
    spec: SourceSpec
    if path_source is not None:
        spec = parse_source(path_source)
        scores = await score_samples(request, spec, parse_options(options), [sample], on_unscored)
    else:  # from the row, exactly as /v1/score takes `source` and `options`
        assert block.source is not None
        spec = block.source
        scores = await score_resolved(request, spec, block.options, [sample])
    return _answer(json.loads(raw), scores[0], spec)


@router.post("/verify", summary="NeMo Gym resources server: verify (source from the row's `referee` object)",
             openapi_extra=json_body(VerifyRequest))
async def verify(request: Request) -> dict[str, Any]:
    return await _verify(request)


@router.post("/nemo_gym/{source}/verify", summary="NeMo Gym resources server: verify with the source in the path",
             openapi_extra=json_body(VerifyRequest))
async def verify_source(
    request: Request,
    source: str,
    options: str | None = Query(None, description="JSON object of source options (for a mix: name -> options)."),
    on_unscored: str | None = Query(None, description="For a mix: 'fail' (default) or 'skip'."),
) -> dict[str, Any]:
    return await _verify(request, source, options, on_unscored)


@router.post("/seed_session", summary="NeMo Gym resources server: start a session (referee keeps no state)")
@router.post("/nemo_gym/{source}/seed_session", include_in_schema=False)
async def seed_session(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
        raise ApiError(422, f"body: not JSON ({type(exc).__name__})") from exc
    if isinstance(body, dict) and isinstance(body.get("resources_session_id"), str):
        return {"resources_session_id": body["resources_session_id"]}
    return {}
