"""Text clean-up applied to an extracted answer before it is tokenised.

Only rewrites that cannot change the meaning: unicode symbols to their LaTeX commands, math delimiters and
presentation commands (`\\left`, `\\displaystyle`, spacing, font switches) removed, `\\dfrac`/`\\tfrac` to
`\\frac`, the one-character arguments of `\\frac12` and `\\sqrt2` braced, mixed numbers (`2\\frac{1}{2}`,
`2 1/2`) made explicit sums. Every pattern here is linear: answers come from untrusted policy output.
"""

from __future__ import annotations

import re

__all__ = ["THOUSANDS", "clean", "strip_math_delimiters"]

THOUSANDS = "\u2e34"
"""`1{,}000`: a comma that is certainly a thousands separator (the lexer never reads it as a list comma)."""

_UNICODE = {
    "−": "-", "–": "-", "‐": "-", "‑": "-", "﹣": "-", "－": "-", "＋": "+",
    "×": r" \times ", "·": r" \cdot ", "⋅": r" \cdot ", "∙": r" \cdot ", "÷": r" \div ", "⁄": "/", "∕": "/",
    "√": r"\sqrt ", "∛": r"\sqrt[3] ", "π": r"\pi ", "∞": r"\infty ", "≤": r" \le ", "≥": r" \ge ",
    "⩽": r" \le ", "⩾": r" \ge ", "≠": r" \ne ", "≈": r" \approx ", "∪": r" \cup ", "∩": r" \cap ",
    "∈": r" \in ", "±": r" \pm ", "∓": r" \mp ", "°": r"^\circ ", "∅": r"\emptyset ", "ℝ": r"\mathbb{R}",
    "θ": r"\theta ", "α": r"\alpha ", "β": r"\beta ", "γ": r"\gamma ", "φ": r"\phi ", "λ": r"\lambda ",
    "μ": r"\mu ", "σ": r"\sigma ", "ω": r"\omega ", "Δ": r"\Delta ", "ⅈ": "i", "ℯ": "e",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ", "\u200b": "",
    "（": "(", "）": ")", "，": ",", "：": ":",
    "⟨": r"\langle ", "⟩": r"\rangle ", "⌊": r"\lfloor ", "⌋": r"\rfloor ", "⌈": r"\lceil ", "⌉": r"\rceil ",
}
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8)}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_SUPER_RE = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_VULGAR_RE = re.compile(r"(\d*)\s*([" + "".join(_VULGAR) + "])")

_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
# Commands that only change presentation; removed with no replacement.
_DROP = re.compile(
    r"(?P<row>\\\\)"  # a matrix row break, kept (listed first so that `\\ ` is not read as `\ `)
    r"|\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*\.?"
    r"|\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|mathstrut|strut|phantom\{[^{}]*\}|hfill)(?![a-zA-Z])"
    r"|\\(?:quad|qquad|enspace|thinspace|medspace|thickspace|negthinspace)(?![a-zA-Z])"
    r"|\\[,:;! ]"
)
_FONT = r"mathrm|mathbf|mathit|mathsf|mathtt|mathnormal|boldsymbol|bm|textbf|textit|textrm|emph|mbox|hbox|pmb"
# A font wrapper around a word (`\mathrm{cm}`) becomes `\text{cm}`; `\operatorname{arcsin}` becomes `\arcsin`.
_FONT_SIMPLE = re.compile(r"\\(?:" + _FONT + r")\s*\{([^{}]*)\}")
_OPERATORNAME = re.compile(r"\\operatorname\*?\s*\{\s*([a-zA-Z]+)\s*\}")
_WORDS = re.compile(r"[A-Za-z][A-Za-z .]+")
_FUNCTION_WORDS = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh ln log exp sqrt lcm gcd det max min".split()
)
_UNWRAP = re.compile(r"\\(?:" + _FONT + r"|boxed|fbox|framebox|mathop|underline)\s*(?=\{)")
_OVER = re.compile(r"\{([^{}]*)\}\s*\\over(?![a-zA-Z])\s*\{([^{}]*)\}")
_TEXT_NO_LETTERS = re.compile(r"\\(?:text|textnormal|mbox)\s*\{([^{}a-zA-Z]*)\}")
_FRAC_VARIANTS = re.compile(r"\\(?:dfrac|tfrac|cfrac)(?![a-zA-Z])")
_BINOM_VARIANTS = re.compile(r"\\(?:dbinom|tbinom)(?![a-zA-Z])")
_DEGREE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|\{\}\^\\circ")
# `\frac12` and `\frac 1{2}`: TeX takes one token per argument.
_FRAC_SHORT = re.compile(r"\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])")
_FRAC_SHORT_FIRST = re.compile(r"\\frac\s*([0-9a-zA-Z])\s*\{")
_FRAC_SHORT_SECOND = re.compile(r"\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])")
_SQRT_SHORT = re.compile(r"\\sqrt\s*([0-9a-zA-Z])")
_MIXED_LATEX = re.compile(r"(?<![\w.}^_])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}")
_MIXED_PLAIN = re.compile(r"^([+-]?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
# `\\frac`, `\\left(`: an answer copied out of a JSON or Python string keeps its escaped backslashes. A double
# backslash directly before a command name is read as one (a matrix row break is followed by a space, a
# digit or a single-backslash command, never by a letter run like `frac`).
_DOUBLED = re.compile(r"(?<!\\)\\\\(?=(?:" + "|".join(
    "frac dfrac tfrac cfrac sqrt left right le leq ge geq lt gt ne neq pm mp cdot times div pi infty in cup cap "
    "circ text textbf mathrm mathbf boxed fbox begin end sin cos tan log ln exp approx quad qquad dots ldots "
    "alpha beta gamma delta theta lambda mu sigma phi omega overline binom dbinom emptyset varnothing".split())
    + r")(?![a-zA-Z]))")
# `\quadx_{2}`: a spacing command glued to the next name (seen in NuminaMath references).
_GLUED_SPACE = re.compile(r"\\(q?quad)(?=[a-zA-Z])")
# `11,\!111`, `14{,}916`, `14 {, }916`: LaTeX thousands separators.
_THIN_THOUSANDS = re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))|(?<=\d)\s?\{\s*,\s*\}\s?(?=\d{3}(?!\d))")
# A backslash before a control character (`\\f` in a non-raw Python string became `\x0c`): a space.
_CONTROL = re.compile(r"\\[\x00-\x1f]")
_SPACE = re.compile(r"\s+")


def strip_math_delimiters(text: str) -> str:
    """`$x$`, `$$x$$`, `\\(x\\)`, `\\[x\\]` -> `x`; other `$` signs are left for the caller."""
    start, end = 0, len(text)
    while True:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        for left, right in _DELIMS:
            if end - start >= len(left) + len(right) and text.startswith(left, start) and text.endswith(right, 0, end):
                start, end = start + len(left), end - len(right)
                break
        else:
            return text[start:end]


def _mixed(match: re.Match[str]) -> str:
    whole, num, den = match.group(1), int(match.group(2)), int(match.group(3))
    if 0 < num < den:  # a proper fraction after an integer is a mixed number: 2\frac{1}{2} = 5/2
        return f"({whole}+\\frac{{{num}}}{{{den}}})"
    return match.group(0)


def _vulgar(match: re.Match[str]) -> str:
    num, den = _VULGAR[match.group(2)]
    whole = match.group(1)
    return f"({whole}+\\frac{{{num}}}{{{den}}})" if whole else f"(\\frac{{{num}}}{{{den}}})"


def _font(match: re.Match[str]) -> str:
    content = match.group(1)
    if content.strip() in _FUNCTION_WORDS:
        return "\\" + content.strip() + " "
    if _WORDS.fullmatch(content.strip()):
        return "\\text{" + content + "}"
    return "{" + content + "}"


def clean(text: str) -> str:
    """Normalise an answer's spelling; the result is what the lexer reads."""
    text = _DOUBLED.sub(lambda _: "\\", text)
    text = strip_math_delimiters(text)
    text = _CONTROL.sub(" ", text)
    text = _GLUED_SPACE.sub(r"\\\1 ", text)
    text = _THIN_THOUSANDS.sub(THOUSANDS, text)
    text = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text)
    text = _SUPER_RE.sub(lambda m: "^{" + m.group(0).translate(_SUPERSCRIPT) + "}", text)
    text = _VULGAR_RE.sub(_vulgar, text)
    text = text.replace("$", " ")
    text = _DEGREE.sub("°", text)
    text = _DROP.sub(lambda m: m.group("row") or " ", text)
    text = _OPERATORNAME.sub(r"\\\1 ", text)
    text = _FONT_SIMPLE.sub(_font, text)
    text = _UNWRAP.sub("", text)
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _OVER.sub(r"\\frac{\1}{\2}", text)
    text = _TEXT_NO_LETTERS.sub(r"\1", text)
    text = _BINOM_VARIANTS.sub(r"\\binom", text)
    text = text.replace("{,}", THOUSANDS).replace("\\%", "%")
    text = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_SHORT_FIRST.sub(r"\\frac{\1}{", text)
    text = _FRAC_SHORT_SECOND.sub(r"\\frac\1{\2}", text)
    text = _SQRT_SHORT.sub(r"\\sqrt{\1}", text)
    text = _MIXED_LATEX.sub(_mixed, text)
    text = _SPACE.sub(" ", text).strip()
    plain = _MIXED_PLAIN.match(text)
    if plain and 0 < int(plain.group(3)) < int(plain.group(4)):
        sign, whole, num, den = plain.groups()
        text = f"{sign}({whole}+{num}/{den})"
    return text.rstrip(" .")
