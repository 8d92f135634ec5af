"""Checks of a parsed grader spec beyond its fields: templates, the formula, the python source, availability.

`check(grader)` raises `SpecError` naming the field (`grader.graders.email.reference: ...`); the routes turn
it into a 422 like any other malformed request. `/run` runs the same checks first, so a spec that
`/validate` refuses never runs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from typing import Any

from .formula import Formula, FormulaError
from .similarity import UNAVAILABLE, missing
from .spec import MultiGrader, PythonGrader, ScoreModelGrader, StringCheckGrader, TextSimilarityGrader
from .templating import TemplateError, references

__all__ = ["SpecError", "check", "message_texts"]

Availability = Callable[[Any], str | None]


class SpecError(ValueError):
    def __init__(self, loc: list[str], message: str) -> None:
        self.loc = loc
        self.message = message
        super().__init__(f"{'.'.join(loc)}: {message}")


def message_texts(content: Any) -> Iterator[str]:
    """The template-bearing strings of a score_model message's content (a string or text parts)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, dict):
        if isinstance(content.get("text"), str):
            yield content["text"]
    elif isinstance(content, list):
        for part in content:
            yield from message_texts(part)


def _templates(grader: Any) -> Iterator[tuple[list[str], str]]:
    if isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        yield ["input"], grader.input
        yield ["reference"], grader.reference
    elif isinstance(grader, ScoreModelGrader):
        for i, message in enumerate(grader.input):
            for text in message_texts(message.content):
                yield ["input", str(i), "content"], text


def _check_python(grader: PythonGrader, loc: list[str]) -> None:
    try:
        tree = ast.parse(grader.source)
    except SyntaxError as exc:
        raise SpecError([*loc, "source"], f"not valid Python: {exc.msg} (line {exc.lineno})") from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; nesting too deep to parse
        raise SpecError([*loc, "source"], f"not valid Python: {type(exc).__name__}: {exc}") from exc
    grades = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "grade"]
    if not grades:
        raise SpecError([*loc, "source"], "defines no top-level function `grade(sample, item)`")
    args = grades[-1].args
    positional = args.posonlyargs + args.args
    if isinstance(grades[-1], ast.AsyncFunctionDef) or len(positional) - len(args.defaults) > 2 or (
        len(positional) < 2 and args.vararg is None
    ):
        raise SpecError([*loc, "source"], "`grade` must be a plain function taking exactly (sample, item)")


def check(grader: Any, *, python_available: Availability, model_available: Availability,
          max_chars: int | None = None, loc: list[str] | None = None) -> None:
    """Raise SpecError for the first problem found in `grader` (a parsed spec). `max_chars`: the longest
    template accepted (the service's max_field_chars), checked before any template is parsed."""
    loc = loc or ["grader"]
    templates = list(_templates(grader))
    for where, text in templates:
        if max_chars is not None and len(text) > max_chars:
            raise SpecError([*loc, *where], f"{len(text)} characters exceed max_field_chars={max_chars}; shorten "
                            "the template or raise REFEREE_MAX_FIELD_CHARS")
    for where, text in templates:
        try:
            references(text)
        except TemplateError as exc:
            raise SpecError([*loc, *where], str(exc)) from exc
    if isinstance(grader, TextSimilarityGrader):
        why = UNAVAILABLE.get(grader.evaluation_metric) or missing(grader.evaluation_metric)
        if why:
            raise SpecError([*loc, "evaluation_metric"], f"not available: {grader.evaluation_metric}: {why}")
    if isinstance(grader, PythonGrader):
        _check_python(grader, loc)
        why = python_available(grader)
        if why:
            raise SpecError(loc, f"not available: python graders: {why}")
    if isinstance(grader, ScoreModelGrader):
        why = model_available(grader)
        if why:
            raise SpecError(loc, f"not available: score_model graders: {why}")
    if isinstance(grader, MultiGrader):
        try:
            Formula(grader.calculate_output, grader.graders)
        except FormulaError as exc:
            raise SpecError([*loc, "calculate_output"], str(exc)) from exc
        for key, sub in grader.graders.items():
            check(sub, python_available=python_available, model_available=model_available, max_chars=max_chars,
                  loc=[*loc, "graders", key])
