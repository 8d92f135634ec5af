"""Budgets that keep one answer's check bounded, and the error raised when an answer exceeds them.

The worker deadline (`timeout_s`) is the last line of defence; these limits stop the answers that would
obviously blow it (`10^{10^{10}}`, `(10^{9})!`, braces nested a thousand deep) at once, and keep numeric
comparison sound: a number too large to compare exactly is never compared approximately instead.
"""

from __future__ import annotations

__all__ = ["MAX_BITS", "MAX_DEPTH", "MAX_DIGITS", "TooExpensive"]

MAX_DEPTH = 60
"""Deepest nesting of groups, fractions and function calls the parser accepts."""
MAX_BITS = 1 << 22
"""Largest exact integer (in bits, about 1.26 million digits) an answer may evaluate to."""
MAX_DIGITS = 5000
"""Highest working precision (decimal digits) for comparing irrational constants."""


class TooExpensive(Exception):
    """The answer exceeds a budget above; the item is reported unscored (`timeout`), never as wrong."""
