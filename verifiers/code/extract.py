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
(HumanEval/32's `poly`, /38's `encode_cyclic`) stay available to the tests. The tests get those helpers
from the prompt itself, not from the candidate's program, which may redefine them (`given_helpers`).
"""

from __future__ import annotations

import ast
import re
from typing import Literal

__all__ = ["PYTHON_TAGS", "assemble_program", "code_blocks", "extract_code", "given_helpers", "prompt_is_code",
           "redefined_names"]

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


def prompt_is_code(prompt: str, with_prompt: Literal["auto", "always", "never"] = "auto") -> bool:
    """Whether the prompt goes in front of the code (see the module docstring)."""
    if with_prompt == "never" or not prompt.strip():
        return False
    if with_prompt == "auto":
        try:
            compile(prompt, "<prompt>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def assemble_program(prompt: str, completion: str, entry_point: str | None,
                     with_prompt: Literal["auto", "always", "never"] = "auto") -> str:
    """The program to run: the extracted code, with the prompt in front when `with_prompt` says so."""
    code = extract_code(completion, entry_point)
    if not prompt_is_code(prompt, with_prompt):
        return code
    return prompt + code if prompt.endswith("\n") else prompt + "\n" + code


def given_helpers(prompt: str, entry_point: str | None) -> list[str]:
    """The helpers a Python prompt gives: its complete top-level functions other than the entry point (a stub,
    whose body is only a docstring, `pass`, `...` or `raise NotImplementedError`, is for the candidate to
    write). The tests use these to check the answer, so the harness takes them from the prompt."""
    try:
        module = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return []
    return [node.name for node in module.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name != entry_point and not all(_stub_statement(s) for s in node.body)]


def _stub_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str) or node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def redefined_names(program: str) -> set[str]:
    """Names the program binds more than once at top level (definitions, assignments, imports): in prompt +
    completion, the prompt's names that the completion redefines. Empty if the program does not parse."""
    try:
        module = ast.parse(program)
    except (SyntaxError, ValueError):
        return set()
    seen: set[str] = set()
    again: set[str] = set()
    for node in module.body:
        bound: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.append(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.extend((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                bound.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        again.update(name for name in bound if name in seen)
        seen.update(bound)
    return again
