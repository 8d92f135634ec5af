"""Which rows share a prefix (`plan`), the store of prefix caches, and judge prompts built prefix first.

No model here: the planner works on token ids, and the prompt-structure checks on rendered text.
"""

from __future__ import annotations

import random

import pytest

from referee.judges.backends.chatml import render_chatml
from referee.judges.backends.prefix import GROUP_COST, Group, PrefixStore, plan
from referee.judges.constitution import inline_constitution
from referee.judges.method import judge_messages
from referee.judges.prompts import load_template

SYSTEM = list(range(1000, 1100))  # 100 tokens every row starts with


def rows_of(*parts: list[int]) -> list[int]:
    return [t for p in parts for t in p]


def check_cover(rows: list[list[int]], limits: list[int], groups: list[Group]) -> None:
    """Every row in exactly one group; members really share `shared` tokens, within their limits."""
    assert sorted(i for g in groups for i in g.members) == list(range(len(rows)))
    for g in groups:
        head = rows[g.members[0]][: g.shared]
        for i in g.members:
            assert rows[i][: g.shared] == head and g.shared <= limits[i]


def test_one_group_per_principle() -> None:
    """The shape of judge prompts: system, then a long per-principle part, then the item."""
    principles = [list(range(2000 + 100 * p, 2060 + 100 * p)) for p in range(3)]
    rows = [rows_of(SYSTEM, principles[p], [5000 + item] * (3 + item)) for item in range(4) for p in range(3)]
    limits = [len(r) - 1 for r in rows]
    groups = plan(rows, limits)
    check_cover(rows, limits, groups)
    assert sorted((g.shared, sorted(g.members)) for g in groups) == [
        (160, [p + 3 * item for item in range(4)]) for p in range(3)]


def test_one_shared_group_beats_small_subgroups() -> None:
    """Per-principle parts of one token: sharing the system prompt across all rows saves more."""
    rows = [rows_of(SYSTEM, [2000 + p], [5000 + item, 6000]) for item in range(2) for p in range(2)]
    groups = plan(rows, [len(r) - 1 for r in rows])
    assert [(g.shared, sorted(g.members)) for g in groups] == [(100, [0, 1, 2, 3])]


# (rows, limits, expected groups as (shared, members)): the edges.
EDGES = [
    ([], [], []),
    ([[1, 2, 3]], [2], [(0, [0])]),
    ([[1, 2, 3], [4, 5, 6]], [2, 2], [(0, [0, 1])]),                              # nothing shared
    ([[*range(10), 7], [*range(10), 8]], [10, 10], [(0, [0, 1])]),                # 10 tokens: below GROUP_COST
    ([[*SYSTEM, 7], [*SYSTEM, 7]], [100, 100], [(100, [0, 1])]),                  # identical rows: all but one token
    ([[*SYSTEM, 7], [*SYSTEM, 7]], [100, 40], [(40, [0, 1])]),                    # the tighter limit wins
    ([[*SYSTEM, 7], [*SYSTEM, 8], [1, 2]], [100, 100, 1], [(100, [0, 1]), (0, [2])]),  # the rest runs in full
]


@pytest.mark.parametrize(("rows", "limits", "expected"), EDGES)
def test_plan_edges(rows: list[list[int]], limits: list[int], expected: list[tuple[int, list[int]]]) -> None:
    groups = plan(rows, limits)
    check_cover(rows, limits, groups)
    assert [(g.shared, sorted(g.members)) for g in groups] == expected


def test_random_rows_are_covered_and_save_tokens() -> None:
    rng = random.Random(0)
    heads = [[rng.randrange(50) for _ in range(rng.randrange(0, 80))] for _ in range(6)]
    rows = [rng.choice(heads) + [rng.randrange(50) for _ in range(rng.randrange(1, 30))] for _ in range(200)]
    limits = [len(r) - 1 for r in rows]
    groups = plan(rows, limits)
    check_cover(rows, limits, groups)
    saved = sum((len(g.members) - 1) * g.shared - GROUP_COST for g in groups if g.shared)
    assert saved > 0 and all(g.shared == 0 or (len(g.members) - 1) * g.shared > GROUP_COST for g in groups)


def test_deeply_nested_rows_do_not_recurse() -> None:
    """Each row extends the previous one: 1500 nested runs (past Python's recursion limit), planned iteratively."""
    rows = [[7] * k for k in range(1, 1501)]
    groups = plan(rows, [len(r) - 1 for r in rows])
    check_cover(rows, [len(r) - 1 for r in rows], groups)


def test_store_evicts_least_recently_used_past_its_budget() -> None:
    store = PrefixStore(max_bytes=100)
    store.put((1,), "a", 40)
    store.put((2,), "b", 40)
    assert store.get((1,)) == "a"  # (1,) is now the most recent
    store.put((3,), "c", 40)
    assert store.get((2,)) is None and store.get((1,)) == "a" and store.get((3,)) == "c"
    store.put((4,), "too big", 101)
    assert store.get((4,)) is None and len(store) == 2
    assert (store.hits, store.misses) == (3, 2)


@pytest.mark.parametrize(("ref", "texts"), [
    ("pointwise.v1", [{"prompt": "PROMPT ONE", "response": "REPLY ONE"},
                      {"prompt": "PROMPT TWO", "response": "REPLY TWO"}]),
    ("pairwise.v1", [{"prompt": "PROMPT ONE", "response_a": "REPLY 1A", "response_b": "REPLY 1B"},
                     {"prompt": "PROMPT TWO", "response_a": "REPLY 2A", "response_b": "REPLY 2B"}]),
])
def test_constitution_and_principle_come_before_the_item(ref: str, texts: list[dict[str, str]]) -> None:
    """A prefix cache (local, or vLLM's) reuses only what comes first: the constitution and the principle."""
    c = inline_constitution({"preamble": "PREAMBLE TEXT", "principles": [{"id": "p", "text": "PRINCIPLE TEXT"}]})
    prompts = [render_chatml(judge_messages(load_template(ref), c, c.principles[0], **t)) for t in texts]
    shared = prompts[0][: next(k for k, (x, y) in enumerate(zip(*prompts, strict=False)) if x != y)]
    assert "PREAMBLE TEXT" in shared and "PRINCIPLE TEXT" in shared
    assert all(v not in shared for t in texts for v in t.values())
