"""ServiceReward, called exactly the way trl.GRPOTrainer calls a reward function."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from trl.trainer.utils import get_callable_name, is_async_callable

from referee.service.local import LocalService
from referee.trainer import ServiceReward, as_text


def _trl_kwargs(reference: list[str | None]) -> dict[str, object]:
    metrics: list[tuple[str, float]] = []
    # GRPOTrainer._calculate_rewards passes every dataset column plus these three.
    return {"reference": reference, "trainer_state": None, "log_extra": lambda *a, **k: None,
            "log_metric": lambda name, value: metrics.append((name, value)), "_metrics": metrics}


def test_trl_sees_an_async_named_function(service: LocalService) -> None:
    reward = ServiceReward(service.url, source="exact")
    assert is_async_callable(reward)
    assert get_callable_name(reward) == "exact"
    assert get_callable_name(ServiceReward(service.url, source=[{"source": "exact"}], name="mine")) == "mine"


def test_standard_format_with_none_for_unscored(service: LocalService) -> None:
    reward = ServiceReward(service.url, source="exact")
    kwargs = _trl_kwargs(["4", "5", None])
    metrics = kwargs.pop("_metrics")
    out = asyncio.run(reward(prompts=["2+2?"] * 3, completions=["\\boxed{4}", "\\boxed{4}", "\\boxed{4}"],
                             completion_ids=[[1], [2], [3]], **kwargs))
    assert out == [1.0, 0.0, None]
    assert ("exact/unscored_frac", 1 / 3) in metrics and ("exact/unscored/no_reference", 1 / 3) in metrics
    assert dict(metrics)["exact/repeated_frac"] == pytest.approx(2 / 3)  # three identical completions: two repeat
    assert reward.last_scores[2].reason == "no_reference"


def test_conversational_format(service: LocalService) -> None:
    reward = ServiceReward(service.url, source="exact")
    prompts = [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}]] * 2
    completions = [[{"role": "assistant", "content": "The answer is 4."}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "The answer is 5."}]}]]
    kwargs = _trl_kwargs(["4", "4"])
    kwargs.pop("_metrics")
    assert asyncio.run(reward(prompts=prompts, completions=completions, **kwargs)) == [1.0, 0.0]
    assert as_text(prompts[0]) == "system: be brief\n\nuser: 2+2?"


def test_picklable_and_usable_after_unpickling(service: LocalService) -> None:
    reward = ServiceReward(service.url, source="exact")
    kwargs = _trl_kwargs(["1"])
    kwargs.pop("_metrics")
    asyncio.run(reward(prompts=["q"], completions=["1"], **kwargs))  # creates a client bound to that loop
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "exact"
    assert asyncio.run(clone(prompts=["q"], completions=["1"], **kwargs)) == [1.0]
