"""Routes: scoring, the source list, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter, ValidationError

from referee.verifiers import RewardSource, Sample, Score, UnscoredReason, score_batch

from .admission import Overloaded
from .audit import records_for
from .auth import require_api_key
from .errors import ApiError, describe_errors
from .schemas import ErrorBody, ScoreRequest, ScoreResponse, SourcesResponse

__all__ = ["api_router", "ops_router", "request_id", "run_scoring"]

log = logging.getLogger(__name__)

api_router = APIRouter(dependencies=[Depends(require_api_key)])
ops_router = APIRouter()

_SCORES = TypeAdapter(list[Score])
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "Missing or wrong API key.",
        404: "Unknown source; the message lists the available ones.",
        413: "Request body too large.",
        503: "At capacity, or the audit log is unavailable; retry after the Retry-After header.",
        422: "Malformed JSON, wrong types, bad options, or a limit exceeded; the message names the field.",
    }.items()
}


def request_id(request: Request) -> str:
    """The caller's X-Request-ID if it is a safe token, else a fresh one."""
    given = request.headers.get("x-request-id", "")
    rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
    request.state.request_id = rid
    return rid


def check_limits(request: Request, samples: list[Sample]) -> None:
    settings = request.app.state.settings
    if len(samples) > settings.max_items:
        raise ApiError(
            422, f"samples: {len(samples)} items exceed max_items={settings.max_items}; split the batch "
            "(RewardClient does it for you) or raise REFEREE_MAX_ITEMS",
        )
    limit = settings.max_field_chars
    for i, s in enumerate(samples):
        for field in ("prompt", "completion", "reference"):
            text = getattr(s, field)
            if text is not None and len(text) > limit:
                raise ApiError(
                    422, f"samples[{i}].{field}: {len(text)} characters exceed max_field_chars={limit}; "
                    "truncate it or raise REFEREE_MAX_FIELD_CHARS",
                )


async def run_scoring(request: Request, source: RewardSource, samples: list[Sample]) -> list[Score]:
    """Score `samples` the way every route must: admitted under the in-flight bound (else 503), under the
    request deadline (what is still open then is unscored), recorded in the audit log before answering
    (else 503), and counted in the metrics."""
    state = request.app.state
    try:
        async with state.admission.admit(len(samples)):
            scores = await _score_with_deadline(request, source, samples)
    except Overloaded as exc:
        state.metrics.shed.inc(len(samples))
        raise ApiError(503, str(exc), headers={"retry-after": str(exc.retry_after_s)}) from exc
    if state.audit is not None:
        rid = getattr(request.state, "request_id", None) or request_id(request)
        try:
            await state.audit.write(records_for(rid, samples, scores, texts=state.settings.audit_texts))
        except Exception as exc:
            log.exception("audit log write failed for request %s", rid)
            raise ApiError(503, f"the audit log could not record this request ({type(exc).__name__}: {exc}); "
                           "nothing was acknowledged, retry later", headers={"retry-after": "5"}) from exc
    return scores


async def _score_with_deadline(request: Request, source: RewardSource, samples: list[Sample]) -> list[Score]:
    settings = request.app.state.settings
    start = time.perf_counter()
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            scores = await score_batch(source, samples)
    except TimeoutError:
        scores = [
            Score.unscored(UnscoredReason.TIMEOUT,
                           f"the request deadline of {settings.request_timeout_s:g}s passed before this item "
                           "was scored; send smaller batches or raise REFEREE_REQUEST_TIMEOUT_S",
                           source=source.name, version=source.version)
            for _ in samples
        ]
    request.app.state.metrics.observe_batch(source.name, scores, time.perf_counter() - start)
    request.app.state.metrics.monitors.observe(source.name, samples, scores)
    return scores


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
    rid = request_id(request)
    try:
        req = ScoreRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        detail, errors = describe_errors(list(exc.errors()))
        raise ApiError(422, detail, errors) from exc
    check_limits(request, req.samples)
    source = request.app.state.sources.resolve(req.source, req.options)
    scores = await run_scoring(request, source, req.samples)
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
