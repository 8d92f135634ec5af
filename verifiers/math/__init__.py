"""Mathematical answer verification: the `math` reward source and its two-function API.

    from referee.verifiers.math import parse_answer, verify

    gold = parse_answer("\\frac{1}{2}", gold=True)
    verify(gold, parse_answer("So the probability is $\\boxed{0.5}$."))  # True

`parse_answer`/`verify` run in the calling thread with no deadline; the `math` source (`MathVerifier`)
runs them in worker processes killed at a deadline, with a fast path for plain numbers.
"""

from .answer import Answer, parse_answer, read_answer, verify
from .extract import Extraction, extract_answer, extract_reference
from .limits import TooExpensive
from .source import MathConfig, MathVerifier

__all__ = [
    "Answer",
    "Extraction",
    "MathConfig",
    "MathVerifier",
    "TooExpensive",
    "extract_answer",
    "extract_reference",
    "parse_answer",
    "read_answer",
    "verify",
]
