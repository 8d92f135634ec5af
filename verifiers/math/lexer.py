"""Tokens of a cleaned answer (see `latex.clean`): LaTeX commands, plain-text math and unicode alike.

Numbers are read exactly (`Fraction`), with the number of decimal places written, because the
approximation policy depends on it. A comma between digit groups is a thousands separator only outside
brackets (`[100,200]` is an interval, `1,000` is a thousand); `1{,}000` always is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .latex import THOUSANDS

__all__ = ["FUNCTIONS", "Num", "ParseError", "Token", "tokenize"]

MAX_NUMBER_CHARS = 2000
"""Longer digit strings are not answers; refusing them keeps `int()` (quadratic) cheap."""


class ParseError(ValueError):
    """The answer is not something this parser understands (it may still be a text answer)."""


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction
    decimals: int | None
    """Decimal places as written (`2.50` -> 2, `1.5e3` -> -2); None for an exact literal (`12`, `0.\\overline{3}`)."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object = None


FUNCTIONS = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan arcsec arccsc arccot sinh cosh tanh ln log lg exp sqrt "
    "det gcd lcm abs".split()
)
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho "
    "sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Upsilon Phi Psi Omega".split()
)
_COMMANDS: dict[str, Token] = {
    "pi": Token("CONST", "pi"), "infty": Token("CONST", "oo"), "infin": Token("CONST", "oo"),
    "emptyset": Token("CONST", "empty"), "varnothing": Token("CONST", "empty"),
    "cdot": Token("OP", "*"), "times": Token("OP", "*"), "ast": Token("OP", "*"), "div": Token("OP", "/"),
    "le": Token("REL", "<="), "leq": Token("REL", "<="), "leqslant": Token("REL", "<="),
    "ge": Token("REL", ">="), "geq": Token("REL", ">="), "geqslant": Token("REL", ">="),
    "lt": Token("REL", "<"), "gt": Token("REL", ">"), "ne": Token("REL", "!="), "neq": Token("REL", "!="),
    "approx": Token("REL", "~"), "simeq": Token("REL", "~"), "sim": Token("REL", "~"), "cong": Token("REL", "~"),
    "equiv": Token("REL", "="), "in": Token("REL", "in"),
    "pm": Token("PM", "+-"), "mp": Token("PM", "-+"),
    "cup": Token("SETOP", "cup"), "cap": Token("SETOP", "cap"), "setminus": Token("SETOP", "minus"),
    "backslash": Token("SETOP", "minus"),
    "{": Token("OPEN", "{s"), "}": Token("CLOSE", "}s"), "langle": Token("OPEN", "<"),
    "rangle": Token("CLOSE", ">"), "lfloor": Token("OPEN", "floor"), "rfloor": Token("CLOSE", "floor"),
    "lceil": Token("OPEN", "ceil"), "rceil": Token("CLOSE", "ceil"), "lvert": Token("BAR"),
    "rvert": Token("BAR"), "vert": Token("BAR"), "mid": Token("BAR"),
    "frac": Token("FRAC"), "sqrt": Token("SQRT"), "binom": Token("BINOM"), "circ": Token("DEG"),
    "sum": Token("BIGOP", "sum"), "prod": Token("BIGOP", "prod"),
    "%": Token("PCT"), "$": Token("SKIP"), "dots": Token("TEXT", "..."), "ldots": Token("TEXT", "..."),
    "cdots": Token("TEXT", "..."), "quad": Token("SKIP"), "qquad": Token("SKIP"), "to": Token("REL", "->"),
    "rightarrow": Token("REL", "->"), "Rightarrow": Token("REL", "->"), "implies": Token("REL", "->"),
    "iff": Token("REL", "->"), "land": Token("WORD", "and"), "lor": Token("WORD", "or"),
    "wedge": Token("WORD", "and"), "vee": Token("WORD", "or"), "prime": Token("OP", "'"),
}
_TEXT_COMMANDS = frozenset({"text", "textnormal", "textup", "textsf", "texttt", "textsc", "mathrm", "mbox"})
# Two- and three-letter words that are units, not products of one-letter variables (`2xy` stays 2*x*y).
_SHORT_WORDS = frozenset(
    "cm mm km kg mg ml mL ft yd mi mph sec min hr hrs lb lbs oz usd USD pm am sq cu gal qt kW km2 cm2 m2 "
    "or and is of to at per yr mo wk".split()
)
_ALIASES = {
    "pi": Token("CONST", "pi"), "inf": Token("CONST", "oo"), "infty": Token("CONST", "oo"),
    "infinity": Token("CONST", "oo"), "oo": Token("CONST", "oo"), "percent": Token("PCT"),
    "pct": Token("PCT"), "percentage": Token("PCT"), "percents": Token("PCT"),
    "degrees": Token("DEG"), "degree": Token("DEG"), "deg": Token("DEG"), "in": Token("REL", "in"),
    "e": Token("CONST", "e"), "i": Token("CONST", "i"), "or": Token("WORD", "or"), "and": Token("WORD", "and"),
}
_NUMBER = re.compile(r"(\d+)(?:\.(\d*))?|\.(\d+)")
_GROUPED_COMMA = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?![\d])")  # `0,111` is not a grouping
_GROUPED_SPACE = re.compile(r"\d{1,3}(?: \d{3})+(?![\d.,])")
_GROUPED_MARK = re.compile(r"\d{1,3}(?:" + THOUSANDS + r"\d{3})+")
_EXPONENT = re.compile(r"[eE]([+-]?\d{1,4})(?![\d])")
_OVERLINE = re.compile(r"\\overline\s*\{(\d+)\}|\\overline\s*(\d)|\\dot\s*\{(\d)\}")
_LETTERS = re.compile(r"[A-Za-z]+")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_BEGIN = re.compile(r"\\(begin|end)\s*\{\s*([A-Za-z*]+)\s*\}")
_SPACE = re.compile(r"\s+")
_REL2 = {"<=": "<=", ">=": ">=", "!=": "!=", "==": "=", "=<": "<=", "=>": ">=", "<>": "!=", "->": "->"}
_SINGLE = {  # ":" is a ratio: 1:3 is 1/3
    "+": Token("OP", "+"), "-": Token("OP", "-"), "*": Token("OP", "*"), "/": Token("OP", "/"),
    "^": Token("OP", "^"), "_": Token("OP", "_"), "!": Token("OP", "!"), "'": Token("OP", "'"),
    "=": Token("REL", "="), "<": Token("REL", "<"), ">": Token("REL", ">"), "~": Token("REL", "~"),
    "(": Token("OPEN", "("), "[": Token("OPEN", "["), "{": Token("OPEN", "{"), ")": Token("CLOSE", ")"),
    "]": Token("CLOSE", "]"), "}": Token("CLOSE", "}"), "|": Token("BAR"), ",": Token("SEP", ","),
    ";": Token("SEP", ";"), ":": Token("OP", "/"), "&": Token("AMP"), "%": Token("PCT"), "°": Token("DEG"),
    "…": Token("TEXT", "..."),
}


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the `{...}` group at `start` and the index after it."""
    if start >= len(text) or text[start] != "{":
        raise ParseError(f"expected '{{' at {start}")
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{" and text[j - 1 : j] != "\\":
            depth += 1
        elif text[j] == "}" and text[j - 1 : j] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j], j + 1
    raise ParseError("unbalanced braces")


def _number(text: str, i: int, depth: int) -> tuple[Num, int]:
    for pattern, sep in ((_GROUPED_MARK, THOUSANDS), (_GROUPED_COMMA, ","), (_GROUPED_SPACE, " ")):
        if sep != THOUSANDS and depth > 0:
            continue
        grouped = pattern.match(text, i)
        if grouped:
            digits = grouped.group(0).replace(sep, "")
            rest = _NUMBER.match(text, grouped.end() - 1)  # re-read the last digit with any decimals
            assert rest is not None
            whole = digits[:-1] + rest.group(1)
            return _finish(text, whole, rest.group(2), rest.end())
    m = _NUMBER.match(text, i)
    if m is None:
        raise ParseError(f"expected a number at {i}")
    if m.group(3) is not None:
        return _finish(text, "0", m.group(3), m.end())
    return _finish(text, m.group(1), m.group(2), m.end())


def _finish(text: str, whole: str, frac: str | None, end: int) -> tuple[Num, int]:
    if len(whole) + len(frac or "") > MAX_NUMBER_CHARS:
        raise ParseError("number too long")
    if frac is not None:
        repeat = _OVERLINE.match(text, end)
        if repeat:
            period = repeat.group(1) or repeat.group(2) or repeat.group(3)
            base = Fraction(int(whole + frac), 10 ** len(frac))
            tail = Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(frac))
            return Num(base + tail, None), repeat.end()
        if frac == "" and end < len(text) and text[end].isalpha():
            end -= 1  # "3.e" is not a decimal point
        value = Fraction(int(whole + frac), 10 ** len(frac)) if frac else Fraction(int(whole))
        decimals: int | None = len(frac) if frac else None
    else:
        value, decimals = Fraction(int(whole)), None
    sci = _EXPONENT.match(text, end)
    if sci:
        exp = int(sci.group(1))
        value *= Fraction(10) ** exp
        decimals = (decimals or 0) - exp
        end = sci.end()
    return Num(value, decimals), end


def tokenize(text: str) -> list[Token]:
    """Tokens of `text` (already `latex.clean`ed); raises `ParseError` on anything unknown."""
    tokens: list[Token] = []
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            num, i = _number(text, i, depth)
            tokens.append(Token("NUM", num))
            continue
        if ch.isalpha() and ch.isascii():
            m = _LETTERS.match(text, i)
            assert m is not None
            word, i = m.group(0), m.end()
            tokens.extend(_word(word))
            continue
        if ch == "\\":
            i = _command(text, i, tokens)
            if tokens and tokens[-1].kind == "OPEN":
                depth += 1
            elif tokens and tokens[-1].kind == "CLOSE":
                depth = max(0, depth - 1)
            continue
        two = text[i : i + 2]
        if two == "**":  # a power, as in Python
            tokens.append(Token("OP", "^"))
            i += 2
            continue
        if two in _REL2:
            tokens.append(Token("REL", _REL2[two]))
            i += 2
            continue
        tok = _SINGLE.get(ch)
        if tok is None:
            raise ParseError(f"unexpected character {ch!r}")
        if tok.kind == "OPEN":
            depth += 1
        elif tok.kind == "CLOSE":
            depth = max(0, depth - 1)
        tokens.append(tok)
        i += 1
    return [t for t in tokens if t.kind != "SKIP"]


def _word(word: str) -> list[Token]:
    for joiner in ("or", "and"):  # `1orW(x)`: a separator glued to a capitalised name
        if word.startswith(joiner) and len(word) > len(joiner) and word[len(joiner)].isupper():
            return [_ALIASES[joiner], *_word(word[len(joiner) :])]
    if word in _ALIASES:
        return [_ALIASES[word]]
    if word in FUNCTIONS:
        return [Token("FUNC", word)]
    if len(word) == 1:
        return [Token("ID", word)]
    if len(word) <= 3 and word not in _SHORT_WORDS:
        return [_ALIASES.get(c, Token("ID", c)) for c in word]  # `xy` is x*y in LaTeX
    return [Token("WORD", word)]


def _command(text: str, i: int, tokens: list[Token]) -> int:
    env = _BEGIN.match(text, i)
    if env:
        kind, name = env.groups()
        end = env.end()
        if kind == "begin" and name == "array" and text[end : end + 1] == "{":
            _, end = _braced(text, end)  # column spec
        tokens.append(Token("BEGIN" if kind == "begin" else "END", name))
        return end
    if text.startswith("\\\\", i):
        tokens.append(Token("ROW"))
        return i + 2
    m = _COMMAND.match(text, i)
    if m is None:
        raise ParseError("dangling backslash")
    name, end = m.group(1), m.end()
    if name in _TEXT_COMMANDS:
        while end < len(text) and text[end] == " ":
            end += 1
        content, end = _braced(text, end)
        tokens.append(Token("TEXT", content.strip()))
        return end
    if name == "mathbb":
        while end < len(text) and text[end] == " ":
            end += 1
        content, end = _braced(text, end) if text[end : end + 1] == "{" else (text[end : end + 1], end + 1)
        tokens.append(Token("CONST", "reals") if content.strip() == "R" else Token("ID", "set" + content.strip()))
        return end
    if name in _COMMANDS:
        tokens.append(_COMMANDS[name])
    elif name in FUNCTIONS or name in {"arcsec", "arccsc", "arccot"}:
        tokens.append(Token("FUNC", name))
    elif name in _GREEK:
        tokens.append(Token("ID", name))
    elif name in {"overline", "dot"}:
        raise ParseError("a repeating decimal needs digits before it")
    else:
        raise ParseError(f"unsupported command \\{name}")
    return end
