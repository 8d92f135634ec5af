"""Reward source `math`: 1.0 when the completion's final answer is mathematically the reference, else 0.0.

Extraction order (see `extract`): `<think>...</think>` and everything after a chat-template token are
dropped; then the last `\\boxed{}`/`\\fbox{}` (boxes side by side are one multi-part answer; earlier boxes
written differently must be right too), unless a later "final answer" phrase overrides it; then, unless
`extraction="boxed"`, the last answer phrase ("The final answer is", Minerva's "Final Answer:", "Answer:",
"Réponse :", "答案是", ...) or GSM8K `####`, whose sentence, when prose, gives its stated expression; then,
if `last_number_fallback`, a display block ending the completion, or the last math item of its last line
(see `prose`). The reference is read as a gold: its text after `####`, else its last box(es), else all of
it (a worked solution: its final answer). A multiple-choice gold (`B`, `(B) Paris`) is matched against
the letter the completion chooses (see `choice`), in the event loop.

Comparison (see `equivalence` and `forms`): exact for rationals, high-precision numeric for constants,
random points (then sympy) for expressions in variables; sets ignore order, tuples do not (nor a gold list
of numbers deliberately unsorted, `10, 4, -2` is not, see `equivalence`); intervals, inequalities (linear
ones solved), equations, labelled values (`AB = 4`), matrices (and their sums and products), sums, `%`,
degrees, physical units (converted with pint: `2 km` is `2000 m`, `5 m` is not `5 cm`), other bases,
decimal commas, number words and text answers have their own rules. Several different values for a single
gold (a hedge) score 0.0, and so do a wrong answer boxed beside the right one and a completion cut off
before its answer. A chain (`x = 5 + 5 + 1 = 11`) states its last part only, so it is never a hedge.

Approximation policy: exact equality counts; besides, a decimal gold (`3.14`) accepts anything within half a
unit of its last digit (`3.1416`, `\\pi`); an exact gold (`\\frac{1}{12}`, `\\sqrt{2}`) accepts a decimal of
at least 6 significant digits that is the gold correctly rounded (`0.0833333`, `1.41421`), but not fewer
(`1.414` scores 0.0); `x = \\frac{1}{3} \\approx 0.33` states 1/3, and the rounding after `\\approx` is not
checked; `tolerance` > 0 accepts anything within that relative distance.

Where it runs: when the gold and the answer are both plain numbers (`1,234`, `-0.5`, `3/4`,
`\\frac{3}{4}`) the check is a `Fraction` comparison in the event loop. Everything else runs in the
runtime's worker pool under a deadline of `timeout_s`; a worker past it is killed.

Unscored, with the reason:
- `no_reference`: the sample has no reference.
- `invalid_reference`: the reference is not an answer this source can read (fix the dataset).
- `timeout`: the check ran past `timeout_s` and its worker was killed, or the answer is beyond the
  budgets in `limits` (`10^{10^{10}}`, a factorial with millions of digits, braces nested 60 deep), which
  would have. Such an answer is not wrong as far as anyone knows; scoring it 0.0 would teach the
  trainer a fake zero.
- `worker_error`: the worker process died (crash, out of memory).

A completion with no final answer is scored 0.0 (checked: it did not answer), with `details.note`
saying why. `metadata["finish_reason"] == "length"` or `metadata["truncated"]` marks a completion that
hit the token limit: 0.0, whatever it contains.

Options: `tolerance`, `extraction` ("marked" or "boxed"), `last_number_fallback`, `mc_letters`,
`timeout_s`; each is described on `MathConfig`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..contract import Sample, Score, UnscoredReason
from ..errors import UnscoredError
from ..runtime import Runtime
from ..scoring import score_in_workers
from .answer import Answer, read_answer, verify
from .choice import chosen_letter, gold_letter
from .extract import extract_answer, extract_reference
from .limits import TooExpensive
from .numbers import fast_verdict

__all__ = ["MathConfig", "MathVerifier", "check"]

_INLINE_CHARS = 1_000_000
"""Above this many characters in one batch, extraction runs in a thread so the event loop stays free."""
_SHOWN = 200


class MathConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tolerance: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="Relative tolerance for crediting a numeric approximation of the gold; 0 credits only "
        "exact equality (and, for a decimal gold, agreement to its last written digit).",
    )
    extraction: Literal["marked", "boxed"] = Field(
        "marked",
        description="Where the final answer may come from: 'boxed' only \\boxed{}; 'marked' also answer "
        "phrases ('The final answer is', 'Final Answer:') and GSM8K '####'.",
    )
    last_number_fallback: bool = Field(
        True, description="With no marked answer, use the last number or $...$ span of the last line."
    )
    mc_letters: str = Field(
        "ABCDE", description="Letters that make a one-letter gold (e.g. 'B' or '(B)') a multiple-choice answer."
    )
    timeout_s: float = Field(
        3.0, gt=0.0, le=600.0,
        description="Deadline per item checked in a worker; past it the worker is killed and the item is "
        "unscored 'timeout'.",
    )

    @field_validator("mc_letters")
    @classmethod
    def _letters(cls, value: str) -> str:
        if not (value.isascii() and value.isalpha() and value.isupper()) or len(set(value)) != len(value):
            raise ValueError(f"mc_letters must be distinct uppercase letters A-Z, e.g. 'ABCDE'; got {value!r}")
        return value


class MathVerifier:
    name = "math"
    version = "1.1"  # 1.1: prose and multilingual extraction, units, chains state their last part (issue 16)
    description = ("Mathematical equivalence of the completion's final answer (boxed, answer phrase, "
                   "GSM8K ####) with the reference: numbers, expressions, sets, intervals, matrices.")
    Config = MathConfig
    # units builds pint's registry on import: done once in the forkserver, inherited by every worker
    worker_preload = ("referee.verifiers.math.source", "referee.verifiers.math.units")

    def __init__(self, config: MathConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        if sum(len(s.completion) + len(s.reference or "") for s in batch) > _INLINE_CHARS:
            prepared = await asyncio.to_thread(lambda: [self._prepare(s) for s in batch])
        else:
            prepared = [self._prepare(s) for s in batch]
        pending = {id(s): p for s, p in zip(batch, prepared, strict=True) if isinstance(p, tuple)}
        todo = [s for s, p in zip(batch, prepared, strict=True) if isinstance(p, tuple)]
        cfg = self.config
        checked = await score_in_workers(
            self, todo, check,
            lambda s: (*pending[id(s)][:3], cfg.tolerance, cfg.mc_letters),
            self.runtime, timeout=cfg.timeout_s,
        )
        results = iter(checked)
        out: list[Score] = []
        for p in prepared:
            if isinstance(p, Score):
                out.append(p)
            else:
                score = next(results)
                out.append(score.model_copy(update={"details": {**p[3], **score.details}}))
        return out

    def _prepare(self, sample: Sample) -> Score | tuple[str, str, tuple[str, ...], dict[str, Any]]:
        """A score decided without a worker, or (gold, answer, other boxed answers, details) for one."""
        if sample.reference is None or not sample.reference.strip():
            return Score.unscored(UnscoredReason.NO_REFERENCE, "math needs `reference`: the gold answer",
                                  source=self.name, version=self.version)
        gold = extract_reference(sample.reference)
        if not gold:
            return Score.unscored(UnscoredReason.INVALID_REFERENCE,
                                  f"the reference {sample.reference[:_SHOWN]!r} has an empty answer; fix the dataset",
                                  source=self.name, version=self.version)
        details: dict[str, Any] = {"gold": gold[:_SHOWN]}
        meta = sample.metadata
        if meta.get("finish_reason") == "length" or meta.get("truncated") is True:
            return self._wrong({**details, "note": "the completion hit the token limit (truncated)"})
        letter = gold_letter(gold, self.config.mc_letters)
        if letter is not None:  # a multiple-choice gold: the chosen letter, decided here (a regex scan)
            chosen = chosen_letter(sample.completion, self.config.mc_letters)
            return Score(value=float(chosen == letter), source=self.name, version=self.version,
                         details={**details, "method": "choice", "extracted": chosen, "path": "fast"})
        found = extract_answer(sample.completion, mode=self.config.extraction,
                               last_number_fallback=self.config.last_number_fallback)
        details["method"] = found.method
        if found.answer is None:
            return self._wrong({**details, "extracted": None, "note": found.note})
        details["extracted"] = found.answer[:_SHOWN]
        if found.others:
            details["other_boxed"] = [o[:_SHOWN] for o in found.others]
        verdicts = [fast_verdict(gold, a, self.config.tolerance) for a in (found.answer, *found.others)]
        if all(v is not None for v in verdicts):
            return Score(value=float(all(verdicts)), source=self.name, version=self.version,
                         details={**details, "path": "fast"})
        return gold, found.answer, found.others, {**details, "path": "worker"}

    def _wrong(self, details: dict[str, Any]) -> Score:
        return Score(value=0.0, source=self.name, version=self.version, details=details)


@functools.lru_cache(maxsize=2048)
def _read_gold(gold: str, mc_letters: str) -> Answer:
    return read_answer(gold, gold=True, mc_letters=mc_letters, method="reference")


def check(gold: str, answer: str, others: tuple[str, ...], tolerance: float,
          mc_letters: str) -> tuple[float, dict[str, Any]]:
    """The per-item check run in a worker: read both answers and compare. Raises `UnscoredError`."""
    try:
        g = _read_gold(gold, mc_letters)
        r = read_answer(answer, gold=False, mc_letters=mc_letters, others=others)
        ok = verify(g, r, tolerance=tolerance)
        if g.form is None and not ok:  # (an unreadable gold is still matched by its own text)
            raise UnscoredError(UnscoredReason.INVALID_REFERENCE,
                                f"the reference answer {gold[:_SHOWN]!r} is not readable ({g.error}); fix the dataset")
    except TooExpensive as exc:
        raise UnscoredError(UnscoredReason.TIMEOUT, f"not checked: {exc}") from None
    except RecursionError:
        raise UnscoredError(UnscoredReason.TIMEOUT, "not checked: the answer nests too deeply") from None
    details: dict[str, Any] = {"gold_form": g.form[0] if g.form is not None else None,
                               "answer_form": r.form[0] if r.form is not None else None}
    if r.form is None and r.error:
        details["note"] = r.error
    return float(ok), details
