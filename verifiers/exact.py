"""Reward source `exact`: 1.0 when the completion's final answer equals the reference after normalisation.

Final answer, in order of preference: the last `\\boxed{...}`; the text after the last "answer is" or
"Final Answer:"; after GSM8K's `####`; otherwise the last non-empty line. Normalisation folds case
(unless `case_sensitive`), strips `$`, surrounding whitespace and trailing punctuation, drops thousands
separators between digits and collapses runs of whitespace. No mathematics: use `math` for that.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .contract import Sample, Score, UnscoredReason
from .runtime import Runtime

__all__ = ["ExactMatch", "final_answer", "normalize"]

_ANSWER_IS = re.compile(r"(?:final answer|the answer is|answer:)\s*:?\s*(.+)", re.IGNORECASE)
_GSM8K = re.compile(r"####\s*(.+)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Above this many characters in one batch, normalisation runs in a thread so the event loop stays free.
_INLINE_CHARS = 1_000_000


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced: truncated output has no final answer


def final_answer(text: str) -> str:
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in (_ANSWER_IS, _GSM8K):
        matches = pattern.findall(text)
        if matches:
            return str(matches[-1])
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(text: str, *, case_sensitive: bool = False) -> str:
    text = text.replace("$", "").strip()
    text = _THOUSANDS.sub("", text)
    text = " ".join(text.split()).rstrip(".!;,")
    return text if case_sensitive else text.casefold()


class ExactConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_sensitive: bool = Field(False, description="Compare case-sensitively after normalisation.")
    extract: Literal["final", "full"] = Field(
        "final", description="'final': compare the extracted final answer; 'full': the whole completion."
    )


class ExactMatch:
    name = "exact"
    version = "1.0"
    description = "Normalised final-answer string match against the reference (no mathematics)."
    Config = ExactConfig

    def __init__(self, config: ExactConfig, runtime: Runtime | None = None) -> None:
        self.config = config

    def _one(self, sample: Sample) -> Score:
        if sample.reference is None:
            return Score.unscored(UnscoredReason.NO_REFERENCE, "exact needs `reference`: the expected answer",
                                  source=self.name, version=self.version)
        answer = final_answer(sample.completion) if self.config.extract == "final" else sample.completion
        got = normalize(answer, case_sensitive=self.config.case_sensitive)
        want = normalize(sample.reference, case_sensitive=self.config.case_sensitive)
        details: dict[str, Any] = {"extracted": got[:200], "expected": want[:200]}
        return Score(value=float(got == want), source=self.name, version=self.version, details=details)

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        if sum(len(s.completion) for s in batch) > _INLINE_CHARS:
            return await asyncio.to_thread(lambda: [self._one(s) for s in batch])
        return [self._one(s) for s in batch]
