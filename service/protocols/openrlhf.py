"""OpenRLHF's remote reward model protocol: `POST /openrlhf/{source}/get_reward`.

Point OpenRLHF at it with `--remote_rm_url http://HOST:8000/openrlhf/math/get_reward` (a mix:
`.../openrlhf/math:1,wordcount:0.2/get_reward`; options: `?options=<url-encoded JSON>`). OpenRLHF's client
posts `{"query": [...], "prompts": [...], "labels": [...]}` with only `Content-Type: application/json`:
`query` is prompt plus response as decoded text (special tokens included), `prompts` the prompt texts,
`labels` the dataset's `--label_key` column (the reference). Each sample's completion is the query with its
prompt cut off and trailing special tokens (`<|im_end|>`, `</s>`, ...) removed.

The answer is `{"rewards": [...], "scores": [...], "extra_logs": {...}}`, one float per query. This protocol
has no null, so an item that could not be scored gets `unscored_value` (query parameter, default 0.0) in
`rewards` and `scores`, and 1.0 in the mask `extra_logs["referee/unscored"]` (0.0 where scored), which
OpenRLHF logs per sample. `reasons` (null or an UnscoredReason per item) rides along for whoever reads the
raw reply; OpenRLHF ignores it. For a mix, `extra_logs["referee/<component>"]` holds each component's value
(`unscored_value` where that component could not score).

OpenRLHF's client sends no credentials: behind an API key, put it on a network you trust or a proxy that adds
`Authorization: Bearer <key>`; the route honours the key like every other.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from referee.verifiers import Sample, Score

from ..auth import require_api_key
from ..errors import ApiError, describe_errors
from .common import json_body, parse_options, parse_source, score_samples

__all__ = ["GetRewardRequest", "completion_of", "router", "strip_trailing_special"]

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["openrlhf"])

# The special tokens that may end a decoded sequence: `<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, `</s>`,
# `<eos>`, `<end_of_turn>`, `<pad>`, possibly repeated (padding) and separated by whitespace. Matched once, from
# the front of the reversed text, by a pattern that never gives back what it matched (possessive `*+` and `++`):
# linear in the text's length. An end-anchored `(?:\s*TOKEN)+\s*$` searched from the front is quadratic on runs
# of whitespace (a common degenerate policy output) and on runs of tokens followed by text.
_TRAILING_REVERSED = re.compile(r"(?:\s*+(?:>\|[^<>|\s]{1,40}\|<|>s/<|>soe<|>dap<|>nrut_fo_dne<))++\s*+")


class GetRewardRequest(BaseModel):
    # OpenRLHF forks add their own keys (datasources, query_token_ids, ...): ignored, not refused.
    model_config = ConfigDict(extra="ignore")

    query: list[str] = Field(description="Prompt plus response for each sample, as decoded text.")
    prompts: list[str] | None = Field(None, description="The prompt of each sample, as it prefixes its query.")
    labels: list[Any] | None = Field(None, description="The reference of each sample (OpenRLHF's --label_key).")
    metadata: list[dict[str, Any] | None] | None = Field(None, description="Optional per-sample metadata.")


def strip_trailing_special(text: str) -> str:
    """`text` without the special tokens (and the whitespace around them) it ends with; unchanged if none."""
    found = _TRAILING_REVERSED.match(text[::-1])
    return text if found is None else text[: len(text) - found.end()]


def completion_of(query: str, prompt: str | None) -> str:
    """The response part of an OpenRLHF query: after its prompt, without trailing special tokens."""
    text = query
    if prompt:
        at = query.find(prompt)  # not always at 0: a BOS token or left padding may come first
        if at >= 0:
            text = query[at + len(prompt):]
    return strip_trailing_special(text)


def _reference(label: Any) -> str | None:
    if label is None or (isinstance(label, str) and label == ""):
        return None  # OpenRLHF sends "" when the dataset has no label column
    return label if isinstance(label, str) else json.dumps(label)


def _samples(req: GetRewardRequest, max_chars: int) -> list[Sample]:
    n = len(req.query)
    for field in ("prompts", "labels", "metadata"):
        values = getattr(req, field)
        if values is not None and len(values) != n:
            raise ApiError(422, f"{field}: {len(values)} items for {n} queries; send one per query")
    for field in ("query", "prompts"):  # before any text is searched or stripped
        for i, text in enumerate(getattr(req, field) or ()):
            if len(text) > max_chars:
                raise ApiError(422, f"{field}[{i}]: {len(text)} characters exceed max_field_chars={max_chars}; "
                               "truncate it or raise REFEREE_MAX_FIELD_CHARS")
    prompts: list[str | None] = list(req.prompts) if req.prompts is not None else [None] * n
    labels: list[Any] = req.labels if req.labels is not None else [None] * n
    metas: list[dict[str, Any] | None] = req.metadata if req.metadata is not None else [None] * n
    return [Sample(prompt=p or "", completion=completion_of(q, p), reference=_reference(label), metadata=m or {})
            for q, p, label, m in zip(req.query, prompts, labels, metas, strict=True)]


def _value(score: Score, fill: float) -> float:
    return fill if score.value is None else score.value


@router.post("/openrlhf/{source}/get_reward", summary="OpenRLHF remote reward model (--remote_rm_url)",
             openapi_extra=json_body(GetRewardRequest))
async def get_reward(
    request: Request,
    source: str,
    options: str | None = Query(None, description="JSON object of source options (for a mix: name -> options)."),
    on_unscored: str | None = Query(None, description="For a mix: 'fail' (default) or 'skip'."),
    unscored_value: float = Query(0.0, description="Reward sent for an item that could not be scored."),
) -> dict[str, Any]:
    if not math.isfinite(unscored_value):
        raise ApiError(422, f"unscored_value={unscored_value}: must be a finite number")
    try:
        req = GetRewardRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc
    spec = parse_source(source)
    if len(req.query) > request.app.state.settings.max_items:
        raise ApiError(422, f"query: {len(req.query)} items exceed max_items={request.app.state.settings.max_items}; "
                       "lower OpenRLHF's micro batch or raise REFEREE_MAX_ITEMS")
    # Linear, but up to max_items x max_field_chars of it: in a thread, so the event loop keeps answering.
    samples = await asyncio.to_thread(_samples, req, request.app.state.settings.max_field_chars)
    scores = await score_samples(request, spec, parse_options(options), samples, on_unscored)
    rewards = [_value(s, unscored_value) for s in scores]
    extra_logs: dict[str, list[float]] = {"referee/unscored": [0.0 if s.scored else 1.0 for s in scores]}
    if not isinstance(spec, str):
        for i, component in enumerate(spec):
            extra_logs[f"referee/{component.source}"] = [
                unscored_value if s.components is None else _value(s.components[i], unscored_value) for s in scores
            ]
    return {
        "rewards": rewards,
        "scores": list(rewards),
        "extra_logs": extra_logs,
        "reasons": [None if s.reason is None else s.reason.value for s in scores],
    }
