"""Shared prompt prefixes: which rows of a batch to run after one common prefix, and a store of prefixes' states.

Every judge prompt of a batch starts with the same system prompt, constitution preamble and (per
principle) instructions; only the item at the end differs. A decoder's keys and values for a prefix do not
depend on what follows it, so the local backend computes them once per prefix and runs only the rest of
each row after them.

`plan` groups rows by token ids alone (the backend knows nothing of templates). Sorted
lexicographically, rows sharing a prefix are neighbours, and the longest prefix a run of neighbours
shares is the least common prefix of adjacent pairs. Running a group of `n` rows after one shared prefix
of `m` tokens computes `(n - 1) * m` fewer tokens, less a fixed cost for the extra pass. The best
grouping among the nested runs (all rows share the system prompt; rows of one principle share it and
the principle's instructions; ...) follows by comparing, for each run, one group against the best of its
sub-runs. On the shipped judge prompts this yields one group per principle.

`PrefixStore` keeps computed prefix states across batches (a trainer asks about the same constitution
every step), least recently used first out, within a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

__all__ = ["GROUP_COST", "Group", "PrefixStore", "plan"]

GROUP_COST = 32
"""A group's fixed cost in tokens' worth of compute: one more forward pass, and copying the prefix's state."""


@dataclass(frozen=True)
class Group:
    shared: int
    """How many leading tokens every member shares (0: none; the members run in full)."""
    members: list[int]
    """Indices into the planned rows."""


def plan(rows: Sequence[list[int]], limits: Sequence[int], group_cost: int = GROUP_COST) -> list[Group]:
    """Groups covering every row once, chosen to compute the fewest tokens.

    `limits[i]` caps how many of row i's leading tokens may be shared (a row must keep the positions whose
    outputs are read). Rows that gain nothing from sharing end up in one group with `shared=0`.
    """
    n = len(rows)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: rows[i])
    # adjacent[k]: tokens rows order[k] and order[k + 1] may share; a run shares the least of its pairs'.
    adjacent = [min(_common(rows[a], rows[b]), limits[a], limits[b]) for a, b in pairwise(order)]
    # best[(lo, hi)] = (tokens saved, groups as (shared, lo, hi)) for the run order[lo:hi]; computed
    # children first with an explicit stack (runs can nest as deep as rows are long).
    best: dict[tuple[int, int], tuple[int, list[tuple[int, int, int]]]] = {}
    stack = [(0, n, False)]
    while stack:
        lo, hi, children_done = stack.pop()
        if hi - lo < 2:
            best[lo, hi] = (0, [])
            continue
        shared = min(adjacent[lo : hi - 1])
        cuts = [lo, *(k + 1 for k in range(lo, hi - 1) if adjacent[k] == shared), hi]
        parts = list(pairwise(cuts))
        if not children_done:
            stack.append((lo, hi, True))
            stack.extend((a, b, False) for a, b in parts)
            continue
        children = [best.pop(p) for p in parts]
        split = sum(saved for saved, _ in children)
        whole = (hi - lo - 1) * shared - group_cost
        if shared > 0 and whole > split:
            best[lo, hi] = (whole, [(shared, lo, hi)])
        else:
            best[lo, hi] = (split, [g for _, groups in children for g in groups])
    groups = [Group(shared, [order[k] for k in range(lo, hi)]) for shared, lo, hi in best[0, n][1]]
    grouped = {i for g in groups for i in g.members}
    rest = [i for i in range(n) if i not in grouped]
    return groups + ([Group(0, rest)] if rest else [])


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixStore:
    """Computed prefix states keyed by their exact token ids; least recently used out past `max_bytes`.

    One store per loaded model, so the key need not name the model. Not thread-safe: the caller holds
    the model's lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[int, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[int, ...]) -> Any | None:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: tuple[int, ...], state: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._data[key] = (state, nbytes)
        self._bytes += nbytes
        while self._bytes > self.max_bytes:
            _, (_, freed) = self._data.popitem(last=False)
            self._bytes -= freed

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)
