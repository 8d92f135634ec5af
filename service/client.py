"""HTTP clients for the reward service, sync and async.

    with RewardClient("http://127.0.0.1:8000") as client:
        scores = client.score("math", [{"completion": "... \\boxed{4}", "reference": "4"}])
        comparisons = client.compare([{"prompt": "2+2?", "a": "4", "b": "5"}], constitution="hhh")

`compare` posts pairs to `/v1/compare` (the judge against a constitution in both presentation orders, or a
`reward_model` by Bradley-Terry) and returns one `Comparison` per pair.

Large batches (of samples or pairs) are split into chunks of `max_batch` sent `concurrency` at a time; answers
come back in input order. Retries (with exponential backoff and jitter, honouring Retry-After) happen only on 429, on
5xx, and on connection errors and timeouts: a 4xx is the caller's mistake and raises at once. A request
is tried `retries` more times; with `deadline` (seconds) it keeps trying, every few seconds, until that much
time has passed since it began (a trainer rides out a service restart this way). Whatever ends it is a
`RewardServiceError` whose message is one sentence (what failed, where, and since when).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
import pydantic_core
from pydantic import BaseModel, TypeAdapter

from referee.judges import Comparison, InlineConstitution, Pair
from referee.verifiers import RefereeError, Sample, Score, SourceInfo

__all__ = ["AsyncRewardClient", "RewardClient", "RewardServiceError", "SourceSpec"]

SourceSpec = str | Sequence[Mapping[str, Any]]
SampleLike = Sample | Mapping[str, Any]
PairLike = Pair | Mapping[str, Any]
ConstitutionSpec = str | InlineConstitution | Mapping[str, Any]

_SOURCES = TypeAdapter(list[SourceInfo])
_T = TypeVar("_T")


class _Answer(BaseModel):
    scores: list[Score]


class _Compared(BaseModel):
    comparisons: list[Comparison]


class RewardServiceError(RefereeError):
    """The service refused the request (4xx), or kept failing after every retry (`status` None: unreachable)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _delay(attempt: int, backoff: float, response: httpx.Response | None) -> float:
    if response is not None:
        after = response.headers.get("retry-after", "")
        if after.replace(".", "", 1).isdigit():
            return min(float(after), 60.0)
    return backoff * (2**attempt) * (0.5 + random.random())


def _payload(source: SourceSpec, samples: Sequence[SampleLike], options: Mapping[str, Any] | None) -> bytes:
    return pydantic_core.to_json({
        "source": source if isinstance(source, str) else [dict(c) for c in source],
        "samples": [s.model_dump() if isinstance(s, Sample) else dict(s) for s in samples],
        "options": dict(options or {}),
    })


def _scores(response: httpx.Response, n: int) -> list[Score]:
    # Parsed by pydantic-core from bytes: at batch 256 this halves the client's cost against json + dicts.
    scores = _Answer.model_validate_json(response.content).scores
    if len(scores) != n:
        raise RewardServiceError(f"service answered {len(scores)} scores for {n} samples", response.status_code)
    return scores


def _compare_payload(pairs: Sequence[PairLike], source: str, constitution: ConstitutionSpec | None,
                     options: Mapping[str, Any] | None) -> bytes:
    body: dict[str, Any] = {"source": source, "options": dict(options or {}),
                            "pairs": [p.model_dump() if isinstance(p, Pair) else dict(p) for p in pairs]}
    if constitution is not None:
        body["constitution"] = (constitution.model_dump(mode="json") if isinstance(constitution, InlineConstitution)
                                else constitution if isinstance(constitution, str) else dict(constitution))
    return pydantic_core.to_json(body)


def _comparisons(response: httpx.Response, n: int) -> list[Comparison]:
    comparisons = _Compared.model_validate_json(response.content).comparisons
    if len(comparisons) != n:
        raise RewardServiceError(f"service answered {len(comparisons)} comparisons for {n} pairs",
                                 response.status_code)
    return comparisons


def _error(response: httpx.Response) -> RewardServiceError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return RewardServiceError(f"HTTP {response.status_code} from {response.request.url}: {detail}",
                              response.status_code)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Options:
    def __init__(self, base_url: str, api_key: str | None, timeout: float, max_batch: int, concurrency: int,
                 retries: int, backoff: float, deadline: float | None) -> None:
        if max_batch < 1 or concurrency < 1 or retries < 0 or (deadline is not None and deadline <= 0):
            raise ValueError(f"need max_batch >= 1, concurrency >= 1, retries >= 0, deadline > 0 or None; got "
                             f"{max_batch}, {concurrency}, {retries}, {deadline}")
        self.base_url = base_url.rstrip("/")
        self.headers = {"content-type": "application/json"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.max_batch, self.concurrency, self.retries, self.backoff = max_batch, concurrency, retries, backoff
        self.deadline = deadline

    def retry_delay(self, attempt: int, started: float, where: str, response: httpx.Response | None = None,
                    exc: httpx.TransportError | None = None) -> float:
        """Seconds to wait before try `attempt + 1` of a request begun at `started`; raises when this is final."""
        if response is not None and not _retryable(response.status_code):
            raise _error(response)
        delay = _delay(attempt, self.backoff, response)
        waited = time.monotonic() - started
        if self.deadline is not None:
            if waited < self.deadline:
                return min(delay, 5.0, self.deadline - waited)
            last = str(_error(response)) if response is not None else f"{type(exc).__name__}: {exc}"
            raise RewardServiceError(f"the reward service at {self.base_url} did not answer for {waited:.0f}s "
                                     f"(deadline {self.deadline:g}s); last error: {last}",
                                     None if response is None else response.status_code) from exc
        if attempt < self.retries:
            return delay
        if response is not None:
            raise _error(response)
        raise RewardServiceError(f"the reward service at {self.base_url} is not reachable: {where} failed after "
                                 f"{attempt + 1} tries ({type(exc).__name__}: {exc}); start it with `referee serve` "
                                 "or check the URL") from exc


class AsyncRewardClient:
    """Async client. `transport` is the test seam (e.g. `httpx.ASGITransport(app)`)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 120.0, max_batch: int = 512,
                 concurrency: int = 4, retries: int = 4, backoff: float = 0.5, deadline: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._o = _Options(base_url, api_key, timeout, max_batch, concurrency, retries, backoff, deadline)
        self._http = httpx.AsyncClient(base_url=self._o.base_url, headers=self._o.headers, timeout=self._o.timeout,
                                       limits=self._o.limits, transport=transport)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        for attempt in itertools.count():
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                await asyncio.sleep(self._o.retry_delay(attempt, started, f"{method} {path}", exc=exc))
                continue
            if response.is_success:
                return response
            await asyncio.sleep(self._o.retry_delay(attempt, started, path, response=response))
        raise AssertionError("unreachable")

    async def score(self, source: SourceSpec, samples: Sequence[SampleLike],
                    options: Mapping[str, Any] | None = None) -> list[Score]:
        gate = asyncio.Semaphore(self._o.concurrency)

        async def one(chunk: Sequence[SampleLike]) -> list[Score]:
            async with gate:
                response = await self._request("POST", "/v1/score", content=_payload(source, chunk, options))
            return _scores(response, len(chunk))

        parts = await asyncio.gather(*(one(c) for c in _chunks(samples, self._o.max_batch)))
        return [s for part in parts for s in part]

    async def compare(self, pairs: Sequence[PairLike], *, source: str = "judge",
                      constitution: ConstitutionSpec | None = None,
                      options: Mapping[str, Any] | None = None) -> list[Comparison]:
        """P(a is better) per `{prompt, a, b}` pair, from `source` (`judge`, against `constitution`, default the
        service's `hhh`; or `reward_model`, which takes no constitution); chunked and retried like `score`."""
        gate = asyncio.Semaphore(self._o.concurrency)

        async def one(chunk: Sequence[PairLike]) -> list[Comparison]:
            async with gate:
                response = await self._request("POST", "/v1/compare",
                                                content=_compare_payload(chunk, source, constitution, options))
            return _comparisons(response, len(chunk))

        parts = await asyncio.gather(*(one(c) for c in _chunks(pairs, self._o.max_batch)))
        return [c for part in parts for c in part]

    async def sources(self) -> list[SourceInfo]:
        return _SOURCES.validate_python((await self._request("GET", "/v1/sources")).json()["sources"])

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRewardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class RewardClient:
    """Blocking client with the same behaviour as `AsyncRewardClient` (chunks run on a thread pool)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 120.0, max_batch: int = 512,
                 concurrency: int = 4, retries: int = 4, backoff: float = 0.5, deadline: float | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._o = _Options(base_url, api_key, timeout, max_batch, concurrency, retries, backoff, deadline)
        self._http = httpx.Client(base_url=self._o.base_url, headers=self._o.headers, timeout=self._o.timeout,
                                  limits=self._o.limits, transport=transport)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        for attempt in itertools.count():
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                time.sleep(self._o.retry_delay(attempt, started, f"{method} {path}", exc=exc))
                continue
            if response.is_success:
                return response
            time.sleep(self._o.retry_delay(attempt, started, path, response=response))
        raise AssertionError("unreachable")

    def _map(self, one: Callable[[Sequence[Any]], list[_T]], items: Sequence[Any]) -> list[_T]:
        """`one` over the chunks of `items`, `concurrency` at a time, flattened in input order."""
        chunks = _chunks(items, self._o.max_batch)
        if len(chunks) <= 1 or self._o.concurrency == 1:
            parts = [one(c) for c in chunks]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self._o.concurrency) as pool:
                parts = list(pool.map(one, chunks))
        return [x for part in parts for x in part]

    def score(self, source: SourceSpec, samples: Sequence[SampleLike],
              options: Mapping[str, Any] | None = None) -> list[Score]:
        def one(chunk: Sequence[SampleLike]) -> list[Score]:
            return _scores(self._request("POST", "/v1/score", content=_payload(source, chunk, options)), len(chunk))

        return self._map(one, samples)

    def compare(self, pairs: Sequence[PairLike], *, source: str = "judge", constitution: ConstitutionSpec | None = None,
                options: Mapping[str, Any] | None = None) -> list[Comparison]:
        """As `AsyncRewardClient.compare`."""
        def one(chunk: Sequence[PairLike]) -> list[Comparison]:
            return _comparisons(self._request("POST", "/v1/compare",
                                              content=_compare_payload(chunk, source, constitution, options)),
                                len(chunk))

        return self._map(one, pairs)

    def sources(self) -> list[SourceInfo]:
        return _SOURCES.validate_python(self._request("GET", "/v1/sources").json()["sources"])

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
