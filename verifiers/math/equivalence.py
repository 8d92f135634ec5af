"""Whether a response's answer form is mathematically the gold's. Asymmetric: the gold sets the shape.

Scalars are equal when
1. both are rational: exactly (`0.5` is exactly 1/2; `0.333` is not 1/3);
2. both are constants: to 10^-30 relative at a working precision raised with their magnitude, so
   `\\sqrt{2}/2` equals `1/\\sqrt{2}` and `2^{500}+1` differs from `2^{500}`;
3. otherwise: at up to 12 pseudo-random points (the same points every time) for their variables, skipping
   points where one side is undefined or non-real and the other is not; at least 3 points must agree and
   none may differ. If too few points are valid, sympy's `simplify(a - b) == 0` decides.

Approximation policy: a response that is not equal by these rules is still credited
- when the gold is a decimal (`3.14`, `1.5e3`, `12.5\\%`) and the response is within half a unit of the
  gold's last written digit (`3.1416`, `\\pi`);
- when the gold is exact (`\\frac{1}{12}`, `\\sqrt{2}`) and the response is a decimal of at least
  `MIN_SIGNIFICANT` (6) significant digits that is the gold correctly rounded to its last written digit
  (`0.0833333`, `1.41421356`): a computation carried that far is the value, not a guess. Fewer digits
  (`1.414`, `0.333`) are not credited: the question asked for the exact value;
- when `tolerance` > 0 and the response is within that relative distance.
`\\approx` in a relation: see `forms` (`x = \\frac{1}{3} \\approx 0.33` states 1/3).

Units: when both sides carry a physical unit, the values are compared after conversion (see `units`).

`%` and `°` markers: when only one side carries one, both readings of that side are tried
(`25\\%` matches `25` and `0.25`; `30^\\circ` matches `30` and `\\pi/6`).

Collections: a gold set or bare list (`2, 3`) matches the same elements in any order; a gold tuple in
order. A single gold value never matches several different response values (a hedge such as `5 or 6`).
A chain (`x = 2 + 3 = 5`) states its last part; the working before it is not checked, and since only
that one value counts a chain is never a hedge.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from .evaluate import CTX, Undefined, exact, free_symbols, numeric, substitute
from .forms import Form
from .limits import MAX_DIGITS, TooExpensive
from .parse import Node
from .quantity import align_units

__all__ = ["forms_equal", "scalars_equal"]

_BASE_DPS = 40
_REL = 30  # decimal digits that must agree for two constants to be equal
_POINT_DPS = 30
_POINT_TOL = 20
_POINTS = 12
_MIN_POINTS = 3
MIN_SIGNIFICANT = 6
"""A decimal response with this many significant digits is credited for an exact gold it rounds to."""


def forms_equal(gold: Form, resp: Form, tolerance: float = 0.0) -> bool:
    """Whether `resp` is an acceptable answer for `gold`; may raise `TooExpensive`."""
    return _Comparer(tolerance).equal(gold, resp)


def scalars_equal(gold: Node, resp: Node, tolerance: float = 0.0) -> bool:
    return _Comparer(tolerance).scalar(gold, resp)


class _Comparer:
    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance

    # -- forms ------------------------------------------------------------------------------------------
    def equal(self, g: Form, r: Form) -> bool:
        if r[0] == "chain":
            r = _last_part(r)
        if g[0] == "chain":
            g = _last_part(g)
        gk, rk = g[0], r[0]
        if gk == "text" or rk == "text":
            return gk == rk and g[1] == r[1]
        if gk in ("scalar", "labelled") and rk in ("scalar", "labelled"):
            if gk == rk == "labelled" and not _same_label(g[1], r[1]):
                return self.equations(_as_equation(g), _as_equation(r))
            return self.top_scalar(g[-1], r[-1])
        if gk == "eqn" or rk == "eqn":
            if gk in ("eqn", "labelled") and rk in ("eqn", "labelled"):
                return self.equations(_as_equation(g), _as_equation(r))
            if gk == "scalar" and not free_symbols(g[1]):  # `a + b = 7` names what it computes
                value = _constant_side(r)
                return value is not None and self.top_scalar(g[1], value)
            return False
        if gk == "ineq" or rk == "ineq":
            return gk == rk and self.inequalities(g, r)
        if gk == "coll":
            return self.collection(g, r)
        if rk == "coll":
            items = self._distinct(r[2])
            if gk == "matrix" and _is_vector(g):
                return self.sequence(_vector(g), r[2])
            if gk == "ivls" and r[1] == "pair":
                return self.intervals(g[1], _pair_interval(r))
            return len(items) == 1 and self.equal(g, items[0])  # several values for one: a hedge
        if gk == "ivls":
            return rk == "ivls" and self.intervals(g[1], r[1])
        if gk == "matrix":
            return rk == "matrix" and _shape(g) == _shape(r) and all(
                self.top_scalar(a, b) for ra, rb in zip(g[1], r[1], strict=True)
                for a, b in zip(ra, rb, strict=True))
        return False

    def collection(self, g: Form, r: Form) -> bool:
        kind, gitems = g[1], g[2]
        if r[0] == "ivls" and kind == "pair":
            return self.intervals(_pair_interval(g), r[1])
        if r[0] == "coll":
            if {kind, r[1]} in ({"set", "tuple"}, {"set", "pair"}):
                return False  # a set is not a point, nor a point a set: {1, 2} vs (1, 2)
            ritems = r[2]
        elif r[0] == "matrix" and _is_vector(r):
            ritems = tuple(("scalar", n) for n in _vector(r))
        else:
            ritems = (r,)
        if kind in ("tuple", "pair"):
            if len(ritems) == len(gitems) and all(f[0] == "labelled" for f in ritems):
                labels = [f[1] for f in ritems]
                if len(set(labels)) == len(labels) and all(lab[0] == "sym" for lab in labels):
                    ritems = tuple(sorted(ritems, key=lambda f: f[1][1]))  # x = 1, y = 2 is (1, 2)
            return len(ritems) == len(gitems) and all(
                self.equal(a, b) for a, b in zip(gitems, ritems, strict=True))
        if kind == "list" and _deliberately_ordered(gitems):
            return len(ritems) == len(gitems) and all(self.equal(a, b) for a, b in zip(gitems, ritems, strict=True))
        gd, rd = self._distinct(gitems), self._distinct(ritems)
        if len(gd) != len(rd):
            return False
        unused = list(rd)
        for item in gd:
            for k, cand in enumerate(unused):
                if self.equal(item, cand):
                    del unused[k]
                    break
            else:
                return False
        return True

    def _distinct(self, items: Sequence[Form]) -> list[Form]:
        out: list[Form] = []
        for item in items:
            if not any(self._same(item, seen) for seen in out):
                out.append(item)
        return out

    def _same(self, a: Form, b: Form) -> bool:
        if a == b:
            return True
        if a[0] in ("scalar", "labelled") and b[0] in ("scalar", "labelled"):
            return _Comparer(0.0).scalar(a[-1], b[-1])
        return False

    def sequence(self, gnodes: Sequence[Node], ritems: Sequence[Form]) -> bool:
        return len(gnodes) == len(ritems) and all(
            f[0] in ("scalar", "labelled") and self.top_scalar(n, f[-1])
            for n, f in zip(gnodes, ritems, strict=True))

    def intervals(self, gs: Sequence[tuple[Any, ...]], rs: Sequence[tuple[Any, ...]]) -> bool:
        if len(gs) != len(rs):
            return False
        gs, rs = _sorted_intervals(gs), _sorted_intervals(rs)
        for (glo, ghi, glc, ghc), (rlo, rhi, rlc, rhc) in zip(gs, rs, strict=True):
            if not (self.scalar(glo, rlo) and self.scalar(ghi, rhi)):
                return False
            if (glc != rlc and not _infinite(glo)) or (ghc != rhc and not _infinite(ghi)):
                return False
        return True

    def equations(self, g: tuple[Node, Node], r: tuple[Node, Node]) -> bool:
        fg: Node = ("add", (g[0], ("neg", g[1])))
        fr: Node = ("add", (r[0], ("neg", r[1])))
        return _proportional(fg, fr, positive=False)

    def inequalities(self, g: Form, r: Form) -> bool:
        gops, gparts = _orient(g[1], g[2])
        rops, rparts = _orient(r[1], r[2])
        if gops != rops or len(gparts) != 2 or len(rparts) != 2:
            return False
        fg: Node = ("add", (gparts[0], ("neg", gparts[1])))
        fr: Node = ("add", (rparts[0], ("neg", rparts[1])))
        return _proportional(fg, fr, positive=True)

    # -- scalars ----------------------------------------------------------------------------------------
    def top_scalar(self, g: Node, r: Node) -> bool:
        aligned = align_units(g, r)
        if aligned is None:
            return False  # `5 m` against `5 kg`
        g, r = aligned
        gm, rm = _marker(g), _marker(r)
        if gm and rm:
            return gm == rm and self.scalar(_strip(g), _strip(r))
        galts = [g, _strip(g)] if gm else [g]
        ralts = [r, _strip(r)] if rm else [r]
        return any(self.scalar(a, b) for a in galts for b in ralts)

    def scalar(self, g: Node, r: Node) -> bool:
        if g == r:
            return True
        if g[0] == r[0] == "bigop" and g[1] == r[1] and (free_symbols(g[3]) or free_symbols(g[4])):
            # symbolic bounds: the same bounds and the same body, the index renamed
            body = substitute(r[5], r[2], ("sym", g[2]))
            return self.scalar(g[3], r[3]) and self.scalar(g[4], r[4]) and self.scalar(g[5], body)
        symbols = free_symbols(g) | free_symbols(r)
        if not symbols:
            return self._constants(g, r)
        verdict = _pointwise_equal(g, r, sorted(symbols))
        if verdict is None:
            verdict = _sympy_equal(g, r)
        return verdict

    def _constants(self, g: Node, r: Node) -> bool:
        try:
            eg, er = exact(g), exact(r)
        except Undefined:
            return False
        if eg is not None and er is not None:
            if eg == er:
                return True
            return self._approximately(g, r, CTX.mpf(eg.numerator) / eg.denominator,
                                       CTX.mpf(er.numerator) / er.denominator)
        try:
            vg, vr = _precise_pair(g, r)
        except Undefined:
            return False
        if CTX.isinf(vg) or CTX.isinf(vr):
            return bool(vg == vr)
        if CTX.isnan(vg) or CTX.isnan(vr):
            return False
        scale = max(abs(vg), abs(vr))
        if abs(vg - vr) <= max(scale * CTX.mpf(10) ** -_REL, CTX.mpf(10) ** -(_REL + 2)):
            return True
        return self._approximately(g, r, vg, vr)

    def _approximately(self, g: Node, r: Node, vg: Any, vr: Any) -> bool:
        diff = abs(vg - vr)
        half_unit = _half_unit(g)
        if half_unit is not None:
            if diff < half_unit:
                return True
        elif significant_digits(r) >= MIN_SIGNIFICANT:
            response_half_unit = _half_unit(r)
            if response_half_unit is not None and diff < response_half_unit:
                return True  # `0.0833333` for 1/12: the exact gold, correctly rounded to 6+ digits
        return self.tolerance > 0 and diff <= self.tolerance * abs(vg)


def _precise_pair(g: Node, r: Node) -> tuple[Any, Any]:
    """Both values at a precision that resolves 30 digits beyond their magnitude."""
    dps = _BASE_DPS
    with CTX.workdps(dps):
        vg, vr = numeric(g), numeric(r)
    digits = max(_digits(vg), _digits(vr))
    if digits > _BASE_DPS - _REL - 5:
        dps = digits + _REL + 10
        if dps > MAX_DIGITS:
            raise TooExpensive(f"comparing these values needs more than {MAX_DIGITS} digits")
        with CTX.workdps(dps):
            vg, vr = numeric(g), numeric(r)
    return vg, vr


def _digits(v: Any) -> int:
    if not v or CTX.isinf(v) or CTX.isnan(v):
        return 0
    return max(0, int(CTX.mag(v) * 0.30103) + 1)


def significant_digits(node: Node) -> int:
    """Significant digits of a plain decimal (`0.08333` has 4); 0 for anything else."""
    if node[0] == "neg":
        return significant_digits(node[1])
    if node[0] != "num" or node[1].decimals is None or node[1].decimals <= 0:
        return 0
    return len(str(abs(int(node[1].value * 10 ** node[1].decimals)))) if node[1].value else 0


def _half_unit(g: Node) -> Any:
    """Half a unit in the last written digit of a decimal gold, or None if the gold is not a decimal."""
    tag = g[0]
    if tag == "num":
        d = g[1].decimals
        return None if d is None else CTX.mpf(10) ** -d / 2
    if tag == "neg":
        return _half_unit(g[1])
    if tag == "pct":
        h = _half_unit(g[1])
        return None if h is None else h / 100
    if tag == "mul" and len(g[1]) == 2 and g[1][1][0] == "pow":  # 1.5 \times 10^{3}
        mantissa, (_, base, power) = g[1]
        h = _half_unit(mantissa)
        if h is None or base[0] != "num" or base[1].value != 10:
            return None
        try:
            k = exact(power)
        except Undefined:
            return None
        if k is None or k.denominator != 1 or abs(k) > 10_000:
            return None
        return h * CTX.mpf(10) ** int(k)
    return None


def _pointwise_equal(g: Node, r: Node, symbols: list[str]) -> bool | None:
    """True/False when enough points decide; None when too few points are defined on both sides."""
    rng = random.Random(20240601)
    valid = mismatched = 0
    with CTX.workdps(_POINT_DPS):
        tol = CTX.mpf(10) ** -_POINT_TOL
        for env in _points(rng, symbols):
            try:
                vg, vr = numeric(g, env), numeric(r, env)
            except Undefined:
                continue
            if not (CTX.isfinite(vg) and CTX.isfinite(vr)):
                continue
            if _is_real(vg) != _is_real(vr):
                mismatched += 1
                continue  # a domain difference (ln(x^2) and 2 ln x for x < 0), not a disagreement
            if abs(vg - vr) > tol * max(1, abs(vg), abs(vr)):
                return False
            valid += 1
            if valid >= 6:
                return True
    if valid >= _MIN_POINTS:
        return True
    return False if mismatched >= _MIN_POINTS else None  # real on one side only, nearly everywhere


def _proportional(fg: Node, fr: Node, *, positive: bool) -> bool:
    """Whether fg = c * fr for a constant c != 0 (c > 0 if `positive`): the same equation or inequality."""
    symbols = sorted(free_symbols(fg) | free_symbols(fr))
    if not symbols:
        return fg == fr
    rng = random.Random(20240602)
    ratio = None
    valid = 0
    with CTX.workdps(_POINT_DPS):
        tol = CTX.mpf(10) ** -_POINT_TOL
        for env in _points(rng, symbols):
            try:
                vg, vr = numeric(fg, env), numeric(fr, env)
            except Undefined:
                continue
            if not (CTX.isfinite(vg) and CTX.isfinite(vr)) or abs(vr) < tol or abs(vg) < tol:
                continue
            q = vg / vr
            if ratio is None:
                ratio = q
                if positive and (not _is_real(q) or CTX.re(q) <= 0):
                    return False
            elif abs(q - ratio) > tol * max(1, abs(ratio)):
                return False
            valid += 1
    return valid >= _MIN_POINTS


def _points(rng: random.Random, symbols: list[str]) -> list[dict[str, Any]]:
    """Pseudo-random points; the signs alternate by point and by symbol, so that every symbol is tried
    negative and positive within the first points (|x| and x differ only for x < 0)."""
    return [{s: CTX.mpf(rng.uniform(0.2, 2.9) * (1 if (k + j) % 2 == 0 else -1)) for j, s in enumerate(symbols)}
            for k in range(_POINTS)]


def _is_real(v: Any) -> bool:
    return bool(abs(CTX.im(v)) <= CTX.mpf(10) ** -_POINT_TOL * max(1, abs(v)))


def _sympy_equal(g: Node, r: Node) -> bool:
    import sympy  # imported only when this fallback runs (the worker pool preloads it)

    from .to_sympy import to_sympy

    try:
        diff = sympy.simplify(to_sympy(g) - to_sympy(r))
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        return False
    return bool(diff == 0)


# -- helpers --------------------------------------------------------------------------------------------------

def _deliberately_ordered(items: Sequence[Form]) -> bool:
    """A bare list of three or more numbers written in neither increasing nor decreasing order (`10, 4, -2`):
    someone listing a set of solutions sorts them, so this order answers several questions in turn (a, b,
    c) and is kept. A sorted list (`-2, 4, 10`) or one with expressions is a set: any order."""
    if len(items) < 3 or any(f[0] != "scalar" for f in items):
        return False
    try:
        values = [exact(f[1]) for f in items]
    except (Undefined, TooExpensive):
        return False
    if any(v is None for v in values):
        return False
    pairs = list(itertools.pairwise(values))
    return not (all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs))  # type: ignore[operator]


def _same_label(a: Node, b: Node) -> bool:
    """`W(n)` and `W(x)` name the same function's value; otherwise labels are compared as written."""
    return a == b or (a[0] == b[0] == "call" and a[1] == b[1] and len(a[2]) == len(b[2]))


def _last_part(form: Form) -> Form:
    """A chain states its last part (`x = 5 + 5 + 1 = 11` is 11): only that value counts, so a chain is
    never a hedge, whatever its working says."""
    return ("labelled", form[1], form[2][-1]) if form[1] is not None else ("scalar", form[2][-1])


def _marker(node: Node) -> str | None:
    if node[0] == "neg":
        return _marker(node[1])
    return node[0] if node[0] in ("pct", "deg") else None


def _strip(node: Node) -> Node:
    if node[0] == "neg":
        return ("neg", _strip(node[1]))
    return node[1] if node[0] in ("pct", "deg") else node


def _as_equation(form: Form) -> tuple[Node, Node]:
    if form[0] == "labelled":
        return form[1], form[2]
    return form[1], form[2]


def _constant_side(form: Form) -> Node | None:
    """The constant side of an equation whose other side has variables, or None."""
    lhs, rhs = form[1], form[2]
    if free_symbols(lhs) and not free_symbols(rhs):
        return rhs
    if free_symbols(rhs) and not free_symbols(lhs):
        return lhs
    return None


def _orient(ops: tuple[str, ...], parts: tuple[Node, ...]) -> tuple[tuple[str, ...], tuple[Node, ...]]:
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
    if ops and ops[0] in ("<", "<="):
        return tuple(flip[o] for o in reversed(ops)), tuple(reversed(parts))
    return ops, parts


def _infinite(node: Node) -> bool:
    return node in (("const", "oo"), ("neg", ("const", "oo")))


def _bound_key(node: Node) -> Any:
    try:
        with CTX.workdps(20):
            v = numeric(node)
        return CTX.re(v)
    except (Undefined, TooExpensive):
        return CTX.mpf(0)


def _sorted_intervals(ivls: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(ivls, key=lambda iv: (_bound_key(iv[0]), _bound_key(iv[1])))


def _pair_interval(form: Form) -> tuple[tuple[Any, ...], ...]:
    return ((form[2][0][1], form[2][1][1], False, False),)


def _shape(form: Form) -> tuple[int, int]:
    return len(form[1]), len(form[1][0])


def _is_vector(form: Form) -> bool:
    rows, cols = _shape(form)
    return rows == 1 or cols == 1


def _vector(form: Form) -> list[Node]:
    return [cell for row in form[1] for cell in row]
