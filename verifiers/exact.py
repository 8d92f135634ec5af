"""Reward source `exact`: 1.0 when the completion's final answer equals the reference after normalisation.

Final answer: what the `math` source extracts (`<think>` dropped; the last `\\boxed{...}`; the last
answer phrase such as "The answer is" or "Final Answer:", or GSM8K's `####`); otherwise the last
non-empty line. A completion cut off inside a box or `<think>`, or boxing several different answers, has
none. Normalisation folds case (unless `case_sensitive`), strips `$`, surrounding whitespace and
trailing punctuation, drops thousands separators between digits and collapses runs of whitespace. No
mathematics: use `math` for that.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .contract import Sample, Score, UnscoredReason
from .math.extract import extract_answer
from .runtime import Runtime

__all__ = ["ExactMatch", "final_answer", "normalize"]

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Above this many characters in one batch, normalisation runs in a thread so the event loop stays free.
_INLINE_CHARS = 1_000_000


def final_answer(text: str) -> str:
    """The answer `math` extracts (see `referee.verifiers.math.extract`), else the last non-empty line;
    "" when the completion was cut off or boxes several different answers."""
    found = extract_answer(text, last_number_fallback=False)
    if found.others:
        return ""  # several different boxed answers
    if found.answer is not None:
        return found.answer
    if found.method == "refused":
        return ""
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
