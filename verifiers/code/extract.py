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

def _fence(line: str) -> tuple[str, str] | None:
    """`(fence, info)` if `line` opens a fence (CommonMark: up to 3 spaces of indent, 3+ backticks or tildes;
    a backtick fence's info string has no backtick), else None."""
    body = line.rstrip("\r\n")
    stripped = body.lstrip(" \t")
    if len(body) - len(stripped) > 3 or stripped[:1] not in ("`", "~"):
        return None
    char = stripped[0]
    fence = stripped[: len(stripped) - len(stripped.lstrip(char))]
    info = stripped[len(fence):]
    if len(fence) < 3 or (char == "`" and "`" in info):
        return None
    return fence, info


def _closes(line: str, fence: str) -> bool:
    body = line.rstrip("\r\n")
    stripped = body.lstrip(" \t")
    rest = stripped.lstrip(fence[0])
    return len(body) - len(stripped) <= 3 and len(stripped) - len(rest) >= len(fence) and not rest.strip(" \t")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """`(language tag, body)` for each fenced block, in order; an unclosed last fence runs to the end.

    A line scan, not a regular expression: policy text is hostile, and a fence line followed by a long run of
    spaces made the old pattern backtrack quadratically (docs/security.md)."""
    blocks: list[tuple[str, str]] = []
    # Lines end at "\n" only, as Python's tokenizer sees them (str.splitlines would also split at form feeds).
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    i = 0
    while i < len(lines):
        opening = _fence(lines[i])
        i += 1
        if opening is None:
            continue
        fence, info = opening
        words = info.split(maxsplit=1)
        tag = words[0].lower() if words else ""
        start = i
        while i < len(lines) and not _closes(lines[i], fence):
            i += 1
        blocks.append((tag, "".join(lines[start:i])))
        i += 1
    return blocks


def _defines(code: str, name: str) -> bool:
    # Per line and anchored: `^\s*` over the whole text rescans runs of blank lines from every line start.
    definition = re.compile(rf"(?:async\s+def|def|class)\s+{re.escape(name)}\b")
    return any(definition.match(line.lstrip()) for line in code.split("\n"))


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
