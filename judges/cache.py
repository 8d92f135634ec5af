"""A cache of judgements: the same constitution, judge and texts give the same answer, so ask once.

The key is the sha256 of everything that determines a judgement: the constitution's sha256, the judge
model and backend, the method and its settings, the template's sha256, the mode, and the texts. Only
successful judgements are kept (a backend error may not repeat). Least recently used entries go first.
One cache per `Runtime`, shared by every judge on it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

__all__ = ["JudgeCache", "cache_key"]

CACHE_KEY = "judges.cache"


def cache_key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class JudgeCache:
    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
