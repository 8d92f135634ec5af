"""Multiple-choice answers: the letter a gold names, and the letter a completion chooses.

A gold is a choice when it is one of the letters in `mc_letters`, alone or with its option text:
`B`, `(B)`, `B.`, `(D) Alina`, `C Cecile`, or an answer phrase followed by one (`... the answer is\\n(C) Cecile`).

The letter a completion chooses, the first rule that applies:
1. its last boxed answer (`\\\\boxed{B}`, `\\\\boxed{\\\\text{(B)}}`);
2. the first letter after its last answer phrase (`The answer is for sure D, it can't be A or B`,
   `réponse est C non A`, `答案是 B`);
3. a letter that opens it (`D. it can't be A or B`, `B。不是 A`, `(b) because ...`);
4. the last letter in it that no negation precedes (`It's not A ..., therefore I think it's B`).
Lower-case letters count only written as an option (`(b)`, `b)`, `b.` or alone), never as a word (`a`).
Two letters joined by `or`, `and`, `/` or a comma (`A or B`, `(B), (C)`) are a hedge: no letter.
Everything here is a regex scan without nested quantifiers: linear, safe in the event loop.
"""

from __future__ import annotations

import functools
import re

from .extract import extract_answer, strip_template_tokens
from .latex import clean

__all__ = ["chosen_letter", "gold_letter"]

_PHRASE = re.compile(
    r"(?:final\s+answer|\banswer|\boption|\bchoice)\**\s*(?:is\b|:|=)|\bcorrect\s+(?:answer|option|choice)\s+is\b"
    r"|\br[ée]ponse\s*(?:est\b|:)|\brespuesta\s*(?:es\b|:)|\bantwort\s*(?:ist\b|:)|\bответ\s*:|答案\s*(?:是|为|:|：)?"
    r"|(?:الإجابة|الجواب)\s*(?:هي|هو|:)|उत्तर\s*(?:है|:)",
    re.IGNORECASE,
)
# `B`, `(B)`, `B.`, or with option text: `(D) Alina`, `C Cecile` (never `A:B=1`)
_GOLD = re.compile(r"\(?\s*([A-Z])\s*\)?\s*[.:)]?(?:\s+\(?[A-Z][a-z].*)?", re.DOTALL)
_NEGATION = re.compile(r"(?:\bnot|\bnon|n't|\bisn't|\bnor|不是|不|\bpas|\bnicht|\bno\s+es)\s*(?:be\s+)?\(?\s*$",
                       re.IGNORECASE)
# one `\s*` between any two fixed parts, so that a long run of spaces cannot be split many ways
_JOINED = re.compile(r"\s*(?:\)\s*)?(?:,|/|\bor\b|\band\b|\bou\b|\bo\b|或|和)\s*(?:\(\s*)?([A-Za-z])(?![A-Za-z])",
                     re.IGNORECASE)
_START = re.compile(r"\s*\**\s*(?:\(([A-Za-z])\)|([A-Za-z])(?:[.:)]|(?=[^\x00-\x7f])|\s*$))")
_TAIL = 2000
_ARTICLE = re.compile(r"A [a-z]")  # "A good approach is ...": the article, not option A
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s*)$")


@functools.lru_cache(maxsize=4096)  # the same reference comes with every completion of a prompt
def gold_letter(gold: str, letters: str) -> str | None:
    """The letter a gold answer names, or None when it is not a multiple-choice answer."""
    text = gold.strip()
    phrases = list(_PHRASE.finditer(text))
    if phrases:
        text = text[phrases[-1].end() :].strip()
    m = _GOLD.fullmatch(clean(text).replace("\\text{", "").replace("}", "").strip()) if len(text) < 200 else None
    return m.group(1) if m and m.group(1) in letters else None


@functools.lru_cache(maxsize=16)
def _letter_pattern(letters: str) -> re.Pattern[str]:
    upper = "".join(c for c in letters if c.isupper())
    lower = upper.lower()
    return re.compile(rf"(?<![A-Za-z\\])(?:\(([{lower}{upper}])\)|([{upper}])(?![A-Za-z])|([{lower}])(?=\)))")


def _letters(text: str, letters: str) -> list[re.Match[str]]:
    return list(_letter_pattern(letters).finditer(text))


def _letter(m: re.Match[str]) -> str:
    return next(g for g in m.groups() if g is not None).upper()


def _single(text: str, matches: list[re.Match[str]], k: int, letters: str) -> str | None:
    """The letter of matches[k], or None if another letter is joined to it (a hedge)."""
    letter = _letter(matches[k])
    end = matches[k].end()
    joined = _JOINED.match(text, end)
    if joined and joined.group(1).upper() in letters and joined.group(1).upper() != letter:
        return None
    if k > 0:
        before = text[matches[k - 1].end() : matches[k].start()]
        if _JOINED.fullmatch(before + letter) and _letter(matches[k - 1]) != letter:
            return None
    return letter


def chosen_letter(completion: str, letters: str) -> str | None:
    """The letter a completion chooses (see the module docstring), or None (no letter, or a hedge)."""
    close = completion.rfind("</think>")
    if close >= 0:
        completion = completion[close + len("</think>") :]
    elif "<think>" in completion:
        return None
    text = strip_template_tokens(completion)[-_TAIL:]
    found = extract_answer(text, mode="boxed")
    if found.answer is not None:
        chosen = {_letter(m) for box in (found.answer, *found.others) for m in _letters(box, letters)}
        return chosen.pop() if len(chosen) == 1 else None
    if found.method == "refused":
        return None
    phrases = list(_PHRASE.finditer(text))
    if phrases:
        rest = text[phrases[-1].end() :]
        rest = rest.split("\n", 1)[0] if rest.strip() and not rest.startswith("\n") else rest.lstrip()[:200]
        matches = _letters(rest, letters)
        if matches:
            return _single(rest, matches, 0, letters)
    start = _START.match(text)
    if start is not None:
        letter = (start.group(1) or start.group(2)).upper()
        if letter in letters:
            matches = _letters(text, letters)
            return _single(text, matches, 0, letters) if matches else letter
    matches = [m for m in _letters(text, letters) if not _ARTICLE.match(text, m.start())
               or not _SENTENCE_START.search(text[max(0, m.start() - 4) : m.start()])]
    for k in range(len(matches) - 1, -1, -1):
        if not _NEGATION.search(text[max(0, matches[k].start() - 16) : matches[k].start()]):
            return _single(text, matches, k, letters)
    return None
