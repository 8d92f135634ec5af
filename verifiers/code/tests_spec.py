"""Reading `Sample.reference` into the tests the harness runs.

Four formats, recognised in this order:
1. stdin/stdout cases: a JSON list of `{"input": str, "output": str}` (competitive programming). Each case
   runs the program as `__main__` with that stdin; it passes when the program exits 0 and its stdout equals
   `output` token by token (whitespace-separated, so trailing spaces and newlines do not matter).
2. HumanEval: Python that defines `check(candidate)`, with `metadata["entry_point"]` naming the function
   under test, or a top-level `check(NAME)` call naming it (the call itself is not run as setup: the
   harness makes it, as the one test). One test: `check(<entry_point>)`.
3. `def test_*()` functions at top level, pytest style without fixtures: each function is one test, run in
   definition order after the module's other top-level statements.
4. Top-level `assert` statements (MBPP style): each assert is one test; the other top-level statements
   (imports, helpers, assignments) run in order as setup.

The test code sees the candidate's top-level names (and `candidate`, an alias of the entry point when one
is given), except those that would change what the tests compute: builtins, modules and the prompt's
helpers are the tests' own (see inside/namespace.py; `used` and `called` below tell it which names the
tests use). Not supported (the reference is then invalid, never a 0): unittest classes, pytest fixtures or
parametrisation, and tests that import the solution as a module.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["InvalidReference", "TestSpec", "outputs_match", "parse_reference"]


class InvalidReference(ValueError):
    """The reference is not tests in any supported format; the message says what was found."""


@dataclass(frozen=True)
class TestSpec:
    mode: Literal["rpc", "stdio"]
    format: Literal["stdio", "check", "functions", "asserts"]
    names: list[str]
    """One label per counted test, in order."""
    items: list[dict[str, Any]] = field(default_factory=list)
    """rpc mode: what the harness executes, in order: `{"kind": "setup"|"assert"|"function"|"check", ...}`."""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    """stdio mode: stdin for each case, and the expected stdout (kept on the host, never sent in)."""
    entry_point: str | None = None
    """The function under test: `metadata.entry_point`, or inferred from a top-level `check(NAME)` call."""
    used: frozenset[str] = frozenset()
    """rpc mode: every name the test code reads, anywhere in it (a superset: locals too)."""
    called: frozenset[str] = frozenset()
    """rpc mode: the names the test code calls directly, as in `name(...)`."""
    given: dict[str, Any] | None = None
    """rpc mode: `{"source": prompt, "names": [...]}`, helpers the prompt defines, run by the harness itself
    (set by the source with `dataclasses.replace`; see extract.given_helpers)."""

    def __len__(self) -> int:
        return len(self.names)


def outputs_match(got: str, expected: str) -> bool:
    return got.split() == expected.split()


def _stdio(cases: Any) -> TestSpec:
    inputs, outputs = [], []
    for i, case in enumerate(cases):
        if not (isinstance(case, dict) and isinstance(case.get("input"), str)
                and isinstance(case.get("output"), str)):
            raise InvalidReference(f"stdin/stdout case {i} must be an object with string 'input' and 'output', "
                                   f"got {json.dumps(case)[:80]}")
        inputs.append(case["input"])
        outputs.append(case["output"])
    if not inputs:
        raise InvalidReference("the reference is an empty list of stdin/stdout cases")
    return TestSpec(mode="stdio", format="stdio", names=[f"case {i}" for i in range(len(inputs))],
                    inputs=inputs, outputs=outputs)


def _source(node: ast.stmt) -> str:
    return ast.unparse(ast.Module(body=[node], type_ignores=[]))


def parse_reference(reference: str, entry_point: str | None = None) -> TestSpec:
    """The tests in `reference`; `InvalidReference` with a reason when there are none this can run."""
    stripped = reference.strip()
    if stripped.startswith("["):
        try:
            cases = json.loads(stripped)
        except json.JSONDecodeError:
            cases = None  # perhaps Python that starts with a list display; fall through
        if isinstance(cases, list):
            return dataclasses.replace(_stdio(cases), entry_point=entry_point)
    try:
        module = ast.parse(reference)
    except SyntaxError as exc:
        raise InvalidReference(f"the tests are neither a JSON list of stdin/stdout cases nor valid Python: "
                               f"{exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:  # null bytes
        raise InvalidReference(f"the tests are not valid Python: {exc}") from None
    functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    used, called = _names(module)
    whole = [{"kind": "setup", "source": reference, "line": 1}]

    if "check" in functions:
        calls = [n for n in module.body if _check_call_name(n)]
        named = sorted({_check_call_name(n) or "" for n in calls})
        if not entry_point and len(named) > 1:
            raise InvalidReference(f"the tests call check() on different functions ({', '.join(named)}); add "
                                   "metadata.entry_point naming the one under test")
        entry_point = entry_point or (named[0] if named else None)
        if entry_point:
            if not entry_point.isidentifier():
                raise InvalidReference(f"metadata.entry_point {entry_point!r} is not a Python identifier")
            return TestSpec(mode="rpc", format="check", names=[f"check({entry_point})"],
                            items=[*_setup_without(reference, module, calls), {"kind": "check", "source": "check"}],
                            entry_point=entry_point, used=used, called=called)
    if "check" in functions and not any(name.startswith("test_") for name in functions):
        raise InvalidReference("the tests define check(candidate) but neither metadata.entry_point nor a "
                               "top-level check(NAME) call names the function to pass to it; add "
                               "metadata.entry_point")

    tests = [n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
             and n.name.startswith("test_")]
    if tests:
        for fn in tests:
            if isinstance(fn, ast.AsyncFunctionDef):
                raise InvalidReference(f"test function {fn.name} is async; only plain functions are supported")
            args = fn.args
            required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
            if required > 0 or any(default is None for default in args.kw_defaults):
                raise InvalidReference(f"test function {fn.name} takes arguments (pytest fixtures or "
                                       "parametrisation are not supported)")
        return TestSpec(mode="rpc", format="functions", names=[fn.name for fn in tests],
                        items=[*whole, *({"kind": "function", "source": fn.name} for fn in tests)],
                        entry_point=entry_point, used=used, called=called)

    items, names = [], []
    for node in module.body:
        if isinstance(node, ast.Assert):
            items.append({"kind": "assert", "source": _source(node), "line": node.lineno})
            names.append(f"assert at line {node.lineno}")
        else:
            items.append({"kind": "setup", "source": _source(node), "line": node.lineno})
    if not names:
        raise InvalidReference("no tests found: expected a JSON list of stdin/stdout cases, check(candidate) with "
                               "metadata.entry_point, def test_*() functions, or top-level assert statements")
    return TestSpec(mode="rpc", format="asserts", names=names, items=items, entry_point=entry_point, used=used,
                    called=called)


def _names(module: ast.Module) -> tuple[frozenset[str], frozenset[str]]:
    used: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            used.add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return frozenset(used), frozenset(called)


def _check_call_name(node: ast.stmt) -> str | None:
    """NAME, for a top-level `check(NAME)` statement (HumanEval-style tests end with one to run on their own)."""
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "check" and len(node.value.args) == 1 and not node.value.keywords
            and isinstance(node.value.args[0], ast.Name)):
        return node.value.args[0].id
    return None


def _setup_without(reference: str, module: ast.Module, drop: list[ast.stmt]) -> list[dict[str, Any]]:
    """The reference as setup, less the statements `drop`: their lines blanked when each is alone on its lines
    (line numbers stay right), else statement by statement."""
    if not drop:
        return [{"kind": "setup", "source": reference, "line": 1}]
    lines = reference.splitlines(keepends=True)
    for node in drop:
        last = lines[node.end_lineno - 1] if node.end_lineno else ""
        rest = last[node.end_col_offset:].strip() if node.end_col_offset is not None else "?"
        if node.col_offset != 0 or (rest and not rest.startswith("#")):
            return [{"kind": "setup", "source": _source(n), "line": n.lineno} for n in module.body if n not in drop]
    for node in drop:
        for i in range(node.lineno - 1, node.end_lineno or node.lineno):
            lines[i] = "\n"
    return [{"kind": "setup", "source": "".join(lines), "line": 1}]
