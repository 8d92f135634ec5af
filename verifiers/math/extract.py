"""The final answer of a completion, and the answer inside a reference.

Extraction order for a completion (the first that applies wins):

1. Reasoning is dropped: everything up to the last `</think>`. A `<think>` that is never closed means
   the completion was cut off while reasoning: no answer. So is everything from the first chat-template
   token on (`<|im_start|>user ...`: the model went on to write the next turn).
2. `\\boxed{...}` / `\\boxed 5` / `\\fbox{...}` (nested braces fine). Boxes side by side (`x = \\boxed{2}`
   or `x = \\boxed{3}`) form one answer, `2, 3`. The last group of boxes is the answer; earlier boxes
   written differently are kept in `others`, and the answer counts only if they are right too (the same
   answer boxed twice in two notations is fine; `\\boxed{5}` ... `\\boxed{6}` is a hedge). A box that
   never closes is truncated output: no answer. A "final answer" phrase after the last box overrides
   it: the box held working (`... = \\boxed{255}$ ... Final Answer: The final answer is $10,455$`).
3. Unless `mode="boxed"`: the last answer phrase (`The final answer is ...`, `Final Answer: ...` (Minerva),
   `The answer is ...`, `**Answer:** ...`, `Réponse :`, `答案是`, ...) or GSM8K `#### n`, whichever comes
   last; the answer runs to the end of its sentence or line, display math (`\\[ ... \\]`) kept whole.
   When that sentence is prose, its stated math expression is taken (see `prose.stated_item`).
4. If `last_number_fallback`: a display block (`\\[ ... \\]`, `$$ ... $$`) that ends the completion; else
   the last non-empty line if it is bare math (no words); else its last math item, provided the line ends
   there or finishes its sentence (see `prose.last_item`).

Everything here is linear in the length of the text, so it runs in the event loop.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import Literal

from .prose import is_prose, last_item, stated_item, strip_emphasis
from .words import number_value

__all__ = ["Extraction", "extract_answer", "extract_reference", "strip_template_tokens"]

Mode = Literal["boxed", "marked"]

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASE = re.compile(
    r"(?:final\s+answer|\banswer)\**\s*(?:is\b|should\s+be\b|would\s+be\b|will\s+be\b|:|=)\s*:?\**\s*(?!not\b)"
    r"|####\s*"
    # other languages: French, Spanish, Portuguese, Italian, German, Russian, Chinese, Japanese, Arabic, Hindi
    r"|\br[ée]ponse(?:\s+finale)?\s*(?:est\b|:)\s*|\brespuesta(?:\s+final)?\s*(?:es\b|:)\s*"
    r"|\bresposta(?:\s+final)?\s*(?:[ée]\b|:)\s*|\brisposta(?:\s+finale)?\s*(?:[èe]\b|:)\s*"
    r"|\bantwort\s*(?:ist\b|:)\s*|\bответ\s*:\s*|(?:最终)?答案\s*(?:是|为|為|:|：)\s*|答\s*[:：]\s*|解答\s*[:：]\s*"
    r"|(?:الإجابة|الجواب)\s*(?:هي|هو|:)\s*|उत्तर\s*(?:है|:)\s*",
    re.IGNORECASE,
)
_FINAL = re.compile(r"final|最终|finale?\b", re.IGNORECASE)
# Chat-template tokens: the completion's turn ends at the first one.
_TEMPLATE_TOKEN = re.compile(
    r"<\|(?:im_start|im_end|endoftext|end_of_text|eot_id|start_header_id|end_header_id|end|user|assistant)\|>"
    r"|<end_of_turn>|<start_of_turn>|</s>"
)
_HOPE = re.compile(r"\s*I hope it is correct.*$", re.IGNORECASE | re.DOTALL)
# What may stand between boxes that form one answer: `x = \boxed{2}` or `x = \boxed{3}`.
_GAP_NOISE = re.compile(
    r"\\text\s*\{[^{}]*\}|\\quad|\\qquad|\\[(),;]|\b(?:and|or)\b|[A-Za-z](?:_\{?\w+\}?)?\s*=|[\s$,;.&]"
)
_BOX_KEY = re.compile(r"\s+|\\[,;!: ]|\\left|\\right|\$")
_REMARK = re.compile(r"(?<=\S)\s*\((?=[^()]*(?<![\\A-Za-z])[A-Za-z]{3,})[^()]*\)\s*$")
_TAIL_CHARS = 2000
"""An answer is read from at most this many characters (after its phrase, or at the end of the last line)."""
_MAX_OTHERS = 8
# A reference's boxes a few words apart are one answer: `\\boxed{1} papers and \\boxed{2} bins` is 1, 2.
_REFERENCE_GAP = 30
_GAP_WORD = re.compile(r"[^\W\d_]+")
_MAX_DISPLAY = 2000


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
    text = strip_template_tokens(text)
    boxed = _boxed(text)
    if mode == "boxed":
        if boxed is None:
            return Extraction(None, "none", "no \\boxed{...} answer (extraction mode 'boxed')")
        return boxed[0]
    phrase = _last_phrase(text)
    if boxed is not None:
        after_box = phrase is not None and phrase[1] >= boxed[1] and _FINAL.search(phrase[2]) is not None
        if not after_box or boxed[0].answer is None:
            return boxed[0]
    if phrase is not None:
        return phrase[0]
    if last_number_fallback:
        tail = _display_at_end(text) or _last_line_answer(text)
        if tail is not None:
            return Extraction(tail, "last_number")
    return Extraction(None, "none", "no final answer found (no \\boxed{}, answer phrase or ####)")


def strip_template_tokens(text: str) -> str:
    """`text` up to its first chat-template token (`<|im_start|>`, `<|eot_id|>`, `</s>`, ...)."""
    token = _TEMPLATE_TOKEN.search(text)
    return text if token is None else text[: token.start()]


@functools.lru_cache(maxsize=4096)  # the same reference comes with every completion of a prompt
def extract_reference(reference: str) -> str:
    """The gold answer in a reference: the text after GSM8K's `####`, else the last boxed answer (to the end
    of the reference if its box never closes), else all of it; a reference that is a whole worked solution
    (prose with math) gives the final answer a completion would."""
    if "####" in reference:
        tail = reference.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else ""
    boxes = _boxes(reference)
    if boxes and boxes[-1][2] is None:
        start = _BOX.search(reference, boxes[-1][0])
        rest = reference[start.end() :].lstrip() if start else ""
        return rest[1:].strip() if rest.startswith("{") else rest.strip()
    boxed = _boxed(reference, strict=False)
    if boxed is not None and boxed[0].answer is not None:
        return boxed[0].answer
    text = reference.strip()
    if len(text) > 200 and is_prose(text):
        found = extract_answer(text)
        if found.answer is not None:
            return found.answer
    return text


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


def _boxed(text: str, *, strict: bool = True) -> tuple[Extraction, int] | None:
    """The boxed answer and the end of the last box, or None when there is no box. `strict=False` reads a
    reference: no hedges there, and boxes a few words apart form one answer."""
    boxes = _boxes(text)
    if not boxes:
        return None
    if boxes[-1][2] is None:
        return Extraction(None, "refused", "a \\boxed{ never closes: the completion was cut off"), boxes[-1][1]
    clusters: list[list[str]] = [[boxes[0][2]]]  # type: ignore[list-item]
    for (_, prev_end, _), (start, _, content) in itertools.pairwise(boxes):
        gap = text[prev_end:start]
        if ("\n\n" not in gap and len(_GAP_NOISE.sub("", gap)) == 0) or (
                not strict and "\n" not in gap and len(gap) <= _REFERENCE_GAP and len(_GAP_WORD.findall(gap)) <= 3):
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
        return Extraction(None, "refused", f"more than {_MAX_OTHERS} different boxed answers"), boxes[-1][1]
    return Extraction(answers[-1], "boxed", others=tuple(others.values())), boxes[-1][1]


def _last_phrase(text: str) -> tuple[Extraction, int, str] | None:
    """The answer after the last answer phrase, where that phrase starts, and the phrase itself."""
    last = None
    for m in _PHRASE.finditer(text):
        last = m
    if last is None:
        return None
    span = _span(text[last.end() :])
    if not span:
        return None
    return Extraction(span, "gsm8k" if last.group(0).startswith("#") else "phrase"), last.start(), last.group(0)


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
        elif c in ".。" and not in_math and (k + 1 == len(line) or line[k + 1].isspace() or c == "。"):
            line = line[:k]
            break
    line = _REMARK.sub("", strip_emphasis(line.strip()).strip())  # "5 (since 2 + 3 = 5)"
    line = _unquote(line)  # `"$12$ and $13$"`
    if len(line) > 2 and line[0] == line[-1] == "$" and "$" not in line[1:-1]:
        return line[1:-1].strip()  # one inline math span: `$\frac{3}{4}$`
    if is_prose(line) and not _starts_with_math(line):
        return stated_item(line) or line  # "The largest $n$ is 34": 34; "Tuesday" stays a word
    return line


def _unquote(line: str) -> str:
    for opener, closer in (('\\"', '\\"'), ('"', '"'), ("“", "”"), ("«", "»")):
        if len(line) > 2 * len(opener) and line.startswith(opener) and line.endswith(closer):
            return line[len(opener) : len(line) - len(closer)].strip()
    return line


def _starts_with_math(line: str) -> bool:
    head = line.lstrip("([{ ")
    return bool(head) and (head[0].isdigit() or head[0] in "$\\-+." or (len(head) > 1 and not head[1].isalpha()))


def _display_at_end(text: str) -> str | None:
    """The content of a `\\[ ... \\]` or `$$ ... $$` block that ends the text, across lines."""
    body = text.rstrip(" \t\n.")
    for opener, closer in (("\\[", "\\]"), ("$$", "$$")):
        if body.endswith(closer):
            start = body.rfind(opener, max(0, len(body) - _MAX_DISPLAY), len(body) - len(closer))
            if start >= 0:
                inner = body[start + len(opener) : len(body) - len(closer)].strip()
                return inner or None
    return None


def _last_line_answer(text: str) -> str | None:
    lines = [ln for ln in text.split("\n") if ln.strip()]  # not splitlines(): it also splits at \x0c, \x1c...
    if not lines:
        return None
    line = strip_emphasis(lines[-1].strip()[-_TAIL_CHARS:]).strip()
    if len(line) <= 200 and not is_prose(line) and not line.endswith("=") and "$" not in line.strip("$"):
        return line  # the last line is bare math: `\frac{10}{9}`, `1 000`, `x^2 + 1`
    found = last_item(line)
    if found is None:  # "two and a half", "twelve apples."
        words = line.rstrip(".!").split()
        if words and (number_value(" ".join(words)) is not None or number_value(" ".join(words[:-1])) is not None):
            return " ".join(words)
    return found
