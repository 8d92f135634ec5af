"""Fixtures for the judges: the real embedded model, materialised once into the cache folder.

The cache folder is `referee.judges.cache_dir()`: `$REFEREE_CACHE` or `~/.cache/referee` (tests are an edge:
they may read the environment; the judges themselves never do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from referee.judges import JudgeEnvironment, configure_judges, embedded_model_path
from referee.judges import cache_dir as referee_cache_dir
from referee.verifiers import Runtime


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return referee_cache_dir()


@pytest.fixture(scope="session")
def model_dir(cache_dir: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct as safetensors (17 s the first time on this machine, then instant)."""
    return embedded_model_path(cache_dir)


@pytest.fixture
async def runtime(cache_dir: Path) -> AsyncIterator[Runtime]:
    async with Runtime(workers=1, preload=()) as rt:
        configure_judges(rt, JudgeEnvironment(cache_dir=cache_dir))
        yield rt
