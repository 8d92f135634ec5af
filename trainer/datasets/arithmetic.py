"""Arithmetic word problems with gold answers, generated (no download), for the `math` and `exact` sources.

    from referee.trainer.datasets.arithmetic import problems
    rows = problems(1000, seed=0)          # [{"prompt": "...", "reference": "42", "metadata": {...}}, ...]

Two levels. `easy` (the built-in set `arithmetic`): one operation on single-digit numbers (adding,
taking away, small products), which SmolLM2-135M-Instruct answers right about a quarter of the time when
sampling at temperature 0.7: enough spread within a group for GRPO to learn from on a CPU. `multistep`
(`arithmetic-multistep`): one or two operations on numbers up to 60, where it is right a few percent of
the time. Every answer is a whole number (no negative results, exact divisions).

The held-out set (`split="heldout"`) is drawn with its own seed and never shares a question with the
training set, so a rise in held-out accuracy is learning, not memorising. Generation is deterministic
for a given (n, seed, split, level).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["HELDOUT_MAX", "INSTRUCTION", "LEVELS", "heldout_questions", "problems"]

# A short answer keeps rollouts cheap on a CPU; the `math` source reads "The answer is N".
INSTRUCTION = "Reply in one short sentence ending with 'The answer is N.'"

_NAMES = ("Ana", "Ben", "Chen", "Dana", "Eli", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mia", "Noor",
          "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq")
_THINGS = ("apples", "marbles", "stickers", "books", "coins", "cards", "pencils", "shells", "stamps", "cookies")

Template = Callable[[random.Random, str, str], tuple[str, int]]


def _add(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b = r.randint(2, 40), r.randint(2, 40)
    return f"{who} has {a} {what} and gets {b} more. How many {what} does {who} have now?", a + b


def _sub(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a = r.randint(10, 60)
    b = r.randint(1, a - 1)
    return f"{who} had {a} {what} and gave away {b}. How many {what} are left?", a - b


def _mul(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b = r.randint(2, 9), r.randint(2, 12)
    return f"{who} has {a} boxes with {b} {what} in each box. How many {what} are there in all?", a * b


def _div(r: random.Random, who: str, what: str) -> tuple[str, int]:
    k, q = r.randint(2, 9), r.randint(2, 12)
    return f"{who} shares {k * q} {what} equally among {k} friends. How many {what} does each friend get?", q


def _add_sub(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b = r.randint(5, 40), r.randint(2, 30)
    c = r.randint(1, a + b - 1)
    return (f"{who} has {a} {what}, finds {b} more, then loses {c}. How many {what} does {who} have now?",
            a + b - c)


def _mul_add(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b, c = r.randint(2, 6), r.randint(2, 10), r.randint(1, 20)
    return (f"{who} buys {a} packs of {what} with {b} in each pack and already had {c}. "
            f"How many {what} does {who} have in total?", a * b + c)


def _add_easy(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b = r.randint(1, 9), r.randint(1, 9)
    return f"{who} has {a} {what} and gets {b} more. How many {what} does {who} have now?", a + b


def _sub_easy(r: random.Random, who: str, what: str) -> tuple[str, int]:
    b, c = r.randint(1, 9), r.randint(1, 9)
    return f"{who} had {b + c} {what} and gave away {b}. How many {what} are left?", c


def _mul_easy(r: random.Random, who: str, what: str) -> tuple[str, int]:
    a, b = r.randint(2, 5), r.randint(2, 5)
    return f"{who} has {a} bags with {b} {what} in each bag. How many {what} are there in all?", a * b


LEVELS: dict[str, tuple[Template, ...]] = {
    "easy": (_add_easy, _add_easy, _sub_easy, _sub_easy, _mul_easy),
    "multistep": (_add, _sub, _mul, _div, _add_sub, _mul_add),
}
_SEEDS = {"train": 0, "heldout": 1_000_003}
HELDOUT_MAX = 1000


def _draw(r: random.Random, level: str) -> tuple[str, int, str]:
    template = r.choice(LEVELS[level])
    question, answer = template(r, r.choice(_NAMES), r.choice(_THINGS))
    return question, answer, template.__name__.strip("_")


def heldout_questions(n: int, seed: int = 0, level: str = "easy") -> list[tuple[str, int, str]]:
    r = random.Random(_SEEDS["heldout"] + seed)
    seen: dict[str, tuple[str, int, str]] = {}
    while len(seen) < n:
        q = _draw(r, level)
        seen.setdefault(q[0], q)
    return list(seen.values())


def problems(n: int, *, seed: int = 0, split: str = "train", level: str = "easy",
             instruction: str = INSTRUCTION) -> list[dict[str, Any]]:
    """`n` problems as rows with `prompt` (a string), `reference` (the answer) and `metadata`."""
    if split not in _SEEDS:
        raise ValueError(f"split must be one of {sorted(_SEEDS)}, got {split!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
    if split == "heldout":
        if n > HELDOUT_MAX:
            raise ValueError(f"the held-out set has at most {HELDOUT_MAX} problems, asked for {n}")
        questions = heldout_questions(n, seed, level)
    else:
        # Training questions never repeat a held-out one: the held-out set of any size is a prefix of these.
        reserved = {q for q, _, _ in heldout_questions(HELDOUT_MAX, seed, level)}
        r = random.Random(_SEEDS["train"] + seed)
        questions = []
        while len(questions) < n:
            q = _draw(r, level)
            if q[0] not in reserved:
                questions.append(q)
    return [{"prompt": f"{q} {instruction}".strip(), "reference": str(a), "metadata": {"kind": kind}}
            for q, a, kind in questions]
