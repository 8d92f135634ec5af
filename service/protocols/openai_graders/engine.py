"""Running a checked grader spec on one model sample: each grader type, and the multi formula.

A grader either scores (`Outcome.value` a float) or fails (`value` None) with OpenAI's error flags set
(`invalid_variable_error`, `python_grader_runtime_error`, ...) and `error`, one sentence saying what failed.
OpenAI's protocol has no null reward: the route reports a failed run as reward 0.0 with those flags, and
marks it `metadata.referee.unscored` so a caller can tell "graded 0" from "could not grade".

A multi grader runs its sub-graders concurrently; if one fails the whole run fails (a formula missing a
term is a different reward), with every failed sub-grader's flags.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from referee.verifiers import DeadlineExceeded, Runtime, WorkerDied

from .formula import Formula, FormulaError
from .similarity import similarity
from .spec import MultiGrader, PythonGrader, ScoreModelGrader, StringCheckGrader, TextSimilarityGrader
from .templating import RenderTooLong, SampleParseError, VariableError, render

__all__ = ["ERROR_FLAGS", "Context", "Outcome", "grade", "sample_namespaces"]

ERROR_FLAGS = (
    "formula_parse_error",
    "invalid_variable_error",
    "model_grader_parse_error",
    "model_grader_refusal_error",
    "model_grader_server_error",
    "other_error",
    "python_grader_runtime_error",
    "python_grader_server_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
)
ERROR_DETAILS = ("model_grader_server_error_details", "python_grader_runtime_error_details",
                 "python_grader_server_error_type")


@dataclass
class Outcome:
    value: float | None
    errors: dict[str, Any] = field(default_factory=dict)
    """Flags (and `*_details`) set by this run; the route fills in the rest as false / null."""
    error: str | None = None
    sub: dict[str, float] = field(default_factory=dict)
    token_usage: int | None = None
    model: str | None = None

    @classmethod
    def failed(cls, flag: str, error: str, **details: Any) -> Outcome:
        return cls(None, {flag: True, **details}, error)


Runner = Callable[[Any, "Context"], Awaitable[Outcome]]


@dataclass
class Context:
    item: Mapping[str, Any]
    sample: Mapping[str, Any]
    """The `sample` namespace for templates: output_text, and output_json when the sample is JSON."""
    python_sample: Mapping[str, Any]
    """The `sample` argument of a python grader's `grade(sample, item)`."""
    runtime: Runtime
    timeout: float
    python: Runner
    model: Runner
    max_insert_chars: int
    """Most characters the placeholders of one template may insert (the service's max_field_chars)."""


def sample_namespaces(model_sample: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template namespace, python grader argument) for a model sample given as a string."""
    template: dict[str, Any] = {"output_text": model_sample}
    try:
        template["output_json"] = json.loads(model_sample)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: no output_json
        pass
    python: dict[str, Any] = {"choices": [], "output_text": model_sample, "output_json": template.get("output_json"),
              "output_tools": [], "output_audio": None}
    return template, python


def _render(text: str, ctx: Context) -> str:
    return render(text, ctx.item, ctx.sample, max_insert=ctx.max_insert_chars)


async def _string_check(g: StringCheckGrader, ctx: Context) -> Outcome:
    given, reference = _render(g.input, ctx), _render(g.reference, ctx)
    result = {
        "eq": given == reference,
        "ne": given != reference,
        "like": reference in given,
        "ilike": reference.lower() in given.lower(),
    }[g.operation]
    return Outcome(1.0 if result else 0.0)


async def _text_similarity(g: TextSimilarityGrader, ctx: Context) -> Outcome:
    given, reference = _render(g.input, ctx), _render(g.reference, ctx)
    try:
        value = await ctx.runtime.pool.run(similarity, g.evaluation_metric, given, reference, timeout=ctx.timeout)
    except DeadlineExceeded as exc:
        return Outcome.failed("unresponsive_reward_error", f"{g.evaluation_metric}: {exc}")
    except WorkerDied as exc:
        return Outcome.failed("other_error", f"{g.evaluation_metric}: {exc}")
    except Exception as exc:  # the metric library raised on this text
        return Outcome.failed("other_error", f"{g.evaluation_metric}: {type(exc).__name__}: {exc}")
    return Outcome(value)


async def _multi(g: MultiGrader, ctx: Context) -> Outcome:
    names = list(g.graders)
    outcomes = await asyncio.gather(*(grade(g.graders[n], ctx) for n in names))
    sub = {n: o.value for n, o in zip(names, outcomes, strict=True) if o.value is not None}
    usage = sum(o.token_usage or 0 for o in outcomes) or None
    failed = [(n, o) for n, o in zip(names, outcomes, strict=True) if o.value is None]
    if failed:
        errors: dict[str, Any] = {}
        for _, o in failed:
            errors.update(o.errors)
        reasons = "; ".join(f"{n}: {o.error}" for n, o in failed)
        return Outcome(None, errors, f"sub-grader(s) failed: {reasons}", sub, usage)
    try:
        value = Formula(g.calculate_output, names)(sub)
    except FormulaError as exc:
        return Outcome(None, {"other_error": True}, str(exc), sub, usage)
    return Outcome(value, sub=sub, token_usage=usage)


async def grade(grader: Any, ctx: Context) -> Outcome:
    """Run one checked grader; template failures become flagged outcomes, never exceptions."""
    try:
        if isinstance(grader, StringCheckGrader):
            return await _string_check(grader, ctx)
        if isinstance(grader, TextSimilarityGrader):
            return await _text_similarity(grader, ctx)
        if isinstance(grader, PythonGrader):
            return await ctx.python(grader, ctx)
        if isinstance(grader, ScoreModelGrader):
            return await ctx.model(grader, ctx)
        if isinstance(grader, MultiGrader):
            return await _multi(grader, ctx)
    except SampleParseError as exc:
        return Outcome.failed("sample_parse_error", f"{grader.name}: {exc}")
    except VariableError as exc:
        return Outcome.failed("invalid_variable_error", f"{grader.name}: {exc}")
    except RenderTooLong as exc:
        return Outcome.failed("other_error", f"{grader.name}: {exc}")
    raise TypeError(f"not a grader spec: {type(grader).__name__}")
