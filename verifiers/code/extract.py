"""Which code in a completion gets tested.

Rule, in order:
1. Fenced blocks (``` or ~~~, three or more, closed by the same fence) whose info string is empty or names
   Python (`python`, `py`, `python3`, `py3`, `ipython`) are the candidates. A fence left open at the end of
   the completion (a truncated answer) counts as a block running to the end.
2. If `entry_point` is known, the last candidate block that defines it (`def NAME(` or `class NAME`), else
   the last candidate block. Models usually give the final answer last and examples or tests before it.
3. No Python block at all (no fences, or only fences tagged with another language): the whole completion.

`with_prompt` decides whether the prompt is put in front: HumanEval-style prompts (a signature and a
docstring) are code that the completion continues, so the program is prompt + completion; a chat prompt
in English is not code. "auto" prepends the prompt exactly when it compiles as Python on its own. A full
function in the completion then simply redefines the prompt's stub, and helpers defined only in the prompt
(HumanEval/32's `poly`, /38's `encode_cyclic`) stay available to the tests.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["PYTHON_TAGS", "assemble_program", "code_blocks", "extract_code"]

PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3", "ipython"})

_FENCE = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """`(language tag, body)` for each fenced block, in order; an unclosed last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if opening is None:
            return blocks
        fence = opening.group("fence")
        tag = opening.group("info").strip().split(maxsplit=1)[0].lower() if opening.group("info").strip() else ""
        body_start = opening.end() + 1
        closing = re.compile(r"^[ \t]{0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$",
                             re.MULTILINE).search(text, body_start)
        if closing is None:
            blocks.append((tag, text[body_start:]))
            return blocks
        blocks.append((tag, text[body_start:closing.start()]))
        pos = closing.end()


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+def|def|class)\s+{re.escape(name)}\b", code, re.MULTILINE) is not None


def extract_code(completion: str, entry_point: str | None = None) -> str:
    """The code to test from a completion; see the module docstring for the rule."""
    python = [body for tag, body in code_blocks(completion) if tag in PYTHON_TAGS]
    if not python:
        return completion
    if entry_point:
        defining = [body for body in python if _defines(body, entry_point)]
        if defining:
            return defining[-1]
    return python[-1]


def assemble_program(prompt: str, completion: str, entry_point: str | None,
                     with_prompt: Literal["auto", "always", "never"] = "auto") -> str:
    """The program to run: the extracted code, with the prompt in front when `with_prompt` says so."""
    code = extract_code(completion, entry_point)
    if with_prompt == "never" or not prompt.strip():
        return code
    if with_prompt == "auto":
        try:
            compile(prompt, "<prompt>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return code
    return prompt + code if prompt.endswith("\n") else prompt + "\n" + code
