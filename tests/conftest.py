"""Shared fixtures: the real service on loopback, and capability markers that skip with a reason."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from referee.service.local import LocalService

API_KEY = "test-key-123"
PLUGIN = Path(__file__).resolve().parent / "plugin"


def pytest_configure(config: pytest.Config) -> None:
    """Install the test plugin package (`tests/plugin`) for this test run only, the way pip installs any
    third-party plugin, into a folder put on the path of this process and of every service it starts. It is
    never installed in the project's venv, so `referee sources` and the demo show only real sources."""
    target = config.cache.mkdir("testplugin") if config.cache else Path(".pytest_cache/testplugin")
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(PLUGIN)], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p)


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {
        "gpu": None if _has_cuda() else "no CUDA device on this machine",
        "vllm": None if (importlib.util.find_spec("vllm") or shutil.which("vllm") or _vllm_env())
        else "vLLM is not installed (make setup-vllm installs it into .venv-vllm)",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def _vllm_env() -> bool:
    from pathlib import Path

    return (Path(__file__).resolve().parent.parent / ".venv-vllm" / "bin" / "python").exists()


@pytest.fixture(scope="session")
def service() -> Iterator[LocalService]:
    """The real service, every installed source enabled, no auth."""
    with LocalService() as svc:
        yield svc


@pytest.fixture(scope="session")
def keyed_service() -> Iterator[LocalService]:
    """The real service requiring `Authorization: Bearer API_KEY`."""
    with LocalService(api_key=API_KEY) as svc:
        yield svc


@pytest.fixture(scope="session")
def small_limits_service() -> Iterator[LocalService]:
    """The real service with tiny limits, to reach every limit cheaply."""
    env = {"REFEREE_MAX_ITEMS": "5", "REFEREE_MAX_FIELD_CHARS": "100", "REFEREE_MAX_BODY_BYTES": "4096"}
    with LocalService(env=env) as svc:
        yield svc


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with the embedded model's tokenizer and chat template, random weights: for tests that
    need a model to run (fast) but not to be any good."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from referee.judges import cache_dir, embedded_model_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(cache_dir()))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer LlamaForSequenceClassification with one output (a reward model's shape), the embedded model's
    tokenizer and chat template, random weights: for the `reward_model` source's tests, which need a real
    model to run, not a good one. head_dim 64: vLLM's CPU attention supports no smaller."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from referee.judges import cache_dir, embedded_model_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(cache_dir()))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    model = LlamaForSequenceClassification(config)
    with torch.no_grad():  # a random head of std 0.02 gives rewards all near 0; spread them so they differ
        model.score.weight.normal_(0, 1.0)
    folder = tmp_path_factory.mktemp("tiny-rm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
