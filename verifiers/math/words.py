"""Numbers written in English words: "twelve", "one hundred and five", "three quarters", "two and a half".

Only whole phrases are read (every word must be a number word), so "one of them" or "no one" are never
numbers. Used for answers given in words; `12` written as "twelve" is the same answer.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["number_value"]

_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_PARTS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
          "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7,
          "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10}
_SPLIT = re.compile(r"[\s-]+")
_MAX_WORDS = 12


def _whole(words: list[str]) -> int | None:
    if not words:
        return None
    total = current = 0
    for w in words:
        if w in _SMALL:
            current += _SMALL[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        elif w in _SCALES:
            total += (current or 1) * _SCALES[w]
            current = 0
        elif w != "and":
            return None
    return total + current


def number_value(text: str) -> Fraction | None:
    """The value of a phrase made only of number words, or None."""
    words = [w for w in _SPLIT.split(text.strip().lower()) if w]
    if not words or len(words) > _MAX_WORDS or words in (["and"], ["a"], ["an"]):
        return None
    negative = words[0] in ("minus", "negative")
    if negative:
        words = words[1:]
    if words and words[-1] in _PARTS:
        denominator = _PARTS[words[-1]]
        head = words[:-1]
        whole_words: list[str] = []
        if "and" in head:
            cut = len(head) - 1 - head[::-1].index("and")
            whole_words, head = head[:cut], head[cut + 1 :]
        count = 1 if head in ([], ["a"], ["an"]) else _whole(head)
        whole = _whole(whole_words) if whole_words else 0
        if count is None or whole is None:
            return None
        value = whole + Fraction(count, denominator)
    else:
        whole = _whole(words)
        if whole is None or words == ["and"]:
            return None
        value = Fraction(whole)
    return -value if negative else value
