"""The two-function API: `parse_answer` reads a gold or a response, `verify(gold, response)` compares.

    gold = parse_answer("\\\\frac{\\\\sqrt{2}}{2}", gold=True)
    response = parse_answer("... so the answer is $\\\\boxed{1/\\\\sqrt2}$.")
    verify(gold, response)  # True

The order matters: the gold is read as a gold (its decimals set the precision, `2, 3` is a set of answers,
a one-letter gold in `mc_letters` is a multiple-choice letter, `1011_2` fixes the base) and the response
as a response (its final answer extracted; several values for one gold are a hedge). These functions run
in the calling thread with no deadline; for untrusted text use the `math` reward source, which runs them
in worker processes that are killed at a deadline.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .choice import chosen_letter, gold_letter
from .equivalence import forms_equal
from .extract import Mode, extract_answer, extract_reference
from .forms import Form, interpret, normalize_text
from .latex import clean
from .lexer import ParseError
from .limits import TooExpensive
from .parse import parse_expression
from .words import number_value

__all__ = ["Answer", "parse_answer", "read_answer", "verify"]

_TEXT_WRAP = re.compile(r"\\text\s*\{([^{}]*)\}")
_WORDS_ONLY = re.compile(r"[A-Za-z][A-Za-z '-]*[A-Za-z]")
# `1,22`, `1000,99`, `0,111`: a comma that cannot be a thousands separator may be a decimal comma.
_DECIMAL_COMMA = re.compile(r"(?<![\d,.])([-+]?\d+),(\d+)(?![\d,])")
_GROUPED = re.compile(r"[-+]?[1-9]\d{0,2},\d{3}")
_BASE = re.compile(r"\(?([0-9A-Za-z]+)\)?\s*_\s*\{?\s*(\d{1,2})\s*\}?")
_DIGITS = re.compile(r"[0-9A-Za-z]+")
_KEY = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Answer:
    """A gold or response answer, read: the extracted text, its cleaned spelling and its comparable form."""

    text: str
    cleaned: str
    form: Form | None
    gold: bool
    method: str = ""
    error: str = ""
    """Why `form` is None (nothing extracted, unreadable)."""
    alternatives: tuple[Answer, ...] = ()
    """Other boxed answers of the same completion, written differently; each must be right too."""
    reading: Answer | None = None
    """A second reading of an ambiguous spelling (`1,22`: the list 1, 22 or the decimal 1.22); either may
    match."""
    raw: str = ""
    """The completion the answer was extracted from (a multiple-choice gold reads its chosen letter)."""


def parse_answer(text: str, *, gold: bool = False, mode: Mode = "marked", last_number_fallback: bool = True,
                 mc_letters: str = "ABCDE") -> Answer:
    """Read a reference (`gold=True`: its `####` or boxed answer, else all of it) or a completion (its final
    answer, see `extract`). May raise `TooExpensive` for absurd answers."""
    if gold:
        return read_answer(extract_reference(text), gold=True, mc_letters=mc_letters, method="reference")
    found = extract_answer(text, mode=mode, last_number_fallback=last_number_fallback)
    if found.answer is None:
        return Answer(text="", cleaned="", form=None, gold=False, method=found.method, error=found.note, raw=text)
    answer = read_answer(found.answer, gold=False, mc_letters=mc_letters, method=found.method, others=found.others)
    return dataclasses.replace(answer, raw=text)


def read_answer(text: str, *, gold: bool, mc_letters: str = "ABCDE", method: str = "",
                others: tuple[str, ...] = ()) -> Answer:
    """Read an already extracted answer string (and, for a response, its other boxed answers)."""
    main = _read(text, gold=gold, mc_letters=mc_letters, method=method)
    if not others:
        return main
    alternatives = tuple(_read(o, gold=False, mc_letters=mc_letters, method=method) for o in others)
    return dataclasses.replace(main, alternatives=alternatives)


def _read(text: str, *, gold: bool, mc_letters: str, method: str) -> Answer:
    cleaned = clean(text)
    if not cleaned:
        return Answer(text, cleaned, None, gold, method, "the answer is empty")
    plain = _TEXT_WRAP.sub(r"\1", cleaned).strip()
    if gold:
        letter = gold_letter(text, mc_letters)
        if letter is not None:
            return Answer(text, cleaned, ("choice", letter, mc_letters), gold, method)
        base = _base_numeral(plain)
        if base is not None:
            return Answer(text, cleaned, ("base", *base), gold, method)
    decimal = _DECIMAL_COMMA.search(cleaned)
    if decimal and not _GROUPED.fullmatch(decimal.group(0)) and cleaned.count(",") == 1 and not any(
            c in cleaned for c in "([{"):
        main = _read(cleaned.replace(",", ", "), gold=gold, mc_letters=mc_letters, method=method)
        other = _read(cleaned.replace(",", "."), gold=gold, mc_letters=mc_letters, method=method)
        return dataclasses.replace(main, text=text, reading=other)
    words = plain.split() if len(plain) <= 200 and _WORDS_ONLY.fullmatch(plain) else []
    for phrase, unit in ((words, None), (words[:-1], words[-1:])):  # "twelve", "three quarters", "twelve apples"
        value = number_value(" ".join(phrase)) if phrase else None
        if value is not None:
            number = f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)
            spelled = number if not unit else f"{number}\\text{{ {unit[0]}}}"
            return dataclasses.replace(_read(spelled, gold=gold, mc_letters=mc_letters, method=method), text=text)
    if _WORDS_ONLY.fullmatch(plain) and (len(plain) > 3 or " " in plain):  # `ab` stays a product
        return Answer(text, cleaned, interpret(("text", plain)), gold, method)
    try:
        form = interpret(parse_expression(cleaned))
    except ParseError as exc:
        if gold and "=" in cleaned:  # a reference's chain ends in its answer: `1 = \\alpha_1 = x = 0` is 0
            last = _read(cleaned.rsplit("=", 1)[1], gold=True, mc_letters=mc_letters, method=method)
            if last.form is not None:
                return dataclasses.replace(last, text=text)
        return Answer(text, cleaned, None, gold, method, f"could not read {text[:80]!r}: {exc}")
    except RecursionError as exc:
        raise TooExpensive("the answer nests too deeply to read") from exc
    return Answer(text, cleaned, form, gold, method)


def verify(gold: Answer, response: Answer, *, tolerance: float = 0.0) -> bool:
    """Whether `response` answers `gold` (see `equivalence` for the rules). False when either has no form,
    and when any of the response's other boxed answers is wrong (several different answers are a hedge)."""
    if gold.form is not None and gold.form[0] == "choice":
        return chosen_letter(response.raw or response.text, gold.form[2]) == gold.form[1]
    return _either(gold, response, tolerance) and all(_either(gold, alt, tolerance) for alt in response.alternatives)


def _either(gold: Answer, response: Answer, tolerance: float) -> bool:
    """Either reading of an ambiguous gold or response matches (`1,22` is 1.22 or the list 1, 22)."""
    golds = (gold,) if gold.reading is None else (gold, gold.reading)
    responses = (response,) if response.reading is None else (response, response.reading)
    return any(_verify(g, r, tolerance) for g in golds for r in responses)


def _verify(gold: Answer, response: Answer, tolerance: float) -> bool:
    if not response.cleaned:
        return False
    if _KEY.sub("", gold.cleaned) == _KEY.sub("", response.cleaned):
        return True  # the gold's own text, even where it is not readable
    if gold.form is None:
        return False
    kind = gold.form[0]
    if kind == "base":
        return _same_numeral(gold.form, response.cleaned)
    gold_word, response_word = _TEXT_WRAP.sub(r"\1", gold.cleaned), _TEXT_WRAP.sub(r"\1", response.cleaned)
    if gold_word.isalpha() and gold_word.casefold() == response_word.strip().casefold():
        return True  # `No` for `no`, `\text{Bob}` for `Bob`
    if response.form is None:
        return False
    if kind == "text" or response.form[0] == "text":
        return normalize_text(_TEXT_WRAP.sub(r"\1", gold.cleaned)) == normalize_text(
            _TEXT_WRAP.sub(r"\1", response.cleaned))
    return forms_equal(gold.form, response.form, tolerance)


def _base_numeral(text: str) -> tuple[str, int, int] | None:
    m = _BASE.fullmatch(text)
    if m is None:
        return None
    digits, base = m.group(1).upper(), int(m.group(2))
    if not 2 <= base <= 36:
        return None
    try:
        return digits, base, int(digits, base)
    except ValueError:
        return None


def _same_numeral(gold: Form, response: str) -> bool:
    plain = _TEXT_WRAP.sub(r"\1", response).strip()
    given = _base_numeral(plain)
    if given is not None:
        return given[1] == gold[2] and given[2] == gold[3]
    if _DIGITS.fullmatch(plain) and len(plain) <= 200:
        try:
            return int(plain, gold[2]) == gold[3]  # digits without a base are read in the gold's base
        except ValueError:
            return False
    return False
