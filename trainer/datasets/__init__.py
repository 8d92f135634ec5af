"""Built-in prompt sets that need no download, one per kind of reward source.

| name         | for source | rows                                                                 |
| ------------ | ---------- | -------------------------------------------------------------------- |
| `arithmetic` | `math`     | generated one-step word problems, single digits, gold in `reference`  |
| `arithmetic-multistep` | `math` | generated one- and two-step problems, numbers up to 60          |
| `code`       | `code`     | 12 small Python functions, MBPP-style asserts, `metadata.entry_point` |
| `open`       | `judge`    | 20 open-ended requests, no reference                                  |

Each has a fixed held-out split (`split="heldout"`) that never overlaps its training split.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from .arithmetic import problems

__all__ = ["BUILTIN_DATASETS", "builtin_rows"]

BUILTIN_DATASETS = ("arithmetic", "arithmetic-multistep", "code", "open")
# The last rows of the small fixed sets are held out.
_HELDOUT_TAIL = {"code": 4, "open": 4}


def _jsonl(name: str) -> list[dict[str, Any]]:
    text = (files(__package__) / name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def builtin_rows(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Rows of built-in dataset `name`: `prompt` (text), `reference` and `metadata` where the set has them.

    `n` caps the number of rows (for `arithmetic`, it is how many to generate: default 2000 for train and
    100 for held-out).
    """
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    if name in ("arithmetic", "arithmetic-multistep"):
        level = "easy" if name == "arithmetic" else "multistep"
        return problems(n if n is not None else (2000 if split == "train" else 100), seed=seed, split=split,
                        level=level)
    if name not in _HELDOUT_TAIL:
        raise ValueError(f"no built-in dataset named {name!r}; built-in: {', '.join(BUILTIN_DATASETS)}")
    rows = _jsonl({"code": "code_tasks.jsonl", "open": "open_prompts.jsonl"}[name])
    tail = _HELDOUT_TAIL[name]
    rows = rows[-tail:] if split == "heldout" else rows[:-tail]
    return rows[:n] if n is not None else rows
