"""The `reward_model` source through the real service on loopback, configured as an operator would.

The folder comes from the settings file (`source_options: {reward_model: {model: DIR}}`); a request may set
the other options but can never name a folder or a backend. A service told to run the source without a
usable folder refuses to start, saying why; one that merely has it installed leaves it out, with the reason.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referee.judges.reward_model import RewardModel, RewardModelConfig
from referee.service.local import LocalService
from referee.verifiers import Runtime, Sample

pytestmark = pytest.mark.slow

SAMPLES = [{"prompt": "What is the capital of France?", "completion": "Paris."},
           {"prompt": "What is 2 + 2?", "completion": "5"}]


def settings_for(folder: Path, tmp: Path, **options: Any) -> Path:
    path = tmp / "settings.yaml"
    extra = "".join(f", {k}: {v}" for k, v in options.items())
    path.write_text(f"source_options:\n  reward_model: {{model: {folder}{extra}}}\n")
    return path


@pytest.fixture(scope="module")
def rm_service(tiny_reward_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    settings = settings_for(tiny_reward_model, tmp_path_factory.mktemp("rm-settings"))
    with LocalService(sources=["reward_model", "exact"], extra_args=["--settings", str(settings)]) as svc:
        yield svc


def score(svc: LocalService, options: dict[str, Any] | None = None, samples: list[dict[str, str]] = SAMPLES,
          source: Any = "reward_model") -> httpx.Response:
    return httpx.post(svc.url + "/v1/score", json={"source": source, "options": options or {}, "samples": samples},
                      timeout=60)


async def test_scores_over_http_are_the_sources_own(rm_service: LocalService, tiny_reward_model: Path) -> None:
    async with httpx.AsyncClient(base_url=rm_service.url, timeout=60) as client:
        assert "reward_model" in (await client.get("/readyz")).json()["sources"]
        r = await client.post("/v1/score", json={"source": "reward_model", "samples": SAMPLES})
    assert r.status_code == 200, r.text
    served = r.json()["scores"]
    async with Runtime(workers=1, preload=()) as rt:
        here = await RewardModel(RewardModelConfig(model=str(tiny_reward_model)), rt).score(
            [Sample(**s) for s in SAMPLES])
    for s, h in zip(served, here, strict=True):
        assert s["value"] == pytest.approx(h.value, abs=1e-5)
        assert s["details"]["reward_model"]["weights_sha256"] == h.details["reward_model"]["weights_sha256"]
        assert s["details"]["reward_model"]["model"] == tiny_reward_model.name  # the name, not the server's path
        assert str(tiny_reward_model) not in str(s["details"])


def test_requests_set_options_but_never_the_folder_or_backend(rm_service: LocalService, tmp_path: Path) -> None:
    for options in ({"model": str(tmp_path)}, {"backend": {"kind": "vllm"}}):
        r = score(rm_service, options)
        assert r.status_code == 422, r.text
        assert "can only be set by the operator" in r.json()["detail"] and next(iter(options)) in r.json()["detail"]
    r = score(rm_service, {"normalize": True})  # the tiny model has no manifest: a clear 422, not unscored items
    assert r.status_code == 422 and "normalize=true needs the reward statistics" in r.json()["detail"]
    r = score(rm_service, {"truncation": "left_truncate_prompt", "max_length": 32},
              [{"prompt": "word " * 100, "completion": "ok"}])
    assert r.status_code == 200 and r.json()["scores"][0]["details"]["truncated_prompt_tokens"] > 0


def test_too_long_items_and_mixes_over_http(rm_service: LocalService) -> None:
    scores = score(rm_service, samples=[*SAMPLES, {"prompt": "word " * 600, "completion": "ok"}]).json()["scores"]
    assert [s["value"] is None for s in scores] == [False, False, True]
    assert scores[2]["reason"] == "invalid_input" and "max_length=512" in scores[2]["details"]["error"]
    mix = [{"source": "reward_model", "weight": 1.0}, {"source": "exact", "weight": 1.0}]
    mixed = score(rm_service, samples=[{"prompt": "2+2?", "completion": "4", "reference": "4"}], source=mix)
    assert mixed.status_code == 200, mixed.text
    [s] = mixed.json()["scores"]
    assert [c["source"] for c in s["components"]] == ["reward_model", "exact"] and s["value"] is not None


def test_installed_but_unconfigured_it_is_left_out_with_the_reason(service: LocalService) -> None:
    ready = httpx.get(service.url + "/readyz").json()
    assert "reward_model" not in ready["sources"]
    assert "source_options: {reward_model: {model: DIR}}" in ready["unavailable"]["reward_model"]


@pytest.mark.parametrize("folder, message", [(None, "has no model folder"),
                                             ("tiny_model", "LlamaForCausalLM, not a sequence classifier")])
def test_explicitly_enabled_without_a_usable_folder_the_service_refuses_to_start(
        folder: str | None, message: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "referee", "serve", "--port", "0", "--sources", "reward_model"]
    if folder is not None:
        args += ["--settings", str(settings_for(request.getfixturevalue(folder), tmp_path))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr


def test_compare_with_a_reward_model_is_bradley_terry(rm_service: LocalService) -> None:
    pairs = [{"prompt": "What is 2 + 2?", "a": "4", "b": "5"}, {"prompt": "Hi", "a": "Hello!", "b": "Go away."}]
    rewards = [s["value"] for s in score(rm_service, samples=[
        {"prompt": p["prompt"], "completion": reply} for p in pairs for reply in (p["a"], p["b"])]).json()["scores"]]
    r = httpx.post(rm_service.url + "/v1/compare", json={"source": "reward_model", "pairs": pairs}, timeout=60)
    assert r.status_code == 200, r.text
    for k, c in enumerate(r.json()["comparisons"]):
        margin = rewards[2 * k] - rewards[2 * k + 1]
        assert c["p_a_better"] == pytest.approx(1 / (1 + math.exp(-margin)), abs=1e-5)
        assert c["consistent"] is True and c["details"]["order_swap"]
    refused = httpx.post(rm_service.url + "/v1/compare", timeout=60,
                         json={"source": "reward_model", "constitution": "hhh", "pairs": pairs})
    assert refused.status_code == 422 and "takes no constitution" in refused.json()["detail"]
    cannot = httpx.post(rm_service.url + "/v1/compare", json={"source": "exact", "pairs": pairs}, timeout=60)
    assert cannot.status_code == 422 and "cannot compare" in cannot.json()["detail"]
