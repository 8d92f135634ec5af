"""Reading `Sample.reference` into the tests the harness runs.

Four formats, recognised in this order:
1. stdin/stdout cases: a JSON list of `{"input": str, "output": str}` (competitive programming). Each case
   runs the program as `__main__` with that stdin; it passes when the program exits 0 and its stdout equals
   `output` token by token (whitespace-separated, so trailing spaces and newlines do not matter).
2. HumanEval: Python that defines `check(candidate)`, with `metadata["entry_point"]` naming the function
   under test. One test: `check(<entry_point>)`.
3. `def test_*()` functions at top level, pytest style without fixtures: each function is one test, run in
   definition order after the module's other top-level statements.
4. Top-level `assert` statements (MBPP style): each assert is one test; the other top-level statements
   (imports, helpers, assignments) run in order as setup.

The test code sees the candidate's top-level names (and `candidate`, an alias of the entry point when one
is given). Not supported (the reference is then invalid, never a 0): unittest classes, pytest fixtures or
parametrisation, and tests that import the solution as a module.
"""

from __future__ import annotations

import ast
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
            return _stdio(cases)
    try:
        module = ast.parse(reference)
    except SyntaxError as exc:
        raise InvalidReference(f"the tests are neither a JSON list of stdin/stdout cases nor valid Python: "
                               f"{exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:  # null bytes
        raise InvalidReference(f"the tests are not valid Python: {exc}") from None
    functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    whole = [{"kind": "setup", "source": reference, "line": 1}]

    if "check" in functions and entry_point:
        if not entry_point.isidentifier():
            raise InvalidReference(f"metadata.entry_point {entry_point!r} is not a Python identifier")
        return TestSpec(mode="rpc", format="check", names=[f"check({entry_point})"],
                        items=[*whole, {"kind": "check", "source": "check"}])
    if "check" in functions and not any(name.startswith("test_") for name in functions):
        raise InvalidReference("the tests define check(candidate) but metadata has no 'entry_point' naming the "
                               "function to pass to it; add metadata.entry_point")

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
                        items=[*whole, *({"kind": "function", "source": fn.name} for fn in tests)])

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
    return TestSpec(mode="rpc", format="asserts", names=names, items=items)
