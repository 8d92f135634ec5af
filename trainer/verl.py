"""verl reward functions that score through the reward service: per sample (sync or async) and per batch.

In verl's config (`reward_kwargs` reach the function as keyword arguments):

    custom_reward_function:
      path: /path/to/referee/trainer/verl.py       # python -c "import referee.trainer.verl as m; print(m.__file__)"
      name: compute_score                          # or compute_score_async; with reward_model.reward_manager=batch:
                                                   #    compute_score_batch (or compute_score_batch_async)
      reward_kwargs: {url: "http://127.0.0.1:8000", source: math}

verl calls `compute_score(data_source, solution_str, ground_truth, extra_info)` per sample and awaits it when
it is a coroutine function (its reward loop checks `inspect.iscoroutinefunction`); its batch manager calls
`compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos)`.

Settings (keyword argument, else environment variable): `url` (REFEREE_URL), `source` (REFEREE_SOURCE: a
name, a JSON weighted mix, or a JSON object mapping each data_source to one, "*" for the rest), `options`
(REFEREE_OPTIONS, JSON), `api_key` (REFEREE_API_KEY), `unscored_value` (default 0.0), `timeout` (300 s).

The sample: completion = solution_str; reference = ground_truth (JSON if not a string); prompt =
`extra_info["question"]` when present (verl's example preprocessors put it there); metadata = extra_info.

Each result is `{"score": float, "referee_unscored": 0.0 or 1.0}`: verl needs a float score, so an item the
service could not score gets `unscored_value` and the mask `referee_unscored` = 1.0, which verl logs as a
reward extra info (numbers only: verl averages every extra key). If the service is unreachable after the
client's retries, `RewardServiceError` is raised: training stops rather than learn from made-up rewards.

Connections are kept (per process for the blocking functions, per event loop for the coroutines);
`close_clients()` / `await aclose_clients()` close them. Only httpx is needed here (through
`referee.service.client`); neither verl nor trl is imported.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from referee.service.client import AsyncRewardClient, RewardClient, SourceSpec
from referee.verifiers import Sample, Score

__all__ = ["aclose_clients", "close_clients", "compute_score", "compute_score_async", "compute_score_batch",
           "compute_score_batch_async"]

_clients: dict[tuple[Any, ...], RewardClient] = {}
_clients_lock = threading.Lock()
_async_clients: dict[tuple[Any, ...], tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncRewardClient]] = {}


class _Settings:
    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        url = kwargs.get("url") or os.environ.get("REFEREE_URL")
        if not url:
            raise ValueError("referee's verl reward needs the service URL: set reward_kwargs.url (or REFEREE_URL), "
                             "e.g. http://127.0.0.1:8000")
        self.url = str(url)
        source = kwargs.get("source") or os.environ.get("REFEREE_SOURCE")
        if not source:
            raise ValueError("referee's verl reward needs a source: set reward_kwargs.source (or REFEREE_SOURCE), "
                             "e.g. math, or a mix [{\"source\": \"math\", \"weight\": 1}]")
        self.source = _json_or_text(source)
        options = kwargs.get("options", os.environ.get("REFEREE_OPTIONS"))
        self.options = dict(_json_or_text(options) or {})
        self.api_key = kwargs.get("api_key") or os.environ.get("REFEREE_API_KEY")
        self.unscored_value = float(kwargs.get("unscored_value", 0.0))
        self.timeout = float(kwargs.get("timeout", 300.0))

    def source_for(self, data_source: str) -> SourceSpec:
        source = self.source
        if isinstance(source, Mapping):
            if data_source in source:
                return source[data_source]
            if "*" in source:
                return source["*"]
            raise ValueError(f"no referee source for data_source {data_source!r}; the source map has "
                             f"{sorted(source)} (add it, or a '*' default)")
        return source


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        return json.loads(value)
    return _plain(value)


def _plain(value: Any) -> Any:
    """verl hands numpy arrays and OmegaConf containers around; make them JSON-ready."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, Sequence) or hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    return str(value)


def _sample(solution_str: str, ground_truth: Any, extra_info: Any) -> Sample:
    info = _plain(extra_info) if extra_info is not None else {}
    info = info if isinstance(info, dict) else {"extra_info": info}
    truth = _plain(ground_truth)
    question = info.get("question")
    return Sample(
        prompt=question if isinstance(question, str) else "",
        completion=solution_str,
        reference=None if truth is None else (truth if isinstance(truth, str) else json.dumps(truth)),
        metadata=info,
    )


def _result(score: Score, settings: _Settings) -> dict[str, float]:
    value = settings.unscored_value if score.value is None else score.value
    return {"score": value, "referee_unscored": 0.0 if score.scored else 1.0}


def _client(settings: _Settings) -> RewardClient:
    # One client per process and settings: verl calls compute_score once per sample, so connections must be
    # kept; the pid in the key keeps a forked worker from sharing its parent's sockets.
    key = (os.getpid(), settings.url, settings.api_key, settings.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = RewardClient(settings.url, api_key=settings.api_key, timeout=settings.timeout)
    return client


def _async_client(settings: _Settings) -> AsyncRewardClient:
    # An httpx.AsyncClient belongs to the event loop that made it, so one per loop (verl's reward workers
    # keep theirs for the whole run). Making one costs tens of milliseconds (its TLS context), more than
    # scoring a sample: a client per call would dominate compute_score_async.
    loop = asyncio.get_running_loop()
    key = (os.getpid(), id(loop), settings.url, settings.api_key, settings.timeout)
    entry = _async_clients.get(key)
    if entry is not None and entry[0]() is loop:
        return entry[1]
    for stale, (ref, _) in list(_async_clients.items()):
        old = ref()
        if old is None or old.is_closed():  # its loop is gone: the client cannot be used (nor closed) again
            del _async_clients[stale]
    client = AsyncRewardClient(settings.url, api_key=settings.api_key, timeout=settings.timeout)
    _async_clients[key] = (weakref.ref(loop), client)
    return client


async def aclose_clients() -> None:
    """Close the kept connections of the running event loop (call it before the loop ends)."""
    loop = asyncio.get_running_loop()
    for key in [k for k, (ref, _) in _async_clients.items() if ref() is loop]:
        await _async_clients.pop(key)[1].aclose()


@atexit.register
def close_clients() -> None:
    """Close the kept connections of this process (also run at exit)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _groups(data_sources: Sequence[Any]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, data_source in enumerate(data_sources):
        groups.setdefault(str(data_source), []).append(i)
    return groups


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's per-sample reward function, blocking."""
    settings = _Settings(kwargs)
    score = _client(settings).score(settings.source_for(str(data_source)),
                                    [_sample(solution_str, ground_truth, extra_info)], settings.options)[0]
    return _result(score, settings)


async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None,
                              **kwargs: Any) -> dict[str, float]:
    """verl's per-sample reward function, as a coroutine (verl's reward loop awaits it)."""
    settings = _Settings(kwargs)
    scores = await _async_client(settings).score(settings.source_for(str(data_source)),
                                                 [_sample(solution_str, ground_truth, extra_info)], settings.options)
    return _result(scores[0], settings)


def _batch_samples(solution_strs: Sequence[str], ground_truths: Sequence[Any],
                   extra_infos: Sequence[Any] | None) -> list[Sample]:
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    if not len(solution_strs) == len(ground_truths) == len(infos):
        raise ValueError(f"compute_score_batch: {len(solution_strs)} solution_strs, {len(ground_truths)} "
                         f"ground_truths and {len(infos)} extra_infos; give one of each per sample")
    return [_sample(s, g, e) for s, g, e in zip(solution_strs, ground_truths, infos, strict=True)]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Any] | None = None, **kwargs: Any) -> list[dict[str, float]]:
    """verl's batch reward function (reward_manager=batch): one request per source, in input order."""
    settings = _Settings(kwargs)
    samples = _batch_samples(solution_strs, ground_truths, extra_infos)
    results: list[dict[str, float]] = [{} for _ in samples]
    client = _client(settings)
    for data_source, idx in _groups(data_sources).items():
        scores = client.score(settings.source_for(data_source), [samples[i] for i in idx], settings.options)
        for i, score in zip(idx, scores, strict=True):
            results[i] = _result(score, settings)
    return results


async def compute_score_batch_async(data_sources: Sequence[Any], solution_strs: Sequence[str],
                                    ground_truths: Sequence[Any], extra_infos: Sequence[Any] | None = None,
                                    **kwargs: Any) -> list[dict[str, float]]:
    """The batch reward function as a coroutine (verl's experimental batch reward loop awaits it)."""
    settings = _Settings(kwargs)
    samples = _batch_samples(solution_strs, ground_truths, extra_infos)
    results: list[dict[str, float]] = [{} for _ in samples]
    client = _async_client(settings)
    for data_source, idx in _groups(data_sources).items():
        scores = await client.score(settings.source_for(data_source), [samples[i] for i in idx], settings.options)
        for i, score in zip(idx, scores, strict=True):
            results[i] = _result(score, settings)
    return results
