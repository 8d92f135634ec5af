"""The one scoring path: every route that scores goes through `run_scoring`, and nothing scores around it.

`run_scoring(request, source, samples)`:
1. admits the work under `max_inflight_items` (waiting up to `queue_timeout_s`, then 503 + Retry-After);
2. scores under the request deadline (`request_timeout_s`; what is still open then is unscored `timeout`);
3. counts it in the metrics and the reward-hacking monitors;
4. records every item in the audit log, if one is kept, before the route answers (else 503).

Routes that score something other than a batch of samples wrap it as a `RewardSource` over `Sample`s and
pass `kind` (what the audit log calls the rows): `/v1/compare` ("compare": completion and reference are the
two replies), the OpenAI graders ("grader"). Checks the work itself calls (a python grader's run of the
`code` source) happen inside this path, not through it again: they are part of the admitted item.

Request ids: a request answers under the caller's `X-Request-ID` when it is a safe token, else a fresh id.
The audit log never overwrites a row it has acknowledged: if the caller's id is already recorded, this
request gets a fresh server id (reported back in the answer), and the caller's id is kept beside it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Sequence

from fastapi import Request

from referee.verifiers import RewardSource, Sample, Score, UnscoredReason, score_batch

from .admission import Overloaded
from .audit import DuplicateRequestId, records_for
from .errors import ApiError

__all__ = ["caller_request_id", "check_limits", "request_id", "run_scoring"]

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # fullmatch on a header value: bounded, linear


def caller_request_id(request: Request) -> str | None:
    """The caller's X-Request-ID if it is a safe token (letters, digits, `._:-`, at most 64), else None."""
    given = request.headers.get("x-request-id", "")
    return given if _SAFE_ID.fullmatch(given) else None


def request_id(request: Request) -> str:
    """The id this request answers under (see the module docstring)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = caller_request_id(request) or uuid.uuid4().hex
        request.state.request_id = rid
    return str(rid)


def check_limits(request: Request, samples: Sequence[Sample]) -> None:
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


async def run_scoring(request: Request, source: RewardSource, samples: Sequence[Sample], *, kind: str = "score",
                      cost: int | None = None) -> list[Score]:
    """Score `samples` the one way (see the module docstring). `cost`: what the work counts against
    `max_inflight_items` when it is not one per sample (an OpenAI multi grader counts its sub-graders)."""
    state = request.app.state
    items = list(samples)
    n = len(items) if cost is None else cost
    try:
        async with state.admission.admit(n):
            scores = await _score_with_deadline(request, source, items)
    except Overloaded as exc:
        state.metrics.shed.inc(n)
        raise ApiError(503, str(exc), headers={"retry-after": str(exc.retry_after_s)}) from exc
    if state.audit is not None:
        await _record(request, items, scores, kind)
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


async def _record(request: Request, samples: list[Sample], scores: list[Score], kind: str) -> None:
    state = request.app.state
    rid = request_id(request)
    caller = caller_request_id(request)
    for _ in range(3):  # a fresh uuid4 colliding twice is not a thing that happens
        records = records_for(rid, samples, scores, texts=state.settings.audit_texts, kind=kind,
                              caller_request_id=caller)
        try:
            await state.audit.write(records)
        except DuplicateRequestId:
            rid = uuid.uuid4().hex  # the caller's id is taken: never overwrite, answer under a fresh id
            continue
        except Exception as exc:
            log.exception("audit log write failed for request %s", rid)
            raise ApiError(503, f"the audit log could not record this request ({type(exc).__name__}: {exc}); "
                           "nothing was acknowledged, retry later", headers={"retry-after": "5"}) from exc
        request.state.request_id = rid
        return
    raise ApiError(503, "the audit log could not give this request a fresh id; retry", headers={"retry-after": "1"})
