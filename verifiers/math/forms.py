"""What an answer is, as opposed to how it was written: the comparable form of a parsed answer.

Forms are tagged tuples (they travel to worker processes):

    ("scalar", node)                  a number or expression; `%` and `°` stay on it as markers
    ("labelled", label, node)         `x = 3`, `f(x) = 2x + 1`: a value with the name it was given
    ("chain", label | None, nodes)    `x = 2 + 3 = 5`: its answer is its last part
    ("eqn", lhs, rhs)                 an equation that is not a labelled value (`2x + 3y = 6`)
    ("ineq", ops, parts)              an inequality in several variables
    ("coll", kind, forms)             kind: "set" (unordered), "tuple" (ordered), "pair" (`(a, b)`: a
                                      point or an open interval), "list" (bare `2, 3` or `2 or 3`)
    ("ivls", intervals)               a union of (lo, hi, lo_closed, hi_closed); () is the empty set
    ("matrix", rows)
    ("text", words)                   normalised words (`\\text{Monday}`, "no solution")
    ("choice", letter)                a multiple-choice letter
    ("base", digits, base)            a numeral in another base (`1011_2`)

Inequalities in one variable become intervals (`x > 3` and `-x < -3` are (3, oo), `x < 1 or x > 2` a
union, `0 < f(x) < 1` is (0, 1), `1 \\le |z| \\le 2` is [-2, -1] U [1, 2]), so they compare with interval
answers. `a \\pm b` is the set {a + b, a - b}.

Labels: the left side of `x = 3`, `f(x) = ...`, and of a named quantity (`AB = 4`, `|AB| = 1`,
`V_1:V_2 = 11:21`, `\\frac{NO}{BO} = ...`: symbols combined by products, ratios and absolute values, no
numbers, no sums) names the value on the right. `2x + z = 1` is an equation, not a labelled 1.
`p=5,q=2;p=7,q=2` and `p = 5, q = 2 and p = 7, q = 2`: labelled values whose labels repeat form groups,
each a tuple.

Approximations in a relation: `x = \\frac{1}{3} \\approx 0.33` states the exact value 1/3; what follows
its first `\\approx` is a rounding, not checked. A value given only approximately (`x \\approx 0.33`)
is that decimal.

Matrices: sums, products and scalar multiples of matrices are computed (`A + B` is one matrix).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .evaluate import CTX, Undefined, exact, free_symbols, numeric, substitute
from .lexer import Num, ParseError
from .limits import TooExpensive
from .parse import Node

__all__ = ["Form", "interpret", "normalize_text"]

Form = tuple[Any, ...]

_OO: Node = ("const", "oo")
_NEG_OO: Node = ("neg", _OO)
_INEQ = frozenset({"<", "<=", ">", ">="})
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ARTICLES = re.compile(r"\b(?:the|a|an)\b")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_EMPTY_WORDS = frozenset({"no solution", "no solutions", "no real solution", "no real solutions", "none",
                          "empty set", "no real roots", "no roots"})
_ALL_WORDS = frozenset({"all real numbers", "all reals", "every real number", "all real values"})


def normalize_text(text: str) -> str:
    text = text.replace("\\text", " ").replace("\\mathrm", " ").casefold()
    text = _NON_WORD.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def interpret(node: Node) -> Form:
    tag = node[0]
    if tag == "list":
        return _list(node[1], node[2])
    if tag == "rel":
        return _relation(node[1], node[2])
    if tag == "pm":
        return _plus_minus(node)
    if tag in ("tuple", "set"):
        return ("coll", tag, tuple(interpret(n) for n in node[1]))
    if tag == "pair":
        return ("coll", "pair", (interpret(node[1]), interpret(node[2])))
    if tag == "ivl":
        return ("ivls", ((node[1], node[2], node[3], node[4]),))
    if tag == "setop":
        return _set_operation(node)
    if tag == "const" and node[1] == "reals":
        return ("ivls", ((_NEG_OO, _OO, False, False),))
    if tag == "const" and node[1] == "empty":
        return ("coll", "set", ())
    if tag == "mat":
        return ("matrix", node[1])
    if tag in ("add", "mul", "neg", "div"):
        rows = _matrix_value(node)
        if rows is not None:
            return ("matrix", rows)
    if tag == "text":
        words = normalize_text(node[1])
        if words in _EMPTY_WORDS:
            return ("coll", "set", ())
        if words in _ALL_WORDS:
            return ("ivls", ((_NEG_OO, _OO, False, False),))
        return ("text", words)
    return ("scalar", node)


def _list(items: tuple[Node, ...], seps: tuple[str, ...]) -> Form:
    forms = [interpret(n) for n in items]
    if forms and all(f[0] == "ivls" for f in forms):
        if set(seps) == {"and"} and all(n[0] == "rel" and len(f[1]) == 1 for n, f in zip(items, forms, strict=True)):
            return _intersection([f[1][0] for f in forms])  # x > 1 and x < 3
        if "or" in seps or any(len(f[1]) != 1 for f in forms) or all(n[0] == "rel" for n in items):
            return ("ivls", tuple(iv for f in forms for iv in f[1]))
    grouped = _labelled_groups(forms)
    if grouped is not None:
        return ("coll", "list", grouped)
    flat: list[Form] = []
    for node, form in zip(items, forms, strict=True):
        if _is_plus_minus(node):  # `x = 1 \pm 2, 5` lists three answers
            flat.extend(form[2])
        else:
            flat.append(form)
    return ("coll", "list", tuple(flat))


def _labelled_groups(forms: list[Form]) -> tuple[Form, ...] | None:
    """`p=5,q=2;p=7,q=2` or `p = 5, q = 2 and p = 7, q = 2`: labelled values whose labels repeat in the
    same order are groups, each a tuple (then compared as (5, 2), (7, 2)); None when they are not."""
    if len(forms) < 4 or not all(f[0] == "labelled" and f[1][0] == "sym" for f in forms):
        return None
    groups: list[list[Form]] = [[]]
    for form in forms:
        if any(f[1] == form[1] for f in groups[-1]):
            groups.append([])
        groups[-1].append(form)
    shapes = {tuple(f[1] for f in g) for g in groups}
    if len(groups) < 2 or len(shapes) != 1 or len(groups[0]) < 2:
        return None
    return tuple(("coll", "tuple", tuple(g)) for g in groups)


Rows = tuple[tuple[Node, ...], ...]


def _matrix_value(node: Node) -> Rows | None:
    """The cells of a sum, product or scalar multiple of matrices (`A + B`, `2A`, `AB`); None when `node`
    holds no matrix."""
    tag = node[0]
    if tag == "mat":
        return node[1]
    if tag == "neg":
        inner = _matrix_value(node[1])
        return None if inner is None else tuple(tuple(("neg", c) for c in row) for row in inner)
    if tag == "div":
        inner = _matrix_value(node[1])
        if inner is None or _has_matrix(node[2]):
            return None
        return tuple(tuple(("div", c, node[2]) for c in row) for row in inner)
    if tag == "add":
        terms = [_matrix_value(t) for t in node[1]]
        if any(t is None for t in terms) or len({(len(t), len(t[0])) for t in terms}) != 1:  # type: ignore[index,arg-type]
            return None
        first: Rows = terms[0]  # type: ignore[assignment]
        return tuple(tuple(("add", tuple(t[i][j] for t in terms)) for j in range(len(first[0])))  # type: ignore[index]
                     for i in range(len(first)))
    if tag == "mul" and any(_has_matrix(f) for f in node[1]):
        scalars = [f for f in node[1] if not _has_matrix(f)]
        result: Rows | None = None
        for f in node[1]:
            if not _has_matrix(f):
                continue
            m = _matrix_value(f)
            if m is None:
                return None
            result = m if result is None else _matmul(result, m)
            if result is None:
                return None
        assert result is not None
        if scalars:
            result = tuple(tuple(("mul", (*scalars, c)) for c in row) for row in result)
        return result
    return None


def _has_matrix(node: Node) -> bool:
    return node[0] == "mat" or (node[0] in ("add", "mul") and any(_has_matrix(n) for n in node[1])) or (
        node[0] in ("neg", "div") and _has_matrix(node[1]))


def _matmul(a: Rows, b: Rows) -> Rows | None:
    if len(a[0]) != len(b):
        return None
    return tuple(tuple(("add", tuple(("mul", (a[i][k], b[k][j])) for k in range(len(b))))
                       for j in range(len(b[0]))) for i in range(len(a)))


def _intersection(intervals: list[tuple[Node, Node, bool, bool]]) -> Form:
    lo, hi, lo_closed, hi_closed = intervals[0]
    for nlo, nhi, nlc, nhc in intervals[1:]:
        if _value(nlo) > _value(lo) or (nlo == lo and not nlc):
            lo, lo_closed = nlo, nlc
        if _value(nhi) < _value(hi) or (nhi == hi and not nhc):
            hi, hi_closed = nhi, nhc
    if _value(lo) > _value(hi):
        return ("coll", "set", ())
    return ("ivls", ((lo, hi, lo_closed, hi_closed),))


def _value(node: Node) -> float:
    try:
        with CTX.workdps(20):
            return float(CTX.re(numeric(node)))
    except (Undefined, TooExpensive) as exc:
        raise ParseError("an interval bound without a value") from exc


def _is_plus_minus(node: Node) -> bool:
    return node[0] == "pm" or (node[0] == "rel" and set(node[1]) <= {"=", "~"} and node[2][-1][0] == "pm")


def _plus_minus(node: Node) -> Form:
    _, left, right, sign = node
    plus: Node = ("add", (left, right))
    minus: Node = ("add", (left, ("neg", right)))
    if left[0] == "num" and left[1].value == 0:
        plus, minus = right, ("neg", right)
    parts = (plus, minus) if sign == "+-" else (minus, plus)
    return ("coll", "set", tuple(("scalar", p) for p in parts))


def _is_label(node: Node) -> bool:
    """A name: a symbol, a call `f(x)`, or symbols joined by products, ratios and absolute values."""
    tag = node[0]
    if tag in ("sym", "call"):
        return True
    if tag == "mul":
        return all(_is_label(n) for n in node[1])
    if tag == "div":
        return _is_label(node[1]) and _is_label(node[2])
    return tag == "fn" and node[1] == "abs" and len(node[2]) == 1 and _is_label(node[2][0])


def _relation(ops: tuple[str, ...], parts: tuple[Node, ...]) -> Form:
    if "~" in ops and all(op in ("=", "~") for op in ops):
        first = ops.index("~")
        if not _is_label(parts[first]):  # `1/3 \approx 0.33`: the exact value before the rounding
            ops, parts = ops[:first], parts[: first + 1]
            if not ops:
                return interpret(parts[0])
    if all(op in ("=", "~") for op in ops):
        return _equation(parts)
    if len(ops) == 1 and ops[0] == "in":
        return interpret(parts[1])
    if all(op in _INEQ for op in ops):
        interval = _inequality(ops, parts)
        return interval if interval is not None else ("ineq", ops, parts)
    if len(ops) == 1 and ops[0] == "!=" and _is_label(parts[0]) and not free_symbols(parts[1]):
        point = parts[1]
        return ("ivls", ((_NEG_OO, point, False, False), (point, _OO, False, False)))
    raise ParseError(f"unsupported relation {' '.join(ops)}")


def _equation(parts: tuple[Node, ...]) -> Form:
    if len(parts) == 2 and parts[0][0] in ("tuple", "pair") and parts[1][0] in ("tuple", "pair"):
        return interpret(parts[1])  # (x, y) = (1, 2)
    labels = [p for p in parts if _is_label(p)]
    values = [p for p in parts if not _is_label(p)]
    if len(labels) == 1 and len(values) >= 1:
        label = labels[0]
        names = free_symbols(label)
        if not any(names & free_symbols(v) for v in values) and (label[0] in ("sym", "call") or not any(
                free_symbols(v) for v in values)):
            if len(values) == 1:
                inner = interpret(values[0])
                if inner[0] == "scalar":
                    return ("labelled", label, values[0])
                return inner
            return ("chain", label, tuple(values))
    if not labels and len(values) >= 2 and not any(free_symbols(v) for v in values):
        return ("chain", None, tuple(values))
    if len(labels) > 1 and not _is_label(parts[-1]) and not free_symbols(parts[-1]):
        return ("scalar", parts[-1])  # `1 = \\alpha = x = 0`: a chain of names ends in its value
    if len(parts) == 2:
        return ("eqn", parts[0], parts[1])
    raise ParseError("an equation chain in several variables")


def _inequality(ops: tuple[str, ...], parts: tuple[Node, ...]) -> Form | None:
    if len(parts) == 2 and not any(_is_variable(p) for p in parts):
        solved = _solve_linear(ops[0], parts[0], parts[1])  # `-x > -1` is `x < 1`
        if solved is None:
            return None
        ops, parts = solved
    variables = [i for i, p in enumerate(parts) if _is_variable(p)]
    if len(variables) != 1:
        return None
    k = variables[0]
    names = free_symbols(parts[k])
    lo, hi, lo_closed, hi_closed = _NEG_OO, _OO, False, False
    for j, op in enumerate(ops):
        left, right = parts[j], parts[j + 1]
        if j == k:
            bound, direction = right, op
        elif j + 1 == k:
            bound, direction = left, _FLIP[op]
        else:
            return None
        if names & free_symbols(bound):
            return None
        if direction in ("<", "<="):
            hi, hi_closed = bound, direction == "<="
        else:
            lo, lo_closed = bound, direction == ">="
    if parts[k][0] == "fn":  # |z| between lo and hi: z in [-hi, -lo] U [lo, hi]
        return _absolute(lo, hi, lo_closed, hi_closed)
    return ("ivls", ((lo, hi, lo_closed, hi_closed),))


def _is_variable(node: Node) -> bool:
    return node[0] in ("sym", "call") or (node[0] == "fn" and node[1] == "abs" and node[2][0][0] == "sym")


def _absolute(lo: Node, hi: Node, lo_closed: bool, hi_closed: bool) -> Form:
    if lo == _NEG_OO or _value(lo) < 0:
        return ("ivls", ((("neg", hi), hi, hi_closed, hi_closed),))
    if hi == _OO:
        return ("ivls", ((_NEG_OO, ("neg", lo), False, lo_closed), (lo, _OO, lo_closed, False)))
    return ("ivls", ((("neg", hi), ("neg", lo), hi_closed, lo_closed), (lo, hi, lo_closed, hi_closed)))


def _solve_linear(op: str, left: Node, right: Node) -> tuple[tuple[str, ...], tuple[Node, ...]] | None:
    """`a x + b op c` with rational a != 0, b, c, as `x op' bound`; None when not linear in one symbol."""
    names = free_symbols(left) | free_symbols(right)
    if len(names) != 1 or op not in _FLIP:
        return None
    name = next(iter(names))
    diff: Node = ("add", (left, ("neg", right)))
    try:
        f0, f1, f2 = (exact(substitute(diff, name, ("num", Num(Fraction(v), None)))) for v in (0, 1, 2))
    except (Undefined, TooExpensive):
        return None
    if f0 is None or f1 is None or f2 is None or f2 - f1 != f1 - f0 or f1 == f0:
        return None
    slope = f1 - f0
    bound = -f0 / slope
    return (op if slope > 0 else _FLIP[op],), (("sym", name), ("num", Num(bound, None)))


def _set_operation(node: Node) -> Form:
    _, op, a, b = node
    left, right = _as_intervals(interpret(a)), _as_intervals(interpret(b))
    if op == "cup":
        return ("ivls", left + right)
    if op == "minus" and all(lo == hi for lo, hi, _, _ in right):  # remove points: R \ {0}
        out = list(left)
        for point, _, _, _ in right:
            split = []
            for lo, hi, lc, hc in out:
                split.append((lo, point, lc, False))
                split.append((point, hi, False, hc))
            out = split
        return ("ivls", tuple(out))
    raise ParseError(f"unsupported set operation {op}")


def _as_intervals(form: Form) -> tuple[tuple[Node, Node, bool, bool], ...]:
    if form[0] == "ivls":
        return form[1]
    if form[0] == "coll" and form[1] == "pair":
        return ((form[2][0][1], form[2][1][1], False, False),)
    if form[0] == "coll" and form[1] == "set":
        points = [f[1] for f in form[2]]
        return tuple((p, p, True, True) for p in points)  # a point p is [p, p]
    raise ParseError("not a set of numbers")

