"""A small recursive-descent parser from answer tokens to a tuple AST.

Nodes are plain tuples, tagged by their first element, so they pickle cheaply into worker processes:

    ("num", Num)  ("sym", name)  ("const", "pi"|"e"|"i"|"oo"|"reals"|"empty")  ("text", words)
    ("add", terms)  ("mul", factors)  ("div", a, b)  ("pow", a, b)  ("neg", a)  ("pm", a, b, "+-"|"-+")
    ("fn", name, args)  ("call", name, args)  ("pct", a)  ("deg", a)  ("unit", a, "km/h")
    ("bigop", "sum"|"prod", var, lo, hi, body)
    ("tuple", items)  ("pair", a, b)  ("set", items)  ("ivl", lo, hi, lo_closed, hi_closed)
    ("setop", "cup"|"cap"|"minus", a, b)  ("mat", rows)  ("rel", ops, parts)  ("list", items, seps)

Precedence, loosest first: list separators (`,` `;` `or` `and`), relations (chains allowed), set operations,
`+ - \\pm`, `* / \\cdot` and implicit products, unary signs, powers (right-associative), postfix (`!` `%` `°`
and trailing unit words, kept as a `unit` wrapper: `5 cm`, `12\\text{ apples}`, `3 km/h`). A function
without parentheses takes the implicit product that follows it (`\\sin 2x` is `sin(2x)`, `\\sin x \\cos x`
is `sin(x)cos(x)`), as in print.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .lexer import Num, ParseError, Token, tokenize
from .limits import MAX_DEPTH, TooExpensive

__all__ = ["Node", "parse_expression"]

Node = tuple[Any, ...]

_SEPARATOR_WORDS = frozenset({"or", "and"})
_FILLER_WORDS = frozenset({"approximately", "about", "exactly", "only", "is", "be", "equals", "answer", "so"})
# Names read as functions before `(x)`: `f(x)`, `P(A)`, `W(n) = 1`; other letters multiply (`x(y+1)`).
_CALLABLE = frozenset("f g h p q r s".split()) | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MATRICES = frozenset({"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "matrix", "smallmatrix", "array"})
_IMPLICIT = frozenset({"ID", "CONST", "FUNC", "FRAC", "SQRT", "BINOM", "BEGIN", "BIGOP"})
_INVERSE_TRIG = {"sin": "arcsin", "cos": "arccos", "tan": "arctan"}
_EOF = Token("EOF")
_INVERSE_MARK = [Token("OP", "-"), Token("NUM", Num(Fraction(1), None)), Token("CLOSE", "}"), Token("OPEN", "(")]
_ZERO = Fraction(0)
_TEN = Fraction(10)


def parse_expression(text: str) -> Node:
    """AST of a cleaned answer string; raises `ParseError` or `TooExpensive`."""
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.abs_depth = 0

    # -- helpers -------------------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else _EOF

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, kind: str, value: object = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (value is None or tok.value == value)

    def expect(self, kind: str, value: object = None) -> Token:
        if not self.at(kind, value):
            got = self.peek()
            raise ParseError(f"expected {kind} {value or ''}, got {got.kind} {got.value or ''}".strip())
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooExpensive(f"the answer nests deeper than {MAX_DEPTH} levels")

    # -- grammar -------------------------------------------------------------------------------------------
    def parse(self) -> Node:
        while self.at("WORD") and str(self.peek().value).lower() in _FILLER_WORDS:
            self.take()
        node = self.list_()
        if not self.at("EOF"):
            raise ParseError(f"unexpected {self.peek().kind} {self.peek().value or ''}")
        return node

    def _separator(self) -> str | None:
        tok = self.peek()
        if tok.kind == "SEP":
            return str(tok.value)
        if tok.kind in ("WORD", "TEXT") and str(tok.value).strip().lower() in _SEPARATOR_WORDS:
            return str(tok.value).strip().lower()
        return None

    def list_(self) -> Node:
        self.enter()
        items: list[Node] = []
        seps: list[str] = []
        if not self._ends_item():
            items.append(self.relation())
        while (sep := self._separator()) is not None:
            self.take()
            if self._separator() is not None:  # ", and" / ", or"
                sep = self._separator() or sep
                self.take()
            seps.append(sep)
            if self._ends_item():
                break
            items.append(self.relation())
        self.depth -= 1
        if len(items) == 1 and not seps:
            return items[0]
        return ("list", tuple(items), tuple(seps))

    def _ends_item(self) -> bool:
        return self.peek().kind in ("EOF", "CLOSE", "ROW", "AMP", "END") or (
            self.peek().kind == "BAR" and self.abs_depth > 0
        )

    def relation(self) -> Node:
        parts = [self.setexpr()]
        ops: list[str] = []
        while self.at("REL"):
            ops.append(str(self.take().value))
            parts.append(self.setexpr())
        return ("rel", tuple(ops), tuple(parts)) if ops else parts[0]

    def setexpr(self) -> Node:
        node = self.expr()
        while True:
            if self.at("SETOP"):
                op = str(self.take().value)
            elif (self.at("ID", "U") and node[0] in ("ivl", "pair", "set")
                  and self.peek(1).kind == "OPEN"):
                self.take()
                op = "cup"
            else:
                return node
            node = ("setop", op, node, self.expr())

    def expr(self) -> Node:
        terms = [self.term()]
        while True:
            if self.at("OP", "+"):
                self.take()
                terms.append(self.term())
            elif self.at("OP", "-"):
                self.take()
                terms.append(("neg", self.term()))
            elif self.at("PM"):
                sign = str(self.take().value)
                left = terms[0] if len(terms) == 1 else ("add", tuple(terms))
                return ("pm", left, self.expr(), sign)
            else:
                return terms[0] if len(terms) == 1 else ("add", tuple(terms))

    def term(self) -> Node:
        factors = [self.unary()]
        while True:
            tok = self.peek()
            if tok.kind == "OP" and tok.value == "*":
                self.take()
                factors.append(self.unary())
            elif tok.kind == "OP" and tok.value == "/":
                self.take()
                num = factors[0] if len(factors) == 1 else ("mul", tuple(factors))
                factors = [("div", num, self.unary())]
            elif self._starts_implicit(tok):
                factors.append(self.power())
            else:
                return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def _starts_implicit(self, tok: Token) -> bool:
        if tok.kind == "NUM":  # `\pi 4`, `(x+1)2`; never `2 3` or `5 dollars 3 cents`
            return self.i > 0 and self.tokens[self.i - 1].kind in ("ID", "CONST", "CLOSE")
        if tok.kind in _IMPLICIT:
            return not (tok.kind == "ID" and tok.value == "U" and self.peek(1).kind == "OPEN")
        if tok.kind == "OPEN":
            return tok.value in ("(", "{", "floor", "ceil")
        return tok.kind == "BAR" and self.abs_depth == 0

    def unary(self) -> Node:
        if self.at("OP", "-"):
            self.take()
            return ("neg", self.unary())
        if self.at("OP", "+"):
            self.take()
            return self.unary()
        if self.at("PM"):
            sign = str(self.take().value)
            return ("pm", ("num", Num(_ZERO, None)), self.unary(), sign)
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.at("OP", "^"):
            self.take()
            self.enter()
            exponent = self.exponent()
            self.depth -= 1
            return self._postfix_ops(("pow", base, exponent))
        return base

    def exponent(self) -> Node:
        if self.at("OPEN", "{"):
            self.take()
            node = self.list_()
            self.expect("CLOSE", "}")
            return node
        if self.at("OP", "-"):
            self.take()
            return ("neg", self.exponent())
        if self.at("OP", "+"):
            self.take()
        return self.power()

    def postfix(self) -> Node:
        return self._postfix_ops(self.primary())

    def _postfix_ops(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.kind == "OP" and tok.value == "!":
                self.take()
                node = ("fn", "fact", (node,))
            elif tok.kind == "PCT":
                self.take()
                node = ("pct", node)
            elif tok.kind == "DEG":
                self.take()
                node = ("deg", node)
                if self.at("ID", "C") or self.at("ID", "F"):
                    self.take()
            elif tok.kind in ("WORD", "TEXT") and str(tok.value).strip().lower() not in _SEPARATOR_WORDS:
                self.take()  # a unit or a trailing word: "5 cm", "18 dollars", "12\text{ apples}"
                unit = str(tok.value).strip()
                if self.at("OP", "^") and self.peek(1).kind == "NUM":
                    unit += "^" + _subscript_text(self.peek(1))
                    self.i += 2
                while self.at("OP", "/") and self.peek(1).kind in ("WORD", "TEXT", "ID"):
                    unit += "/" + str(self.peek(1).value).strip()  # km/h, m/s
                    self.i += 2
                    if self.at("OP", "^") and self.peek(1).kind == "NUM":
                        unit += "^" + _subscript_text(self.peek(1))
                        self.i += 2
                node = ("unit", node, unit)
            else:
                return node

    def primary(self) -> Node:
        tok = self.take()
        kind = tok.kind
        if kind == "NUM":
            return ("num", tok.value)
        if kind == "ID":
            return self._identifier(str(tok.value))
        if kind == "CONST":
            return ("const", tok.value)
        if kind == "FUNC":
            return self.function(str(tok.value))
        if kind == "FRAC":
            num = self.argument()
            return ("div", num, self.argument())
        if kind == "SQRT":
            index = None
            if self.at("OPEN", "["):
                self.take()
                index = self.expr()
                self.expect("CLOSE", "]")
            radicand = self.argument()
            return ("fn", "root", (radicand, index)) if index is not None else ("fn", "sqrt", (radicand,))
        if kind == "BIGOP":
            return self.big_operator(str(tok.value))
        if kind == "BINOM":
            top = self.argument()
            return ("fn", "binom", (top, self.argument()))
        if kind == "OPEN":
            return self.bracket(str(tok.value))
        if kind == "BAR":
            self.abs_depth += 1
            self.enter()
            inner = self.list_()
            self.depth -= 1
            self.abs_depth -= 1
            self.expect("BAR")
            return ("fn", "abs", (inner,))
        if kind == "BEGIN" and tok.value in _MATRICES:
            return self.matrix(str(tok.value))
        if kind in ("WORD", "TEXT"):
            words = [str(tok.value)]
            while self.peek().kind in ("WORD", "TEXT"):
                words.append(str(self.take().value))
            if self.at("EOF") and self.i == len(words):
                return ("text", " ".join(words))
        raise ParseError(f"unexpected {kind} {tok.value or ''}".strip())

    def _identifier(self, name: str) -> Node:
        if self.at("OP", "_"):
            self.take()
            if self.at("OPEN", "{"):
                self.take()
                parts = []
                while not self.at("CLOSE", "}"):
                    t = self.take()
                    if t.kind not in ("NUM", "ID", "CONST", "OP", "SEP", "WORD"):
                        raise ParseError("unsupported subscript")
                    parts.append(_subscript_text(t))
                self.take()
                name += "_" + "".join(parts)
            else:
                name += "_" + _subscript_text(self.take())
        if (name in _CALLABLE and self.at("OP", "^") and self.peek(1) == Token("OPEN", "{")
                and [self.peek(k) for k in (2, 3, 4, 5)] == _INVERSE_MARK
                and _symbol_args(self.tokens, self.i + 6)):
            self.i += 5  # f^{-1}(x): the inverse function's name
            name += "^{-1}"
        if name.split("^")[0] in _CALLABLE and self.at("OPEN", "(") and _symbol_args(self.tokens, self.i + 1):
            self.take()
            args = []
            while not self.at("CLOSE", ")"):
                t = self.take()
                if t.kind == "ID":
                    args.append(("sym", t.value))
            self.take()
            return ("call", name, tuple(args))
        return ("sym", name)

    def argument(self) -> Node:
        """A TeX argument: `{...}` or one token."""
        if self.at("OPEN", "{"):
            self.take()
            self.enter()
            outer, self.abs_depth = self.abs_depth, 0  # `|\frac{1}{|x|}|`: bars inside braces pair up inside
            node = self.list_()
            self.abs_depth = outer
            self.depth -= 1
            self.expect("CLOSE", "}")
            return node
        return self.primary()

    def function(self, name: str) -> Node:
        self.enter()
        power: Node | None = None
        base: Node | None = None
        if self.at("OP", "^"):
            self.take()
            power = self.exponent()
        if self.at("OP", "_"):
            self.take()
            base = self.argument()
        if self.at("OPEN", "("):
            self.take()
            inner = self.list_()
            self.expect("CLOSE", ")")
            args = inner[1] if inner[0] == "list" else (inner,)
        elif self.at("OPEN", "{"):
            args = (self.argument(),)
        else:  # \sin 2x: the implicit product that follows, stopping at the next function
            factors = [self.unary()]
            while self._starts_implicit(self.peek()) and self.peek().kind != "FUNC":
                factors.append(self.power())
            args = (factors[0] if len(factors) == 1 else ("mul", tuple(factors)),)
        self.depth -= 1
        if name == "lg":
            name, base = "log", ("num", Num(_TEN, None))
        if name == "log" and base is not None:
            args = (args[0], base)
        if power is not None and name in _INVERSE_TRIG and _is_minus_one(power):
            return ("fn", _INVERSE_TRIG[name], args)
        node: Node = ("fn", name, args)
        return ("pow", node, power) if power is not None else node

    def big_operator(self, op: str) -> Node:
        """`\\sum_{k=0}^{n-1} body`: the body is the implicit product that follows, as for `\\sin 2x`."""
        self.enter()
        self.expect("OP", "_")
        self.expect("OPEN", "{")
        var = self.expect("ID").value
        self.expect("REL", "=")
        lo = self.expr()
        self.expect("CLOSE", "}")
        self.expect("OP", "^")
        hi = self.argument()
        factors = [self.unary()]
        while self._starts_implicit(self.peek()):
            factors.append(self.power())
        self.depth -= 1
        body = factors[0] if len(factors) == 1 else ("mul", tuple(factors))
        return ("bigop", op, str(var), lo, hi, body)

    def bracket(self, opener: str) -> Node:
        self.enter()
        closers = {"(": (")", "]"), "[": ("]", ")"), "{": ("}",), "{s": ("}s",), "<": (">",),
                   "floor": ("floor",), "ceil": ("ceil",)}[opener]
        outer, self.abs_depth = self.abs_depth, 0
        inner = None if self.peek().kind == "CLOSE" else self.list_()
        self.abs_depth = outer
        close = self.expect("CLOSE")
        if close.value not in closers:
            raise ParseError(f"bracket {opener!r} closed by {close.value!r}")
        self.depth -= 1
        items: tuple[Node, ...] = () if inner is None else inner[1] if inner[0] == "list" else (inner,)
        if opener in ("floor", "ceil"):
            return ("fn", opener, (inner,))
        if opener == "{s":
            return ("set", items)
        if opener == "<":
            return ("tuple", items)
        if opener == "{":  # a TeX group: `{1,3}` prints as the bare list 1, 3 (a set is written `\\{1,3\\}`)
            return ("set", ()) if inner is None else inner
        if inner is None:
            raise ParseError("empty brackets")
        if len(items) == 2 and (opener != "(" or close.value != ")"):
            return ("ivl", items[0], items[1], opener == "[", close.value == "]")
        if len(items) == 2:
            return ("pair", items[0], items[1])
        if inner[0] == "list":
            return ("tuple", items)
        return inner

    def matrix(self, env: str) -> Node:
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        self.enter()
        while not self.at("END"):
            if self.at("EOF"):
                raise ParseError(f"unterminated {env}")
            row.append(self.expr())
            if self.at("AMP"):
                self.take()
            elif self.at("ROW"):
                self.take()
                rows.append(tuple(row))
                row = []
        self.take()
        self.depth -= 1
        if row:
            rows.append(tuple(row))
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return ("mat", tuple(rows))


def _subscript_text(tok: Token) -> str:
    if tok.kind == "NUM":
        value = tok.value.value  # type: ignore[attr-defined]
        return str(value.numerator) if value.denominator == 1 else str(value)
    return str(tok.value)


def _symbol_args(tokens: list[Token], start: int) -> bool:
    """Whether `(` at start-1 opens a list of plain symbols `(x)`, `(x, y)` closed by `)`."""
    j, want_id = start, True
    while j < len(tokens):
        tok = tokens[j]
        if want_id and tok.kind == "ID":
            want_id = False
        elif not want_id and tok.kind == "SEP":
            want_id = True
        elif not want_id and tok.kind == "CLOSE" and tok.value == ")":
            return True
        else:
            return False
        j += 1
    return False


def _is_minus_one(node: Node) -> bool:
    return node[0] == "neg" and node[1][0] == "num" and node[1][1].value == 1

