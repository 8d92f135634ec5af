"""The reward model's vLLM backend against a real vLLM server (`--runner pooling`), compared with local.

Needs vLLM in `.venv-vllm` (`make setup-vllm`); skipped, saying so, without it. The server serves the tiny
reward model and starts in about a minute on 2 CPU cores; it is stopped at the end of the module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referee.judges import Pair
from referee.judges.reward_model import RewardModel, RewardModelConfig
from referee.judges.reward_model.folder import open_folder
from referee.judges.reward_model.local import LocalRewardModel
from referee.service.local import free_port
from referee.verifiers import Runtime, Sample, UnscoredReason
from tests.judges.test_vllm import vllm_python

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

STARTUP_S = 600
SAMPLES = [Sample(prompt="What is the capital of France?", completion="The capital of France is Paris."),
           Sample(prompt="What is 2 + 2?", completion="5"),
           Sample(prompt="Say hi.", completion="Hi! " * 40)]


@pytest.fixture(scope="module")
def reward_server(tiny_reward_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = vllm_python()
    if python is None:
        pytest.skip("vLLM is not importable from .venv-vllm/bin/python nor from this interpreter")
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-rm") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_reward_model),
           "--served-model-name", "tiny-rm", "--runner", "pooling", "--host", "127.0.0.1", "--port", str(port),
           "--enforce-eager", "--dtype", "float32", "--max-model-len", "512"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited with {proc.returncode} while starting:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM did not become healthy within {STARTUP_S}s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sources(rt: Runtime, url: str, folder: Path, **options: Any) -> tuple[RewardModel, RewardModel]:
    served = {"kind": "vllm", "vllm": {"base_url": url, "model": "tiny-rm", "timeout_s": 120}}
    return (RewardModel(RewardModelConfig.model_validate({"model": str(folder), "backend": served, **options}), rt),
            RewardModel(RewardModelConfig.model_validate({"model": str(folder), **options}), rt))


async def test_rewards_over_http_match_local(runtime: Runtime, reward_server: str, tiny_reward_model: Path) -> None:
    http, local = sources(runtime, reward_server, tiny_reward_model)
    remote, here = await http.score(SAMPLES), await local.score(SAMPLES)
    for r, h in zip(remote, here, strict=True):
        assert r.value is not None and h.value is not None, r
        assert r.value == pytest.approx(h.value, abs=1e-4)  # same weights and tokens; kernels round differently
        m = r.details["reward_model"]
        assert (m["backend"], m["served_model"], m["base_url"]) == ("vllm", "tiny-rm", reward_server)
        assert m["weights_sha256"] == h.details["reward_model"]["weights_sha256"]
    [c] = await http.compare([Pair(prompt=SAMPLES[0].prompt, a=SAMPLES[0].completion, b="Lyon.")])
    [d] = await local.compare([Pair(prompt=SAMPLES[0].prompt, a=SAMPLES[0].completion, b="Lyon.")])
    assert c.p_a_better == pytest.approx(d.p_a_better, abs=1e-4) and c.consistent is True


async def test_rows_ending_in_padding_read_the_same_position(reward_server: str, tiny_reward_model: Path) -> None:
    """transformers pools the last non-pad token, vLLM the last token: trailing pad ids (an EOS-as-pad row in the
    plain format) are dropped before sending, so both read the same position."""
    folder = open_folder(tiny_reward_model)
    row = folder.tokenizer("Plain text, then EOS, which is also the pad token")["input_ids"] + [folder.pad_id]
    async with Runtime(workers=1, preload=()) as rt:
        http, _ = sources(rt, reward_server, tiny_reward_model)
        _, backend, _ = await http._open()
        [remote] = await backend.rewards([row])
    [here] = LocalRewardModel(folder, "cpu").rewards([row])
    assert isinstance(remote, float) and remote == pytest.approx(here, abs=1e-4)


async def test_server_errors_are_unscored_backend_errors(runtime: Runtime, reward_server: str,
                                                         tiny_reward_model: Path) -> None:
    http, _ = sources(runtime, "http://127.0.0.1:9", tiny_reward_model)  # nothing listens on port 9
    [s] = await http.score(SAMPLES[:1])
    assert s.reason == UnscoredReason.BACKEND_ERROR and "unreachable" in s.details["error"]
    wrong = RewardModel(RewardModelConfig.model_validate({"model": str(tiny_reward_model), "backend": {
        "kind": "vllm", "vllm": {"base_url": reward_server, "model": "no-such-model", "max_retries": 0}}}), runtime)
    [s] = await wrong.score(SAMPLES[:1])
    assert s.reason == UnscoredReason.BACKEND_ERROR and "HTTP 404" in s.details["error"]
