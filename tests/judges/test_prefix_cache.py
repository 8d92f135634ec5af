"""The local backend's prefix cache on the real embedded model: the same probabilities as the full prompts.

The reference runs every prompt alone (batch_size=1: no padding, no cache). The cached path runs two rows
per pass after each shared prefix, so items of different lengths are padded, and a group spans several
passes that each start from a copy of the prefix's cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from referee.judges import Comparison, Judge, JudgeConfig, Pair
from referee.judges.backends import BackendConfig, open_backend
from referee.judges.backends.local import LocalModel
from referee.verifiers import Runtime, Sample, Score

pytestmark = pytest.mark.slow

TWO = {"preamble": "Judge replies from an AI assistant.",
       "principles": [{"id": "correct", "text": "The reply answers the question correctly.", "weight": 2},
                      {"id": "short", "text": "The reply is short.", "weight": 1}]}
SAMPLES = [  # replies of very different lengths: padding inside every pass
    Sample(prompt="What is the capital of France?", completion="Paris."),
    Sample(prompt="What is 2 + 2?", completion="2 + 2 = 5, obviously, because numbers are flexible and I say so."),
    Sample(prompt="Name a primary colour.", completion="Blue. Red and yellow are the other two in the traditional "
                                                      "painter's model; printers use cyan, magenta and yellow."),
]
PAIRS = [Pair(prompt=s.prompt, a=s.completion, b=SAMPLES[(i + 1) % 3].completion) for i, s in enumerate(SAMPLES)]


async def model(runtime: Runtime, model_dir: Path) -> LocalModel:
    backend = await open_backend(BackendConfig.model_validate({"local": {"model": str(model_dir)}}), runtime)
    lm: LocalModel = backend.lm  # type: ignore[attr-defined]
    return lm


def judge(runtime: Runtime, model_dir: Path, method: str, *, cached: bool) -> Judge:
    local = {"model": str(model_dir), "batch_size": 2 if cached else 1, "prefix_cache": cached}
    return Judge(JudgeConfig.model_validate(
        {"constitution": TWO, "method": method, "cache": False, "backend": {"local": local}}), runtime)


def probabilities(judged: Sequence[Score | Comparison]) -> list[float | None]:
    """Every per-principle number a score or comparison carries (pointwise: P(Yes), or the likelihood gain;
    pairwise: both presentation orders)."""
    out: list[float | None] = []
    for j in judged:
        if isinstance(j, Comparison):
            out += [x for p in j.principles.values() for x in (p.p_a_first, p.p_a_second)]
        else:
            out += [p.get("gain", p["value"]) for p in j.details["principles"].values()]
    return out


@pytest.mark.parametrize("method", ["verdict", "likelihood"])
@pytest.mark.parametrize("mode", ["pointwise", "pairwise"])
async def test_cached_prefix_gives_the_full_prompts_probabilities(
        runtime: Runtime, model_dir: Path, mode: str, method: str) -> None:
    lm = await model(runtime, model_dir)
    lm.prefixes.clear()
    runs: dict[bool, list[float | None]] = {}
    positions: dict[bool, int] = {}
    for cached in (False, True):
        j = judge(runtime, model_dir, method, cached=cached)
        before = lm.positions_run
        judged: Sequence[Score | Comparison] = await j.score(SAMPLES) if mode == "pointwise" else await j.compare(PAIRS)
        positions[cached] = lm.positions_run - before
        runs[cached] = probabilities(judged)
    assert len(runs[True]) == len(runs[False]) > 0 and None not in runs[True]
    # Gains (likelihood) are log-probability sums over whole replies, in nats: a slightly looser bound.
    assert runs[True] == pytest.approx(runs[False], abs=1e-4 if method == "verdict" else 1e-3)
    # The cache was really used. verdict: one prefix per principle (instructions and principle), far fewer
    # positions run. likelihood: its prompts share only a short system prompt, one prefix for all.
    if method == "verdict":
        assert len(lm.prefixes) == len(TWO["principles"]) and positions[True] < 0.8 * positions[False]
    else:
        assert len(lm.prefixes) >= 1 and positions[True] < positions[False]


async def test_prefixes_are_kept_for_the_next_batch(runtime: Runtime, model_dir: Path) -> None:
    lm = await model(runtime, model_dir)
    lm.prefixes.clear()
    j = judge(runtime, model_dir, "verdict", cached=True)
    first_at = lm.positions_run
    first = await j.compare(PAIRS[:2])
    hits, second_at = lm.prefixes.hits, lm.positions_run
    second = await j.compare(PAIRS[:2])
    assert lm.prefixes.hits > hits
    assert lm.positions_run - second_at < second_at - first_at  # the prefixes were not run again
    assert probabilities(second) == pytest.approx(probabilities(first), abs=1e-5)
