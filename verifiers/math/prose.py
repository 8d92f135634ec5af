"""The final mathematical expression of a sentence or line of prose, in any language.

Used where a completion states its answer in words: after an answer phrase that goes on in prose
("Final Answer: The largest $n$ is 34."), and for the last line of a completion with no marked answer
("因此，水池中水将在300分钟内被放完。", "so x = 2 or x = 3."). The math items of a line are its `$...$`,
`\\(...\\)` and `\\[...\\]` spans, its LaTeX fractions and roots written without delimiters, and its numbers
(with thousands separators, a decimal comma where it cannot be a thousands one, and a trailing `%`).

- `last_item`: the last item, provided the line ends there or finishes its sentence (a unit or a word
  in another script may follow: `1,000.99€`, `4000千克`, `300分钟内被放完。`); `... = 42 and then` is cut
  off, not an answer. Items joined by `or`/`and`/`,` (`5 or 6`, `x = 2 or x = 3`) are kept together, so a
  hedge stays a hedge and several answers stay several.
- `stated_item`: in an answer phrase's sentence, the item after its last copula ("is", "=", "est", "是",
  ...), else its first item: `The largest $n$ is 34` gives 34, `Janeth aura encore 220 $ à payer d'ici 12
  mois` gives 220.

Everything here is a single left-to-right scan or a regex without nested quantifiers: linear in the text.
"""

from __future__ import annotations

import re

__all__ = ["is_prose", "last_item", "stated_item", "strip_emphasis"]

_MAX_LINE = 2000
_MAX_JOINED = 20
# Letters that make a line prose: two ASCII letters in a row, or any letter of a script other than Latin and
# Greek (Greek letters are math: `θ`, `π`). LaTeX commands and `\text{...}` are removed before looking.
_WORD = re.compile(r"[A-Za-z]{2,}|[^\W\d_A-Za-z\u00c0-\u024f\u0370-\u03ff]")
_COMMANDS = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+|\\text\s*\{[^{}]*\}")
_SEPARATORS = re.compile(r"(?<![A-Za-z])(?:or|and)(?![a-z])")
_NUMBER = re.compile(  # not inside a word: `AZYUK2A` holds no number
    r"(?<![A-Za-z])-?(?:0,\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?: \d{3})+(?![\d,])|\d+(?:,\d{1,2}|,\d{4,})(?![\d,])"
    r"|\d+(?:\.\d+)?(?:/\d+)?|\.\d+)(?:\s*%)?"
)
_LATEX_ATOM = re.compile(r"-?\\[dt]?frac\s*\{[^{}]{1,80}\}\s*\{[^{}]{1,80}\}|-?\\sqrt\s*\{[^{}]{1,80}\}")
_SPAN_OPEN = re.compile(r"\\\(|\\\[")
# `**12**`, `2**`: bold markers; `2**3` (between operands) is a power and stays
_EMPHASIS = re.compile(r"\*\*(?![\w(])|(?<![\w)])\*\*|(?<!\w)__|__(?!\w)")
# A line "finishes its sentence" when what follows its last item ends like a sentence.
_FINISHED = re.compile(r"[.!?)\]\u3002\uff01\uff1f\u0964\u06d4\u061f]['\"]?\s*$")
# ... or is a unit, a currency or a short word of another script: `€`, `m²`, `km/h`, `千克`.
_UNIT_TAIL = re.compile(
    r"(?:[$€£¥₹%°]|[A-Za-z]{1,6}(?:[²³]|\^\d)?(?:/[A-Za-z]{1,4}(?:[²³]|\^\d)?)?|[^\W\d_A-Za-z]{1,4})\.?\s*$"
)
_NOT_UNITS = frozenset("and or but so then to the is are was be if as at by for of on in it we let".split())
_JOIN = re.compile(r"\s*(?:,|;|/|\bor\b|\band\b|,\s*or|,\s*and|\bor\s+maybe\b|\bor\s+possibly\b)\s*"
                   r"(?:[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=\s*)?$", re.IGNORECASE)
_COPULA = re.compile(
    r"\b(?:is|are|was|equals|be|est|sont|es|son|ist|sind|è|é|será|sera)\b|=|是|为|為|هو|है",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"\s*(?:%|percent\b|pct\b|(?:mm|cm|km|m|in|inch(?:es)?|ft|feet|foot|yd|yards?|mi|miles?|mg|kg|g|lbs?|pounds?"
    r"|oz|ounces?|s|sec|seconds?|min|minutes?|h|hr|hrs|hours?|days?|weeks?|years?|mL|ml|L|liters?|litres?"
    r"|gallons?|mph|km/h|m/s|meters?|metres?|centimeters?|kilometers?|grams?|kilograms?|degrees?)(?:\^?[23²³])?"
    r"(?![A-Za-z]))"
)


def strip_emphasis(text: str) -> str:
    """Markdown emphasis around an answer (`**12**`, `__12__`) removed; `2**3` is left alone."""
    return _EMPHASIS.sub("", text)


def is_prose(text: str) -> bool:
    """Whether `text` has words outside its math (commands, `\\text{}` and the separators `or`/`and`
    removed: `x = 2 or x = 3` is math)."""
    return _WORD.search(_SEPARATORS.sub(" ", _COMMANDS.sub(" ", _strip_spans(text)))) is not None


def _strip_spans(text: str) -> str:
    """`text` with its math spans blanked out, offsets kept."""
    out = [" "] * len(text)
    for a, b, kind in _segments(text):
        if kind == "text":
            out[a:b] = text[a:b]
    return "".join(out)


def _segments(line: str) -> list[tuple[int, int, str]]:
    """(start, end, "text"|"math") pieces of a line; math is `$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`.

    `$` pairs left to right (an escaped `\\$` is not a delimiter). A pair is not math when it looks like
    currency: its first `$` is followed by a digit and its second by a digit too (`costs $7 = $35`), or the
    pair holds prose (`how many $? just about 1$`).
    """
    out: list[tuple[int, int, str]] = []
    i = start = 0
    n = len(line)
    unclosed: set[str] = set()  # closers not found: no later opener of that kind can close either (linear)
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n and line[i + 1] == "$":
            i += 2
            continue
        opener = None
        if c == "$":
            opener = "$$" if line.startswith("$$", i) else "$"
        elif c == "\\" and _SPAN_OPEN.match(line, i):
            opener = line[i : i + 2]
        if opener is None:
            i += 1
            continue
        closer = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}[opener]
        if closer in unclosed:
            i += len(opener)
            continue
        j = i + len(opener)
        end = -1
        while j < n:
            k = line.find(closer, j)
            if k < 0:
                break
            if closer == "$" and line[k - 1] == "\\":
                j = k + 1
                continue
            end = k
            break
        if end < 0:
            unclosed.add(closer)
            i += len(opener)
            continue
        inner = line[i + len(opener) : end]
        currency = opener == "$" and inner[:1].isdigit() and end + 1 < n and line[end + 1].isdigit()
        if currency or not inner.strip() or (opener == "$" and _WORD.search(_COMMANDS.sub(" ", inner))
                                              and not _NUMBER.fullmatch(inner.strip())
                                              and len(_WORD.findall(_COMMANDS.sub(" ", inner))) > 1):
            i += 1
            continue
        if i > start:
            out.append((start, i, "text"))
        out.append((i + len(opener), end, "math"))
        i = start = end + len(closer)
    if start < n:
        out.append((start, n, "text"))
    return out


def _items(line: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each math item of `line`, in order."""
    items: list[tuple[int, int, str]] = []
    for a, b, kind in _segments(line):
        if kind == "math":
            items.append((a, b, line[a:b].strip()))
            continue
        piece = line[a:b]
        found: list[tuple[int, int, str]] = []
        for m in _LATEX_ATOM.finditer(piece):
            found.append((a + m.start(), a + m.end(), m.group(0)))
        taken = [(s, e) for s, e, _ in found]
        for m in _NUMBER.finditer(piece):
            s, e = a + m.start(), a + m.end()
            if not any(ts <= s < te for ts, te in taken):
                found.append((s, e, m.group(0)))
        items.extend(sorted(found))
    return items


def _with_unit(line: str, item: tuple[int, int, str]) -> tuple[int, int, str]:
    """The item and a unit word right after it (`3 hours`, `28 percent`, `$28$ %`), when there is one."""
    end = item[1]
    for closer in ("$$", "$", "\\)", "\\]"):
        if line.startswith(closer, end):
            end += len(closer)
            break
    m = _UNIT_AFTER.match(line, end)
    if m is None:
        return item
    return item[0], m.end(), f"{item[2]} {m.group(0).strip()}"


def _joined(line: str, items: list[tuple[int, int, str]], last: int, forward: bool) -> str:
    """The item at `last` with its neighbours joined to it by `or`/`and`/`,` (a hedge or a list)."""
    picked = [items[last]]
    k = last
    while 0 <= k + (1 if forward else -1) < len(items) and len(picked) <= _MAX_JOINED:
        nxt = items[k + (1 if forward else -1)]
        gap = line[picked[-1][1] : nxt[0]] if forward else line[nxt[1] : picked[-1][0]]
        if not _JOIN.fullmatch(gap):
            break
        picked.append(nxt)
        k += 1 if forward else -1
    ordered = picked if forward else list(reversed(picked))
    return " or ".join(p[2].strip() for p in ordered)


def last_item(line: str) -> str | None:
    """The answer at the end of a line of prose (see the module docstring), or None."""
    line = strip_emphasis(line.strip()[-_MAX_LINE:])
    items = _items(line)
    if not items:
        return None
    last = _with_unit(line, items[-1])
    items[-1] = last
    tail = line[last[1] :].strip()
    if tail and not _FINISHED.search(tail):
        unit = _UNIT_TAIL.fullmatch(tail)
        if unit is None or tail.rstrip(". ").lower() in _NOT_UNITS:
            return None  # "... = 42 and then": the line goes on past its last item: cut off, not an answer
    return _joined(line, items, len(items) - 1, forward=False)


def stated_item(sentence: str) -> str | None:
    """The answer stated in an answer phrase's sentence of prose (see the module docstring), or None."""
    sentence = strip_emphasis(sentence[:_MAX_LINE])
    items = _items(sentence)
    if not items:
        return None
    copulas = [m.end() for m in _COPULA.finditer(_strip_spans(sentence))]
    after = [k for k, it in enumerate(items) if copulas and it[0] >= copulas[-1]]
    first = after[0] if after else 0
    items[first] = _with_unit(sentence, items[first])
    return _joined(sentence, items, first, forward=True)
