"""AST nodes to sympy expressions, for the symbolic fallback of `equivalence` (rarely needed: most
answers are decided exactly or at sample points). Imported lazily; the worker pool preloads sympy."""

from __future__ import annotations

from typing import Any

import sympy

from .parse import Node

__all__ = ["to_sympy"]

_CONSTS: dict[str, Any] = {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "oo": sympy.oo}
_FUNCS: dict[str, Any] = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sec": sympy.sec, "csc": sympy.csc, "cot": sympy.cot,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "arcsec": sympy.asec,
    "arccsc": sympy.acsc, "arccot": sympy.acot, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "exp": sympy.exp, "ln": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "floor": sympy.floor,
    "ceil": sympy.ceiling, "fact": sympy.factorial, "binom": sympy.binomial, "gcd": sympy.gcd,
    "lcm": sympy.lcm,
}


def to_sympy(node: Node) -> Any:
    tag = node[0]
    if tag == "num":
        q = node[1].value
        return sympy.Rational(q.numerator, q.denominator)
    if tag == "sym":
        return sympy.Symbol(node[1])
    if tag == "const" and node[1] in _CONSTS:
        return _CONSTS[node[1]]
    if tag == "add":
        return sympy.Add(*(to_sympy(p) for p in node[1]))
    if tag == "mul":
        return sympy.Mul(*(to_sympy(p) for p in node[1]))
    if tag == "div":
        return to_sympy(node[1]) / to_sympy(node[2])
    if tag == "neg":
        return -to_sympy(node[1])
    if tag == "pow":
        return sympy.Pow(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "unit":
        return to_sympy(node[1])
    if tag == "pct":
        return to_sympy(node[1]) / 100
    if tag == "deg":
        return to_sympy(node[1]) * sympy.pi / 180
    if tag == "bigop":
        k = sympy.Symbol(node[2])
        big = sympy.Sum if node[1] == "sum" else sympy.Product
        return big(to_sympy(node[5]), (k, to_sympy(node[3]), to_sympy(node[4]))).doit()
    if tag == "fn":
        name, args = node[1], [to_sympy(a) for a in node[2]]
        if name == "root":
            return sympy.root(args[0], args[1])
        if name == "log":
            return sympy.log(*args)
        if name in _FUNCS:
            return _FUNCS[name](*args)
    raise ValueError(f"no sympy form for {tag}")
