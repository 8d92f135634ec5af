"""The `calculate_output` formula of a multi grader, parsed safely: an AST whitelist, never `eval`.

The language is OpenAI's: numbers, the sub-graders' names, `+ - * /`, `^` for power (`**` too), unary
minus, parentheses, and the functions `min max abs floor ceil exp sqrt log`. Anything else (attributes,
subscripts, comparisons, other names or calls, keyword arguments) is refused when the grader is validated,
with the offending piece named. Evaluation is in floats; a result that is not finite (division by zero, a
domain error, overflow) raises `FormulaError`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping

__all__ = ["FUNCTIONS", "Formula", "FormulaError"]

MAX_LENGTH = 2000
MAX_NODES = 500

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_ARITY = {"abs": (1, 1), "floor": (1, 1), "ceil": (1, 1), "exp": (1, 1), "sqrt": (1, 1), "log": (1, 2),
          "min": (1, 64), "max": (1, 64)}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: math.pow(a, b),
}


class FormulaError(ValueError):
    """The formula cannot be parsed, names something unknown, or cannot be evaluated."""


class Formula:
    """`Formula(text, variables)` checks the formula; `formula(values)` evaluates it."""

    def __init__(self, text: str, variables: Iterable[str]) -> None:
        self.text = text
        self.variables = frozenset(variables)
        if len(text) > MAX_LENGTH:
            raise FormulaError(f"calculate_output: {len(text)} characters; at most {MAX_LENGTH}")
        # `^` is power in OpenAI's formulas; in Python it is xor, with the wrong precedence. No string
        # literal can occur in a valid formula, so a plain replacement cannot change its meaning.
        source = text.replace("^", "**").strip()
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"calculate_output {text!r}: not a formula ({exc.msg} at column {exc.offset})") from exc
        except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; nesting too deep to parse
            raise FormulaError(f"calculate_output {text!r}: not a formula ({type(exc).__name__})") from exc
        if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
            raise FormulaError(f"calculate_output: more than {MAX_NODES} terms")
        self._tree = tree.body
        self.used = frozenset(self._check(self._tree))

    def _check(self, node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaError(f"calculate_output {self.text!r}: {node.value!r} is not a number")
            return set()
        if isinstance(node, ast.Name):
            if node.id not in self.variables:
                known = ", ".join(sorted(self.variables)) or "(none)"
                hint = " (a function needs parentheses)" if node.id in FUNCTIONS else ""
                raise FormulaError(f"calculate_output {self.text!r}: {node.id!r} is not a grader name{hint}; "
                                   f"the names are the keys of `graders`: {known}")
            return {node.id}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return self._check(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._check(node.left) | self._check(node.right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
            lo, hi = _ARITY[node.func.id]
            if node.keywords or not lo <= len(node.args) <= hi or any(isinstance(a, ast.Starred) for a in node.args):
                raise FormulaError(f"calculate_output {self.text!r}: {node.func.id}() takes {lo}"
                                   f"{'' if lo == hi else f' to {hi}'} plain argument(s)")
            used: set[str] = set()
            for arg in node.args:
                used |= self._check(arg)
            return used
        allowed = "numbers, grader names, + - * / ^, parentheses and " + ", ".join(FUNCTIONS)
        raise FormulaError(f"calculate_output {self.text!r}: {ast.unparse(node)!r} is not allowed; use {allowed}")

    def __call__(self, values: Mapping[str, float]) -> float:
        try:
            result = float(self._eval(self._tree, values))
        except (ArithmeticError, ValueError) as exc:  # ZeroDivisionError, OverflowError, math domain error
            raise FormulaError(f"calculate_output {self.text!r}: {exc} with {dict(values)}") from exc
        if not math.isfinite(result):
            raise FormulaError(f"calculate_output {self.text!r}: result {result} is not finite with {dict(values)}")
        return result

    def _eval(self, node: ast.expr, values: Mapping[str, float]) -> float:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, values)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, values), self._eval(node.right, values))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return float(FUNCTIONS[node.func.id](*(self._eval(a, values) for a in node.args)))
        raise AssertionError(f"unchecked node {ast.dump(node)}")  # _check refused it already
