"""Routes for the judges: the constitutions the service knows, and pairwise comparison.

- `GET /v1/constitutions`: every constitution, its versions and whether each is released.
- `GET /v1/constitutions/{name}`: every version of one, with principles and sha256 (404 if unknown).
- `POST /v1/compare`: `{"source": "judge", "constitution": ..., "pairs": [{"prompt", "a", "b"}], "options":
  {...}}` answers, per pair, P(a is better). With the `judge` source (the default) it is averaged over both
  presentation orders, with whether both orders agree and the per-principle breakdown; with a learned
  `reward_model` it is Bradley-Terry, sigmoid(r_a - r_b), from one pass per reply (a scalar reward has no
  presentation order to swap, so `consistent` is always true). Any enabled source with a `compare(pairs)`
  method works; the source is as enabled and configured for this service (the operator's `source_options`
  choose its backend or model folder); `options` are that source's other options.
  Pairs take the one scoring path (`scoring.run_scoring`): admitted as one item each, under the request
  deadline, counted as source `<source>.compare`, and recorded in the audit log as kind `compare` (completion
  = a, reference = b, value = P(a is better), as the judge's pairwise mode would score them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from referee.judges import (
    Comparison,
    ConstitutionError,
    ConstitutionNotFound,
    InlineConstitution,
    Judge,
    Pair,
    constitution_library,
)
from referee.verifiers import ConfigError, Sample, Score, UnscoredReason

from .auth import require_api_key
from .errors import ApiError
from .schemas import ErrorBody
from .scoring import request_id, run_scoring

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["judges"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "Missing or wrong API key.",
        404: "Unknown constitution (the message lists the available ones), or the judge source is not enabled.",
        422: "Malformed body, bad options, or a limit exceeded; the message names the field.",
        503: "At capacity; retry after the Retry-After delay.",
    }.items()
}


class PrincipleOut(BaseModel):
    id: str
    text: str
    weight: float


class VersionOut(BaseModel):
    ref: str = Field(description="name@version: what score provenance records.")
    version: int
    description: str
    sha256: str = Field(description="sha256 of the file's bytes.")
    released: bool = Field(description="Listed in RELEASED.json with this sha256 (immutable).")
    preamble: str | None = None
    principles: list[PrincipleOut] | None = None
    error: str | None = Field(None, description="Why this version cannot be used (lint errors).")


class ConstitutionOut(BaseModel):
    name: str
    latest: int
    versions: list[VersionOut]


class ConstitutionsResponse(BaseModel):
    constitutions: list[ConstitutionOut]


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "judge", description="The source that compares: `judge` (an LLM judge against `constitution`, both "
        "presentation orders) or `reward_model` (Bradley-Terry on a learned reward; no order swap needed).")
    constitution: str | InlineConstitution | None = Field(
        None, description="For the judge: 'name' (latest), 'name@version', or an inline {principles: [{id, text, "
        "weight}]}; default 'hhh'. Other sources take none.")
    pairs: list[Pair] = Field(min_length=1, description="The pairs to judge.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other options of that source (the judge's method, length_penalty, ...).")


class CompareResponse(BaseModel):
    comparisons: list[Comparison] = Field(description="One per pair, in order.")
    request_id: str = Field(description="Also in the X-Request-ID header; the audit log records the pairs under it.")


@runtime_checkable
class Comparer(Protocol):
    """A source that can say which of two replies is better: the judge, a reward model."""

    name: str
    version: str

    async def compare(self, pairs: Sequence[Pair]) -> list[Comparison]: ...


class PairJudge:
    """A source's `compare` as a reward source over samples (prompt, completion = a, reference = b), so pairs
    take the one scoring path. A `Score` carries the whole `Comparison` (`comparison_of` reads it back)."""

    def __init__(self, judge: Comparer) -> None:
        self.judge = judge
        self.name = f"{judge.name}.compare"
        self.version = judge.version

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        pairs = [Pair(prompt=s.prompt, a=s.completion, b=s.reference or "") for s in batch]
        return [self._score(c) for c in await self.judge.compare(pairs)]

    def _score(self, c: Comparison) -> Score:
        details = {**c.details, "consistent": c.consistent,
                   "principles": {k: v.model_dump(mode="json") for k, v in c.principles.items()}}
        if c.p_a_better is None:
            return Score.unscored(c.reason or UnscoredReason.SOURCE_ERROR, c.error or "unscored",
                                  source=self.judge.name, version=self.version, **details)
        return Score(value=c.p_a_better, source=self.judge.name, version=self.version, details=details)


def comparison_of(score: Score) -> Comparison:
    details = dict(score.details)
    consistent = details.pop("consistent", None)
    principles = details.pop("principles", {})
    error = details.pop("error", None)
    return Comparison(p_a_better=score.value, consistent=consistent, reason=score.reason, error=error,
                      principles=principles, details=details)


def _versions(request: Request, name: str, *, full: bool) -> ConstitutionOut:
    lib = constitution_library(request.app.state.runtime)
    out = []
    for version in lib.versions(name):
        ref = f"{name}@{version}"
        try:
            c = lib.get(ref)
        except ConstitutionError as exc:
            out.append(VersionOut(ref=ref, version=version, description="", sha256="", released=False, error=str(exc)))
            continue
        out.append(VersionOut(
            ref=ref, version=version, description=c.description, sha256=c.sha256, released=lib.is_released(c),
            preamble=c.preamble if full else None,
            principles=[PrincipleOut(id=p.id, text=p.text, weight=p.weight) for p in c.principles] if full else None))
    return ConstitutionOut(name=name, latest=out[-1].version, versions=out)


@router.get("/v1/constitutions", response_model=ConstitutionsResponse, responses=_ERRORS,
            response_model_exclude_none=True, summary="List constitutions and their versions")
async def list_constitutions(request: Request) -> ConstitutionsResponse:
    lib = constitution_library(request.app.state.runtime)
    return ConstitutionsResponse(constitutions=[_versions(request, n, full=False) for n in lib.names()])


@router.get("/v1/constitutions/{name}", response_model=ConstitutionOut, responses=_ERRORS,
            response_model_exclude_none=True, summary="One constitution: every version with its principles")
async def get_constitution(name: str, request: Request) -> ConstitutionOut:
    try:
        return _versions(request, name, full=True)
    except ConstitutionNotFound as exc:
        raise ApiError(404, str(exc)) from exc


@router.post("/v1/compare", response_model=CompareResponse, responses=_ERRORS,
             summary="P(a is better) per pair: the judge in both presentation orders, or a reward model")
async def compare(body: CompareRequest, request: Request, response: Response) -> CompareResponse:
    state = request.app.state
    settings = state.settings
    if len(body.pairs) > settings.max_items:
        raise ApiError(422, f"pairs: {len(body.pairs)} pairs exceed max_items={settings.max_items}; split them")
    for i, p in enumerate(body.pairs):
        for field in ("prompt", "a", "b"):
            if len(getattr(p, field)) > settings.max_field_chars:
                raise ApiError(422, f"pairs[{i}].{field} exceeds max_field_chars={settings.max_field_chars}")
    if "constitution" in body.options:
        raise ConfigError("options.constitution: give the constitution at the top level of the body")
    options = dict(body.options)
    if body.source == "judge":
        options["constitution"] = _plain(body.constitution if body.constitution is not None else "hhh")
    elif body.constitution is not None:
        raise ConfigError(f"constitution: source {body.source!r} takes no constitution (it is a learned scorer); "
                          "leave the field out, or use source 'judge'")
    judge = state.sources.build(body.source, options)
    if body.source == "judge" and state.registry.get("judge") is not Judge:  # by class: on Ray `judge` is a proxy
        raise ApiError(404, "the `judge` source of this service is not referee's judge; /v1/compare needs it")
    if not isinstance(judge, Comparer):
        raise ApiError(422, f"source: {body.source!r} cannot compare two replies (it has no `compare`); use "
                       "'judge' or 'reward_model'")
    samples = [Sample(prompt=p.prompt, completion=p.a, reference=p.b) for p in body.pairs]
    scores = await run_scoring(request, PairJudge(judge), samples, kind="compare")
    rid = request_id(request)
    response.headers["x-request-id"] = rid
    return CompareResponse(comparisons=[comparison_of(s) for s in scores], request_id=rid)


def _plain(constitution: str | InlineConstitution) -> Any:
    return constitution if isinstance(constitution, str) else constitution.model_dump(mode="json")
