"""Values of scalar AST nodes: exact (`Fraction`) when rational, otherwise numeric (mpmath, any precision).

`exact` gives a rational value or None; it refuses (`TooExpensive`) results beyond `MAX_BITS`, so
`10^{10^{10}}` costs nothing. `numeric` evaluates with a private mpmath context (not thread-safe: the
source calls it in worker processes). Anything that is not a number (a set, an undefined operation)
raises `Undefined`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import mpmath

from .limits import MAX_BITS, TooExpensive
from .parse import Node

__all__ = ["CTX", "Undefined", "exact", "free_symbols", "numeric", "substitute"]

CTX = mpmath.MPContext()


class Undefined(ArithmeticError):
    """The node has no numeric value here (division by zero, a set, an unbound symbol)."""


def free_symbols(node: Node) -> frozenset[str]:
    """Names of the symbols in `node` (a call `f(x)` counts as the symbol `f()`)."""
    found: set[str] = set()
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, tuple) or not n:
            continue
        if isinstance(n[0], str):  # a node: its tag, then children
            if n[0] == "sym":
                found.add(n[1])
                continue
            if n[0] == "call":
                found.add(n[1] + "()")
                continue
            if n[0] == "num":
                continue
            if n[0] == "bigop":  # its index is bound: `\sum_{k=1}^{n} k` depends on n only
                found |= free_symbols(n[5]) - {n[2]}
                stack.extend(n[3:5])
                continue
            stack.extend(n[1:])
        else:  # a tuple of nodes (terms, items, matrix rows)
            stack.extend(n)
    return frozenset(found)


def _bits(q: Fraction) -> int:
    return max(q.numerator.bit_length(), q.denominator.bit_length())


def _int_root(n: int, k: int) -> int | None:
    """The exact k-th root of n >= 0, or None."""
    if n < 2:
        return n
    guess = round(n ** (1.0 / k)) if n.bit_length() < 1000 else _newton_root(n, k)
    for cand in (guess - 1, guess, guess + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def _newton_root(n: int, k: int) -> int:
    x = 1 << ((n.bit_length() + k - 1) // k)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _rational_root(q: Fraction, k: int) -> Fraction | None:
    if k <= 0 or k > 64:
        return None
    if q < 0:
        if k % 2 == 0:
            return None
        r = _rational_root(-q, k)
        return None if r is None else -r
    num, den = _int_root(q.numerator, k), _int_root(q.denominator, k)
    return None if num is None or den is None else Fraction(num, den)


def exact(node: Node) -> Fraction | None:
    """The rational value of `node`, or None when it is not (knowably) rational."""
    tag = node[0]
    if tag == "num":
        return node[1].value
    if tag == "neg":
        v = exact(node[1])
        return None if v is None else -v
    if tag in ("add", "mul"):
        acc = Fraction(0) if tag == "add" else Fraction(1)
        for part in node[1]:
            v = exact(part)
            if v is None:
                return None
            if tag == "add":
                acc += v
            else:
                if _bits(acc) + _bits(v) > MAX_BITS:
                    raise TooExpensive(f"the exact value needs more than {MAX_BITS} bits")
                acc *= v
        return acc
    if tag == "div":
        a, b = exact(node[1]), exact(node[2])
        if a is None or b is None:
            return None
        if b == 0:
            raise Undefined("division by zero")
        return a / b
    if tag == "pow":
        return _exact_pow(node)
    if tag == "unit":
        return exact(node[1])
    if tag == "pct":
        v = exact(node[1])
        return None if v is None else v / 100
    if tag == "fn":
        return _exact_fn(node[1], node[2])
    if tag == "bigop":
        return _exact_bigop(node)
    return None


_MAX_TERMS = 10_000
"""Most terms a sum or product with numeric bounds is expanded to; past it the check is refused."""


def substitute(node: Any, name: str, value: Node) -> Any:
    """`node` with the symbol `name` replaced by `value`."""
    if isinstance(node, tuple):
        if len(node) == 2 and node[0] == "sym" and node[1] == name:
            return value
        if node and node[0] == "bigop" and node[2] == name:  # an inner index of the same name
            return (*node[:3], substitute(node[3], name, value), substitute(node[4], name, value), node[5])
        return tuple(substitute(child, name, value) for child in node)
    return node


def _bounds(node: Node) -> range | None:
    lo, hi = exact(node[3]), exact(node[4])
    if lo is None or hi is None or lo.denominator != 1 or hi.denominator != 1:
        return None
    if hi - lo > _MAX_TERMS:
        raise TooExpensive(f"a sum or product of more than {_MAX_TERMS} terms")
    return range(int(lo), int(hi) + 1)


def _exact_bigop(node: Node) -> Fraction | None:
    terms = _bounds(node)
    if terms is None:
        return None
    from .lexer import Num  # the lexer imports nothing from here; kept local to keep this module's imports small

    acc = Fraction(0) if node[1] == "sum" else Fraction(1)
    for k in terms:
        v = exact(substitute(node[5], node[2], ("num", Num(Fraction(k), None))))
        if v is None:
            return None
        acc = acc + v if node[1] == "sum" else acc * v
    return acc


def _exact_pow(node: Node) -> Fraction | None:
    base, exp = exact(node[1]), exact(node[2])
    if exp is None:
        return None
    if exp.denominator != 1:
        if base is None or exp.denominator > 64:
            return None
        root = _rational_root(base, exp.denominator)
        if root is None:
            return None
        base, exp = root, Fraction(exp.numerator)
    if base is None:
        return None
    if base == 0 and exp < 0:
        raise Undefined("0 to a negative power")
    if base in (0, 1):
        return base
    if base == -1:
        return Fraction(-1) if exp.numerator % 2 else Fraction(1)
    size = math.log2(max(abs(base.numerator), base.denominator))
    if size * abs(exp.numerator) > MAX_BITS:
        raise TooExpensive(f"the exact value needs more than {MAX_BITS} bits")
    return base**exp.numerator


def _exact_fn(name: str, args: tuple[Node, ...]) -> Fraction | None:
    if name in ("sqrt", "root"):
        x = exact(args[0])
        k = exact(args[1]) if name == "root" else Fraction(2)
        if x is None or k is None or k.denominator != 1:
            return None
        if x < 0 and int(k) % 2 == 0:
            return None
        return _rational_root(x, int(k))
    values = [exact(a) for a in args]
    if any(v is None for v in values):
        return None
    vals: list[Fraction] = values  # type: ignore[assignment]
    if name == "abs":
        return abs(vals[0])
    if name == "floor":
        return Fraction(math.floor(vals[0]))
    if name == "ceil":
        return Fraction(math.ceil(vals[0]))
    if name in ("fact", "binom", "gcd", "lcm") and any(v.denominator != 1 or v < 0 for v in vals):
        return None
    ints = [int(v) for v in vals]
    if name == "fact":
        n = ints[0]
        if n > 2 and n * math.log2(n) > MAX_BITS:
            raise TooExpensive(f"{n}! needs more than {MAX_BITS} bits")
        return Fraction(math.factorial(n))
    if name == "binom" and len(ints) == 2:
        top, bottom = ints
        if top > 2 and min(bottom, top - bottom) * math.log2(top) > MAX_BITS:
            raise TooExpensive(f"binomial({top}, {bottom}) needs more than {MAX_BITS} bits")
        return Fraction(math.comb(top, bottom))
    if name == "gcd" and ints:
        return Fraction(math.gcd(*ints))
    if name == "lcm" and ints:
        return Fraction(math.lcm(*ints))
    return None


# -- numeric --------------------------------------------------------------------------------------------------

_EXP_LIMIT = MAX_BITS * 8
"""Largest binary exponent of an intermediate numeric value; beyond it the comparison is refused."""

_FUNCS: dict[str, Any] = {
    "sin": CTX.sin, "cos": CTX.cos, "tan": CTX.tan, "sec": CTX.sec, "csc": CTX.csc, "cot": CTX.cot,
    "arcsin": CTX.asin, "arccos": CTX.acos, "arctan": CTX.atan, "arcsec": CTX.asec, "arccsc": CTX.acsc,
    "arccot": CTX.acot, "sinh": CTX.sinh, "cosh": CTX.cosh, "tanh": CTX.tanh, "exp": CTX.exp,
    "abs": CTX.fabs, "floor": CTX.floor, "ceil": CTX.ceil,
}


def _check(v: Any) -> Any:
    if CTX.isinf(v) or CTX.isnan(v):
        return v
    if v and abs(CTX.mag(v)) > _EXP_LIMIT:
        raise TooExpensive("an intermediate value is too large to compare")
    return v


def numeric(node: Node, env: dict[str, Any] | None = None) -> Any:
    """The value of `node` at the current `CTX.dps`, with `env` binding its symbols."""
    try:
        return _check(_numeric(node, env or {}))
    except (ZeroDivisionError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise Undefined(str(exc)) from exc


def _numeric(node: Node, env: dict[str, Any]) -> Any:
    tag = node[0]
    if tag == "num":
        q = node[1].value
        return CTX.mpf(q.numerator) / q.denominator
    if tag == "sym":
        return env[node[1]]
    if tag == "const":
        name = node[1]
        if name == "pi":
            return +CTX.pi
        if name == "e":
            return +CTX.e
        if name == "i":
            return CTX.mpc(0, 1)
        if name == "oo":
            return CTX.inf
        raise Undefined(f"{name} is not a number")
    if tag == "add":
        return _check(CTX.fsum(_numeric(p, env) for p in node[1]))
    if tag == "mul":
        acc = CTX.mpf(1)
        for p in node[1]:
            acc = _check(acc * _numeric(p, env))
        return acc
    if tag == "neg":
        return -_numeric(node[1], env)
    if tag == "div":
        den = _numeric(node[2], env)
        if den == 0:
            raise Undefined("division by zero")
        return _check(_numeric(node[1], env) / den)
    if tag == "pow":
        return _pow(_numeric(node[1], env), _numeric(node[2], env))
    if tag == "unit":
        return _numeric(node[1], env)
    if tag == "pct":
        return _numeric(node[1], env) / 100
    if tag == "deg":
        return _numeric(node[1], env) * CTX.pi / 180
    if tag == "fn":
        return _fn(node[1], [_numeric(a, env) for a in node[2]])
    if tag == "bigop":
        lo, hi = _numeric(node[3], env), _numeric(node[4], env)
        if lo != CTX.floor(lo) or hi != CTX.floor(hi):
            raise Undefined("a sum with bounds that are not integers")
        if hi - lo > _MAX_TERMS:
            raise TooExpensive(f"a sum or product of more than {_MAX_TERMS} terms")
        values = [_numeric(node[5], {**env, node[2]: CTX.mpf(k)}) for k in range(int(lo), int(hi) + 1)]
        return _check(CTX.fsum(values) if node[1] == "sum" else CTX.fprod(values))
    raise Undefined(f"{tag} is not a number")


def _pow(base: Any, exp: Any) -> Any:
    if base == 0:
        if CTX.re(exp) <= 0:
            raise Undefined("0 to a non-positive power")
        return CTX.mpf(0)
    if CTX.isinf(base) or CTX.isinf(exp):
        raise Undefined("power of infinity")
    size = abs(CTX.mag(base)) + 1
    if abs(exp) * size > _EXP_LIMIT:
        raise TooExpensive("a power is too large to compare")
    if CTX.im(exp) == 0 and CTX.im(base) == 0 and base < 0:
        e = CTX.re(exp)
        if e == CTX.floor(e):
            return _check(CTX.power(base, int(e)) if abs(e) < 2**62 else CTX.power(base, e))
    return _check(CTX.power(base, exp))


def _fn(name: str, args: list[Any]) -> Any:
    x = args[0]
    if name == "sqrt":
        return CTX.sqrt(x)
    if name == "root":
        k = args[1]
        if CTX.im(x) == 0 and x < 0 and k == CTX.floor(k) and int(k) % 2 == 1:
            return -CTX.root(-x, int(k))  # the real cube root of a negative number
        return CTX.root(x, k) if k == CTX.floor(k) else CTX.power(x, 1 / k)
    if name in ("ln", "log"):
        if x == 0:
            raise Undefined("log(0)")
        if len(args) == 2:
            return CTX.log(x) / CTX.log(args[1])
        return CTX.log(x)
    if name == "fact":
        if CTX.im(x) == 0 and x < 0 and x == CTX.floor(x):
            raise Undefined("factorial of a negative integer")
        if abs(x) > 10**7:
            raise TooExpensive("a factorial is too large to compare")
        return CTX.factorial(x)
    if name == "binom":
        return CTX.binomial(x, args[1])
    if name in ("cot", "csc", "sec") and x == 0 and name != "sec":
        raise Undefined(f"{name}(0)")
    func = _FUNCS.get(name)
    if func is None:
        raise Undefined(f"no numeric value for {name}")
    return func(x)
