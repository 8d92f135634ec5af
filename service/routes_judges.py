"""Routes for the judges: the constitutions the service knows, and pairwise comparison.

- `GET /v1/constitutions`: every constitution, its versions and whether each is released.
- `GET /v1/constitutions/{name}`: every version of one, with principles and sha256 (404 if unknown).
- `POST /v1/compare`: `{"constitution": ..., "pairs": [{"prompt", "a", "b"}], "options": {...}}` answers,
  per pair, P(a is better) averaged over both presentation orders, whether both orders agree, and the
  per-principle breakdown. It uses the `judge` source as enabled and configured for this service (the
  operator's `source_options` choose its backend); `options` are the judge's other options (method, ...).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
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
from referee.verifiers import ConfigError, UnscoredReason

from .admission import Overloaded
from .auth import require_api_key
from .errors import ApiError
from .schemas import ErrorBody

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

    constitution: str | InlineConstitution = Field(
        "hhh", description="'name' (latest), 'name@version', or an inline {principles: [{id, text, weight}]}.")
    pairs: list[Pair] = Field(min_length=1, description="The pairs to judge.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other options of the `judge` source (method, length_penalty, ...).")


class CompareResponse(BaseModel):
    comparisons: list[Comparison] = Field(description="One per pair, in order.")


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
             summary="P(a is better) per pair, averaged over both presentation orders")
async def compare(body: CompareRequest, request: Request) -> CompareResponse:
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
    judge = state.sources.build("judge", {**body.options, "constitution": _plain(body.constitution)})
    if not isinstance(judge, Judge):
        raise ApiError(404, "the `judge` source of this service is not referee's judge; /v1/compare needs it")
    try:
        async with state.admission.admit(len(body.pairs)):
            try:
                async with asyncio.timeout(settings.request_timeout_s):
                    comparisons = await judge.compare(body.pairs)
            except TimeoutError:
                comparisons = [Comparison(
                    p_a_better=None, consistent=None, reason=UnscoredReason.TIMEOUT, principles={}, details={},
                    error=f"the request deadline of {settings.request_timeout_s:g}s passed; send fewer pairs")
                    for _ in body.pairs]
    except Overloaded as exc:
        raise ApiError(503, str(exc), headers={"retry-after": str(exc.retry_after_s)}) from exc
    return CompareResponse(comparisons=comparisons)


def _plain(constitution: str | InlineConstitution) -> Any:
    return constitution if isinstance(constitution, str) else constitution.model_dump(mode="json")
