"""The HTTP backend: any OpenAI-compatible server (vLLM, llama.cpp server, TGI ...) through `/v1/completions`.

`/v1/completions` rather than chat: it returns `logprobs` with `top_logprobs` for the next token, and with
`echo` the log-probability of every prompt token, which likelihood scoring needs. Conversations are
rendered as ChatML here (`chat_format`).

All judges share one `httpx.AsyncClient` (the runtime resource `judges.http`, explicit timeouts and
connection limits); each server (`base_url`) gets one `Limiter` shared by every judge calling it: at most
`max_concurrency` requests in flight and at most `requests_per_second` started. A request is retried, with
exponential backoff (or the server's `Retry-After`), only on 429, 5xx and timeouts; a refused connection or
a 4xx fails at once, since retrying cannot fix it. A failed item is a `BackendError` in its slot.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ..errors import BackendError
from .base import Message, Result, SequenceLogprob
from .chatml import TURN_END, render_chatml

__all__ = ["HTTP_CLIENT_KEY", "Limiter", "OpenAIBackend", "OpenAIBackendConfig", "make_client"]

HTTP_CLIENT_KEY = "judges.http"
_MAX_BACKOFF_S = 30.0


class OpenAIBackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("http://127.0.0.1:8000/v1", description="The server's API root, ending in /v1.")
    model: str = Field("smollm2", description="The model name the server serves (vLLM: --served-model-name).")
    api_key: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer <key>` when set.")
    chat_format: Literal["chatml"] = Field("chatml", description="How conversations become a raw prompt.")
    timeout_s: float = Field(60.0, gt=0, description="Deadline for one HTTP request, in seconds.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries after a 429, a 5xx or a timeout.")
    max_concurrency: int = Field(16, ge=1, le=1024, description="Most requests in flight to this server.")
    requests_per_second: float = Field(50.0, gt=0, description="Most requests started per second on this server.")
    top_logprobs: int = Field(
        20, ge=1, le=20, description="Next-token alternatives requested (vLLM's default cap: 20).")


def make_client() -> httpx.AsyncClient:
    """The shared client; per-request timeouts come from each backend's config."""
    return httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0),
                             limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))


class Limiter:
    """At most `concurrency` calls in flight and `rate` call starts per second (evenly spaced)."""

    def __init__(self, concurrency: int, rate: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


class OpenAIBackend:
    name = "openai"

    def __init__(self, config: OpenAIBackendConfig, client: httpx.AsyncClient, limiter: Limiter) -> None:
        self.config = config
        self.model_id = config.model
        self._client = client
        self._limiter = limiter
        self._url = config.base_url.rstrip("/") + "/completions"
        self._headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}

    @property
    def turn_end(self) -> str:
        return TURN_END

    def chat(self, messages: Sequence[Message]) -> str:
        return render_chatml(messages)

    def provenance(self) -> dict[str, Any]:
        return {"model": self.model_id, "backend": self.name, "base_url": self.config.base_url,
                "sampling": {"temperature": 0.0, "top_logprobs": self.config.top_logprobs}}

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {"model": self.config.model, "temperature": 0.0, **body}
        for attempt in range(self.config.max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._limiter:
                    r = await self._client.post(self._url, json=body, headers=self._headers,
                                                timeout=self.config.timeout_s)
            except httpx.TimeoutException:
                problem = f"no reply within {self.config.timeout_s:g}s"
            except httpx.HTTPError as exc:
                raise BackendError(f"judge server {self.config.base_url} unreachable: {type(exc).__name__}: {exc}; "
                                   "is it running (see docs: vLLM), and is base_url right?") from exc
            else:
                if r.status_code == 200:
                    try:
                        data = r.json()
                    except ValueError as exc:
                        raise BackendError(f"judge server {self.config.base_url} sent a non-JSON reply "
                                           f"({r.text[:80]!r})") from exc
                    if not isinstance(data, dict):
                        raise BackendError(f"judge server sent JSON {type(data).__name__}, not an object")
                    return data
                if r.status_code != 429 and r.status_code < 500:
                    raise BackendError(f"judge server {self._url} answered HTTP {r.status_code}: {r.text[:200]}")
                problem = f"HTTP {r.status_code}"
                retry_after = _retry_after(r)
            if attempt == self.config.max_retries:
                raise BackendError(f"judge server {self._url} failed {attempt + 1} time(s), last: {problem}")
            backoff = min(_MAX_BACKOFF_S, 0.25 * 2**attempt) * (0.5 + random.random())
            await asyncio.sleep(min(_MAX_BACKOFF_S, retry_after) if retry_after is not None else backoff)
        raise AssertionError("unreachable")

    async def _each(self, calls: Sequence[Any]) -> list[Any]:
        async def one(call: Any) -> Any:
            try:
                return await call
            except BackendError as exc:
                return exc
        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def next_token_logprobs(
        self, prompts: Sequence[str], tokens: Sequence[str]
    ) -> list[Result[dict[str, float]]]:
        wanted = set(tokens)

        async def one(prompt: str) -> dict[str, float]:
            data = await self._post({"prompt": prompt, "max_tokens": 1, "logprobs": self.config.top_logprobs})
            try:
                top = data["choices"][0]["logprobs"]["top_logprobs"][0]
                return {t: float(lp) for t, lp in top.items() if t in wanted}
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                raise BackendError(f"judge server reply has no choices[0].logprobs.top_logprobs[0] "
                                   f"({type(exc).__name__}: {exc}); does it support logprobs?") from exc

        return await self._each([one(p) for p in prompts])

    async def sequence_logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> list[Result[SequenceLogprob]]:
        async def one(prompt: str, continuation: str) -> SequenceLogprob:
            text = prompt + continuation
            data = await self._post({"prompt": text, "max_tokens": 1, "echo": True, "logprobs": 1})
            try:
                lp = data["choices"][0]["logprobs"]
                offsets, token_lps, tokens = lp["text_offset"], lp["token_logprobs"], lp["tokens"]
                # Tokens that carry any continuation character, up to the end of the echoed text (the
                # generated token after it is not part of the continuation).
                picked = [float(v) for off, v, t in zip(offsets, token_lps, tokens, strict=True)
                          if off + len(t) > len(prompt) and off < len(text)]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise BackendError(f"judge server reply has no echoed prompt logprobs ({type(exc).__name__}: "
                                   f"{exc}); it must support `echo` with `logprobs` on /v1/completions") from exc
            if not picked or not all(math.isfinite(v) for v in picked):
                raise BackendError("judge server returned no finite logprobs for the continuation")
            return SequenceLogprob(sum(picked), len(picked))

        return await self._each([one(p, c) for p, c in zip(prompts, continuations, strict=True)])

    async def generate(self, prompts: Sequence[str], max_tokens: int) -> list[Result[str]]:
        async def one(prompt: str) -> str:
            data = await self._post({"prompt": prompt, "max_tokens": max_tokens, "stop": [TURN_END]})
            try:
                return str(data["choices"][0]["text"])
            except (KeyError, IndexError, TypeError) as exc:
                raise BackendError(f"judge server reply has no choices[0].text ({type(exc).__name__})") from exc

        return await self._each([one(p) for p in prompts])


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return max(0.0, float(r.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
