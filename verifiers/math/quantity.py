"""Values with units: a parsed answer split into its value and its unit, and two answers put in one unit.

`2 \\times 10^3 m` is the value 2000 in metres; `2000 m` parsed as the product 2000*m is read the same way
when the other side has a unit or is a plain number (a single unit letter, never a variable there). The
conversion itself is pint's (see `units`).
"""

from __future__ import annotations

from fractions import Fraction

from .evaluate import free_symbols
from .lexer import Num
from .parse import Node

__all__ = ["align_units"]


def align_units(g: Node, r: Node) -> tuple[Node, Node] | None:
    """(gold, response) without their units, the response converted into the gold's unit when both have
    one; None when both have physical units of different dimensions (`5 m` against `5 kg`)."""
    g, gunit = _split_unit(g)
    r, runit = _split_unit(r)
    if gunit is not None and runit is None:
        r, runit = _letter_unit(r)
    elif runit is not None and gunit is None:
        g, gunit = _letter_unit(g)
    elif gunit is None and runit is None and not free_symbols(g):
        r, _ = _letter_unit(r)  # `1,000.99 m²` for 1000.99: a unit letter, not a variable
    if gunit is None or runit is None:
        return g, r
    from .units import conversion  # pint: imported (in the worker pool's forkserver) only when needed

    factor = conversion(gunit, runit)
    if factor is False:
        return None
    if factor is not None and factor != 1.0:
        scale = Fraction(factor).limit_denominator(10**12)
        r = ("mul", (r, ("num", Num(scale, None))))
    return g, r


def _split_unit(node: Node) -> tuple[Node, str | None]:
    """`node` without its unit wrappers, and its unit when it has exactly one (`5 cm`, `2 \\times 10^3 m`)."""
    found: set[str] = set()

    def strip(n: Node) -> Node:
        if n[0] == "unit":
            found.add(n[2])
            return strip(n[1])
        if n[0] in ("neg", "pct", "deg"):
            return (n[0], strip(n[1]))
        if n[0] == "mul":
            return ("mul", tuple(strip(f) for f in n[1]))
        return n

    bare = strip(node) if _has_unit(node) else node
    return bare, (next(iter(found)) if len(found) == 1 else None)


_UNIT_LETTERS = frozenset("m g s h L l K A V W J N".split())


def _letter_unit(node: Node) -> tuple[Node, str | None]:
    """`2000 m` parsed as the product 2000*m, read as 2000 metres when the other side has a unit (and
    `10 m/s` as 10 metres per second)."""
    if node[0] == "div" and node[2][0] == "sym" and node[2][1] in _UNIT_LETTERS:
        value, unit = _letter_unit(node[1])
        return (node, None) if unit is None else (value, f"{unit}/{node[2][1]}")
    if node[0] != "mul":
        return node, None
    last = node[1][-1]
    power = ""
    if last[0] == "pow" and last[2][0] == "num" and last[2][1].value in (2, 3):
        last, power = last[1], f"^{last[2][1].value}"
    if last[0] == "sym" and last[1] in _UNIT_LETTERS:
        rest = node[1][:-1]
        if not any(free_symbols(f) for f in rest):
            return (rest[0] if len(rest) == 1 else ("mul", rest)), last[1] + power
    return node, None


def _has_unit(node: Node) -> bool:
    if node[0] == "unit":
        return True
    if node[0] in ("neg", "pct", "deg"):
        return _has_unit(node[1])
    return node[0] == "mul" and any(_has_unit(f) for f in node[1])
