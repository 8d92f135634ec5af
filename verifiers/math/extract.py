"""The final answer of a completion, and the answer inside a reference.

Extraction order for a completion (the first that applies wins):

1. Reasoning is dropped: everything up to the last `</think>`. A `<think>` that is never closed means
   the completion was cut off while reasoning: no answer.
2. `\\boxed{...}` / `\\boxed 5` / `\\fbox{...}` (nested braces fine). Boxes side by side (`x = \\boxed{2}`
   or `x = \\boxed{3}`) form one answer, `2, 3`. The last group of boxes is the answer; earlier boxes
   written differently are kept in `others`, and the answer counts only if they are right too (the same
   answer boxed twice in two notations is fine; `\\boxed{5}` ... `\\boxed{6}` is a hedge). A box that
   never closes is truncated output: no answer.
3. Unless `mode="boxed"`: the last answer phrase (`The final answer is ...`, `Final Answer: ...` (Minerva),
   `The answer is ...`, `**Answer:** ...`) or GSM8K `#### n`, whichever comes last; the answer runs to
   the end of its sentence or line.
4. If `last_number_fallback`: the last non-empty line if it is bare math (no words); else its last math
   span (`$...$`) or number, provided the line ends there or finishes its sentence (`... = 42 and then`
   is cut off, not an answer). Numbers joined by `or`/`,` there (`5 or 6 or 7`) are kept together so
   that a hedge stays a hedge.

Everything here is linear in the length of the text, so it runs in the event loop.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Extraction", "extract_answer", "extract_reference"]

Mode = Literal["boxed", "marked"]

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASE = re.compile(
    r"(?:final\s+answer|\banswer)\**\s*(?:is\b|should\s+be\b|would\s+be\b|will\s+be\b|:|=)\s*:?\**\s*(?!not\b)"
    r"|####\s*",
    re.IGNORECASE,
)
_HOPE = re.compile(r"\s*I hope it is correct.*$", re.IGNORECASE | re.DOTALL)
# What may stand between boxes that form one answer: `x = \boxed{2}` or `x = \boxed{3}`.
_GAP_NOISE = re.compile(
    r"\\text\s*\{[^{}]*\}|\\quad|\\qquad|\\[(),;]|\b(?:and|or)\b|[A-Za-z](?:_\{?\w+\}?)?\s*=|[\s$,;.&]"
)
_BOX_KEY = re.compile(r"\s+|\\[,;!: ]|\\left|\\right|\$")
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d{1,3}(?: \d{3})+(?![\d,])|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_COMMANDS = re.compile(r"\\[A-Za-z]+|\\text\s*\{[^{}]*\}")
_PROSE = re.compile(r"[A-Za-z]{2,}")
_REMARK = re.compile(r"(?<=\S)\s*\((?=[^()]*(?<![\\A-Za-z])[A-Za-z]{3,})[^()]*\)\s*$")
# Math spans; an inline span neither starts nor ends with a space, so "costs $7 = $35" holds none.
_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(?!\s)([^$]*?[^\s$])\$|\\\((.+?)\\\)|\\\[(.+?)\\\]")
_TAIL_CHARS = 2000
"""An answer is read from at most this many characters (after its phrase, or at the end of the last line)."""
_MAX_HEDGE = 20
_MAX_OTHERS = 8
_FINISHED = re.compile(r"[.!)\]]\**\s*$")
_HEDGE_GAP = re.compile(r"\s*(?:,|or|and|/|,\s*or|or\s+maybe|or\s+possibly)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Extraction:
    answer: str | None
    """The final answer as written (LaTeX or plain), or None when there is none."""
    method: str
    """How it was found: boxed, phrase, gsm8k, last_number; `none` when the completion marks no answer,
    `refused` when it marks one that does not count (cut off inside a box or `<think>`)."""
    note: str = ""
    """Why there is no answer, when there is none."""
    others: tuple[str, ...] = ()
    """Earlier boxed answers written differently from the final one (`\\frac{1}{2}` then `0.5`). The
    completion is credited only if each of them is right too: several different answers are a hedge."""


def extract_answer(text: str, *, mode: Mode = "marked", last_number_fallback: bool = True) -> Extraction:
    """The final answer of a completion, following the order in the module docstring."""
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    elif "<think>" in text:
        return Extraction(None, "refused", "the completion ends inside <think>: cut off before a final answer")
    boxed = _boxed(text)
    if boxed is not None:
        return boxed
    if mode == "boxed":
        return Extraction(None, "none", "no \\boxed{...} answer (extraction mode 'boxed')")
    phrase = _last_phrase(text)
    if phrase is not None:
        return phrase
    if last_number_fallback:
        tail = _last_line_answer(text)
        if tail is not None:
            return Extraction(tail, "last_number")
    return Extraction(None, "none", "no final answer found (no \\boxed{}, answer phrase or ####)")


def extract_reference(reference: str) -> str:
    """The gold answer in a reference: the text after GSM8K's `####`, else the last boxed answer, else all."""
    if "####" in reference:
        tail = reference.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else ""
    boxed = _boxed(reference, strict=False)
    if boxed is not None and boxed.answer is not None:
        return boxed.answer
    return reference.strip()


def _boxes(text: str) -> list[tuple[int, int, str | None]]:
    """(start, end, content) of each top-level box; content None when the box never closes."""
    found: list[tuple[int, int, str | None]] = []
    pos = 0
    while (m := _BOX.search(text, pos)) is not None:
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                c = text[j]
                if c == "{" and text[j - 1] != "\\":
                    depth += 1
                elif c == "}" and text[j - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        found.append((m.start(), j + 1, text[i + 1 : j]))
                        pos = j + 1
                        break
            else:
                found.append((m.start(), len(text), None))
                return found
        else:  # \boxed 5: one token
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "$.,;":
                j += 1
            if j > i:
                found.append((m.start(), j, text[i:j]))
            pos = max(j, m.end())
    return found


def _boxed(text: str, *, strict: bool = True) -> Extraction | None:
    boxes = _boxes(text)
    if not boxes:
        return None
    if boxes[-1][2] is None:
        return Extraction(None, "refused", "a \\boxed{ never closes: the completion was cut off")
    clusters: list[list[str]] = [[boxes[0][2]]]  # type: ignore[list-item]
    for (_, prev_end, _), (start, _, content) in itertools.pairwise(boxes):
        gap = text[prev_end:start]
        if "\n\n" not in gap and len(_GAP_NOISE.sub("", gap)) == 0:
            clusters[-1].append(content)  # type: ignore[arg-type]
        else:
            clusters.append([content])  # type: ignore[list-item]
    answers = [", ".join(dict.fromkeys(c.strip() for c in cluster)) for cluster in clusters]
    final_key = _BOX_KEY.sub("", answers[-1])
    others: dict[str, str] = {}
    for answer in answers[:-1] if strict else ():
        key = _BOX_KEY.sub("", answer)
        if key != final_key:
            others.setdefault(key, answer)
    if len(others) > _MAX_OTHERS:
        return Extraction(None, "refused", f"more than {_MAX_OTHERS} different boxed answers")
    return Extraction(answers[-1], "boxed", others=tuple(others.values()))


def _last_phrase(text: str) -> Extraction | None:
    last = None
    for m in _PHRASE.finditer(text):
        last = m
    if last is None:
        return None
    span = _span(text[last.end() :])
    if not span:
        return None
    return Extraction(span, "gsm8k" if last.group(0).startswith("#") else "phrase")


def _span(rest: str) -> str:
    """The answer at the start of `rest`: to the end of its sentence or line, display math kept whole."""
    rest = rest[:_TAIL_CHARS].lstrip(" \t*:")
    for opener, closer in (("$$", "$$"), ("\\[", "\\]")):
        if rest.startswith(opener):
            end = rest.find(closer, len(opener))
            if end >= 0:
                return rest[len(opener) : end].strip()
    line = rest.split("\n", 1)[0]
    line = _HOPE.sub("", line)
    in_math = False
    dollars_are_currency = line.count("$") % 2 == 1  # "The answer is $15. I hope it is correct."
    for k, c in enumerate(line):
        if c == "$" and (k == 0 or line[k - 1] != "\\") and not dollars_are_currency:
            in_math = not in_math
        elif c == "." and not in_math and (k + 1 == len(line) or line[k + 1].isspace()):
            line = line[:k]
            break
    line = _REMARK.sub("", line.strip().strip("*").strip())  # "5 (since 2 + 3 = 5)"
    if len(line) > 2 and line[0] == line[-1] == "$" and "$" not in line[1:-1]:
        line = line[1:-1].strip()  # one inline math span: `$\frac{3}{4}$`
    return line


def _last_line_answer(text: str) -> str | None:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    line = lines[-1].strip()[-_TAIL_CHARS:]
    if len(line) <= 200 and not _PROSE.search(_COMMANDS.sub(" ", line)) and not line.endswith("="):
        return line  # the last line is bare math: `\frac{10}{9}`, `1 000`, `x^2 + 1`
    items = [(m.start(), m.end(), next(g for g in m.groups() if g is not None)) for m in _SPAN.finditer(line)]
    if not items:
        items = [(m.start(), m.end(), m.group(0)) for m in _NUMBER.finditer(line)]
    if not items:
        return None
    tail = line[items[-1][1] :].strip()
    if tail and not _FINISHED.search(tail):
        return None  # "... = 42 and then": the line goes on past its last number: cut off, not an answer
    picked = [items[-1]]
    for prev in reversed(items[:-1]):
        if len(picked) > _MAX_HEDGE or not _HEDGE_GAP.fullmatch(line[prev[1] : picked[-1][0]]):
            break
        picked.append(prev)
    return " or ".join(p[2].strip() for p in reversed(picked))
