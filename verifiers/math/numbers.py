"""The inline fast path: both answers plain numbers (`42`, `-1,234`, `0.5`, `3/4`, `\\frac{3}{4}`).

Most answers are plain numbers; comparing two of them exactly with `Fraction` takes microseconds, so it
runs in the event loop instead of a worker. The pattern bounds the cost: at most `_MAX_CHARS` characters
and no exponents, so nothing here can be expensive. The verdict is the one the full check gives.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["fast_verdict", "plain_number"]

MIN_SIGNIFICANT = 6  # the same as equivalence.MIN_SIGNIFICANT (kept here: this module must not import mpmath)

_MAX_CHARS = 60
_PLAIN = re.compile(
    r"(?P<sign>[+-]?)(?:"
    r"(?P<int>[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"|\.(?P<bare>\d+)"
    r"|(?P<num>\d+)/(?P<den>\d+)"
    r"|\\[dt]?frac\{(?P<lnum>\d+)\}\{(?P<lden>\d+)\})"
)


def plain_number(text: str) -> tuple[Fraction, int | None] | None:
    """(value, decimal places or None) of a plain number, or None if `text` is anything else."""
    s = text.strip()
    if len(s) > _MAX_CHARS:
        return None
    if s.startswith("$") and s.endswith("$"):
        s = s.strip("$").strip()
    s = s.rstrip(".").strip()
    m = _PLAIN.fullmatch(s)
    if m is None:
        return None
    sign = -1 if m.group("sign") == "-" else 1
    if m.group("int") is not None:
        whole, frac = m.group("int").replace(",", ""), m.group("frac")
        value = Fraction(int(whole + (frac or "")), 10 ** len(frac)) if frac else Fraction(int(whole))
        return sign * value, len(frac) if frac else None
    if m.group("bare") is not None:
        frac = m.group("bare")
        return sign * Fraction(int(frac), 10 ** len(frac)), len(frac)
    num, den = (m.group("num"), m.group("den")) if m.group("num") is not None else (m.group("lnum"), m.group("lden"))
    if int(den) == 0:
        return None
    return sign * Fraction(int(num), int(den)), None


def fast_verdict(gold: str, response: str, tolerance: float) -> bool | None:
    """True/False when both are plain numbers (same rules as `equivalence`), None otherwise."""
    g = plain_number(gold)
    if g is None:
        return None
    r = plain_number(response)
    if r is None:
        return None
    (gv, decimals), (rv, r_decimals) = g, r
    if gv == rv:
        return True
    diff = abs(gv - rv)
    if decimals is not None:
        if diff < Fraction(1, 2 * 10**decimals):
            return True
    elif (r_decimals is not None and r_decimals > 0 and len(str(abs(int(rv * 10**r_decimals)))) >= MIN_SIGNIFICANT
          and diff < Fraction(1, 2 * 10**r_decimals)):
        return True  # an exact gold correctly rounded to 6+ significant digits (see `equivalence`)
    return tolerance > 0 and diff <= Fraction(tolerance) * abs(gv)
