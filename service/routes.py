"""Routes: scoring, the source list, health, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter, ValidationError

from referee.verifiers import Score

from .auth import require_api_key
from .errors import ApiError, describe_errors
from .schemas import ErrorBody, ScoreRequest, ScoreResponse, SourcesResponse
from .scoring import check_limits, request_id, run_scoring

__all__ = ["api_router", "ops_router"]

api_router = APIRouter(dependencies=[Depends(require_api_key)])
ops_router = APIRouter()

_SCORES = TypeAdapter(list[Score])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "Missing or wrong API key.",
        404: "Unknown source; the message lists the available ones.",
        413: "Request body too large.",
        503: "At capacity (samples or request bytes), or the audit log is unavailable; retry after the "
             "Retry-After header.",
        422: "Malformed JSON, text that is not Unicode, wrong types, bad options, or a limit exceeded; the message "
             "names the field.",
    }.items()
}


@api_router.post(
    "/v1/score",
    response_model=ScoreResponse,
    responses=_ERRORS,
    summary="Score a batch of responses with one source or a weighted mix",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}}}},
)
async def score(request: Request) -> Response:
    # The body is parsed by pydantic-core straight from bytes (no dict round trip) and the answer is
    # serialised the same way: at batch 1024 of a trivial source this is most of the request's cost.
    try:
        req = ScoreRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc
    check_limits(request, req.samples)
    source = request.app.state.sources.resolve(req.source, req.options)
    scores = await run_scoring(request, source, req.samples)
    rid = request_id(request)  # after scoring: the audit log may have given it a fresh id
    body = b'{"scores":' + _SCORES.dump_json(scores) + b',"request_id":"' + rid.encode() + b'"}'
    return Response(body, media_type="application/json", headers={"x-request-id": rid})


@api_router.get("/v1/sources", response_model=SourcesResponse, summary="Registered, enabled reward sources")
async def sources(request: Request) -> SourcesResponse:
    return SourcesResponse(sources=request.app.state.sources.info())


@api_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@ops_router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops_router.get("/readyz", summary="Readiness: sources loaded, worker pool up")
async def readyz(request: Request, response: Response) -> dict[str, Any]:
    ready = getattr(request.app.state, "ready", False)
    if not ready:
        response.status_code = 503
        return {"status": "starting"}
    sources = request.app.state.sources
    return {"status": "ready", "sources": sources.names(), "unavailable": sources.unavailable}
