"""Shared fixtures: the real service on loopback, and capability markers that skip with a reason."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from referee.service.local import LocalService, free_port

API_KEY = "test-key-123"
PLUGIN = Path(__file__).resolve().parent / "plugin"


def pytest_configure(config: pytest.Config) -> None:
    """Install the test plugin package (`tests/plugin`) for this test run only, the way pip installs any
    third-party plugin, into a folder put on the path of this process and of every service it starts. It is
    never installed in the project's venv, so `referee sources` and the demo show only real sources."""
    target = config.cache.mkdir("testplugin") if getattr(config, "cache", None) else Path(".pytest_cache/testplugin")
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
        "ray": None if importlib.util.find_spec("ray") is not None
        else "Ray is not installed (the `ray` extra: pip install -e '.[ray]'; make setup installs it)",
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


def _pg_binary(name: str) -> str | None:
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<major>/bin.
    found = shutil.which(name)
    if found is None:
        candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        found = str(candidates[-1]) if candidates else None
    return found


@contextmanager
def postgres_server() -> Iterator[str]:
    """A real, throwaway PostgreSQL server on loopback (run as the `postgres` user: it refuses root); its URL."""
    initdb, pg_ctl, runuser = _pg_binary("initdb"), _pg_binary("pg_ctl"), shutil.which("runuser")
    if not (initdb and pg_ctl and runuser):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) or runuser are not installed "
                    "(apt-get install postgresql)")
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="referee-pg-"))
    root.chmod(0o755)
    data = root / "pg"
    data.mkdir()
    shutil.chown(data, "postgres")
    as_pg = [runuser, "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_pg, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                    "-l", str(data / "log"), "-w", "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL server for one test."""
    with postgres_server() as url:
        yield url
