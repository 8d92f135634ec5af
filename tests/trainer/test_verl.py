"""verl reward functions against the real service, loaded and called the way verl loads and calls them.

verl loads `custom_reward_function.path` with importlib from its file path, binds `reward_kwargs` with
functools.partial, checks `inspect.iscoroutinefunction` to decide whether to await, and calls
`compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)` per sample, or
`compute_score(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)` with reward_manager=batch.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from referee.service.client import RewardServiceError
from referee.service.local import LocalService
from tests.conftest import API_KEY

VERL_FILE = Path(__file__).resolve().parents[2] / "trainer" / "verl.py"


@pytest.fixture(scope="module")
def module() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("custom_module", VERL_FILE)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    yield loaded
    loaded.close_clients()


def bound(module: ModuleType, name: str, **reward_kwargs: Any) -> Any:
    return functools.partial(getattr(module, name), **reward_kwargs)


def extra_info(i: int) -> dict[str, Any]:
    # verl hands numpy scalars and arrays around in non_tensor_batch
    return {"split": "train", "index": np.int64(i), "question": f"What is {i} + {i}?", "tags": np.array(["a", "b"])}


def test_per_sample_sync(service: LocalService, module: ModuleType) -> None:
    compute_score = bound(module, "compute_score", url=service.url, source="math")
    assert not inspect.iscoroutinefunction(compute_score)
    right = compute_score(data_source="openai/gsm8k", solution_str="2 + 2 = \\boxed{4}", ground_truth="4",
                          extra_info=extra_info(2))
    assert right == {"score": 1.0, "referee_unscored": 0.0}
    wrong = compute_score(data_source="openai/gsm8k", solution_str="\\boxed{5}", ground_truth="4", extra_info=None)
    assert wrong == {"score": 0.0, "referee_unscored": 0.0}


def test_unscored_gets_the_fill_value_and_the_mask(service: LocalService, module: ModuleType) -> None:
    compute_score = bound(module, "compute_score", url=service.url, source="exact", unscored_value=-0.5)
    result = compute_score(data_source="d", solution_str="4", ground_truth=None, extra_info={})
    assert result == {"score": -0.5, "referee_unscored": 1.0}


async def test_per_sample_async_is_a_coroutine_function_for_verl(service: LocalService, module: ModuleType) -> None:
    compute_score = bound(module, "compute_score_async", url=service.url, source="math")
    assert inspect.iscoroutinefunction(compute_score)  # verl's reward loop decides to await on this check
    result = await compute_score(data_source="x", solution_str="\\boxed{\\frac{1}{2}}", ground_truth="0.5",
                                 extra_info=extra_info(0))
    assert result == {"score": 1.0, "referee_unscored": 0.0}
    again = await compute_score(data_source="x", solution_str="\\boxed{3}", ground_truth="0.5", extra_info=None)
    assert again == {"score": 0.0, "referee_unscored": 0.0}
    assert len(module._async_clients) == 1  # one kept client for this loop, not one per call
    await module.aclose_clients()
    assert not module._async_clients


def test_batch_keeps_order_and_routes_by_data_source(service: LocalService, module: ModuleType) -> None:
    compute = bound(module, "compute_score_batch", url=service.url,
                    source={"gsm8k": "math", "*": "exact"})
    data_sources = np.array(["gsm8k", "trivia", "gsm8k", "trivia", "gsm8k"], dtype=object)
    solutions = ["\\boxed{3}", "The answer is Paris", "\\boxed{0.25}", "Lyon", "no answer"]
    truths = ["3", "Paris", "\\frac{1}{4}", "Paris", "7"]
    results = compute(data_sources=data_sources, solution_strs=solutions, ground_truths=truths,
                      extra_infos=[extra_info(i) for i in range(5)])
    assert [r["score"] for r in results] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert all(r["referee_unscored"] == 0.0 for r in results)


async def test_batch_async(service: LocalService, module: ModuleType) -> None:
    compute = bound(module, "compute_score_batch_async", url=service.url, source="exact")
    assert inspect.iscoroutinefunction(compute)
    results = await compute(data_sources=["a", "b"], solution_strs=["The answer is 1", "2"],
                            ground_truths=[1, None], extra_infos=None)  # a non-string ground truth is sent as JSON
    assert results == [{"score": 1.0, "referee_unscored": 0.0}, {"score": 0.0, "referee_unscored": 1.0}]
    await module.aclose_clients()


def test_settings_from_the_environment(keyed_service: LocalService, module: ModuleType,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFEREE_URL", keyed_service.url)
    monkeypatch.setenv("REFEREE_SOURCE", '[{"source": "exact", "weight": 2}]')
    monkeypatch.setenv("REFEREE_API_KEY", API_KEY)
    result = module.compute_score("d", "The answer is 4", "4")
    assert result == {"score": 2.0, "referee_unscored": 0.0}
    monkeypatch.setenv("REFEREE_API_KEY", "wrong")
    with pytest.raises(RewardServiceError, match="HTTP 401"):
        module.compute_score("d", "The answer is 4", "4")


def test_missing_settings_say_what_to_set(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REFEREE_URL", "REFEREE_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"reward_kwargs\.url"):
        module.compute_score("d", "x", "y")
    with pytest.raises(ValueError, match=r"reward_kwargs\.source"):
        module.compute_score("d", "x", "y", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="no referee source for data_source 'd'"):
        module.compute_score("d", "x", "y", url="http://127.0.0.1:1", source={"other": "math"})


def test_importing_it_pulls_no_training_stack() -> None:
    code = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('custom_module', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            "heavy = [n for n in ('trl', 'verl', 'torch', 'transformers', 'datasets') if n in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code, str(VERL_FILE)], check=True, timeout=60)
