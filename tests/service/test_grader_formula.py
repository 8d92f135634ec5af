"""The multi grader's formula language and the `{{ namespace.path }}` templates: pure, table-driven."""

from __future__ import annotations

import math

import pytest

from referee.service.protocols.openai_graders.formula import Formula, FormulaError
from referee.service.protocols.openai_graders.templating import (
    SampleParseError,
    TemplateError,
    VariableError,
    references,
    render,
)

VALUES = {"a": 0.5, "b": 1.0, "c": 0.0}


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("(a + b) / 2", 0.75),
        ("0.5 * a + 0.5 * b", 0.75),
        ("a ^ 2", 0.25),
        ("2 * a ^ 2", 0.5),  # ^ binds tighter than *, as in maths (Python's xor would not)
        ("a + b ^ 2", 1.5),
        ("a ** 2", 0.25),
        ("-a + b", 0.5),
        ("min(a, b, c)", 0.0),
        ("max(a, b)", 1.0),
        ("abs(c - a)", 0.5),
        ("floor(a + b)", 1.0),
        ("ceil(a)", 1.0),
        ("exp(c)", 1.0),
        ("sqrt(a * 2)", 1.0),
        ("log(b)", 0.0),
        ("log(8, 2)", 3.0),
        ("(100 - abs(b - a) * 100) / 100", 0.5),
        ("1", 1.0),
    ],
)
def test_formula_values(formula: str, expected: float) -> None:
    assert math.isclose(Formula(formula, VALUES)(VALUES), expected)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("__import__('os').system('true')", "is not allowed"),
        ("a.__class__", "is not allowed"),
        ("a if b else c", "is not allowed"),
        ("a < b", "is not allowed"),
        ("[a, b]", "is not allowed"),
        ("d + a", "'d' is not a grader name"),
        ("min + a", "a function needs parentheses"),
        ("pow(a, 2)", "is not allowed"),
        ("max(a, key=b)", "plain argument"),
        ("sqrt(a, b)", "takes 1 plain argument"),
        ("'a' + b", "is not a number"),
        ("True + a", "is not a number"),
        ("a +", "not a formula"),
        ("a" + " + a" * 600, "at most"),
        ("a\x00", "not a formula"),
        ("-" * 1500 + "a", "more than 500 terms"),
    ],
)
def test_formula_refusals_name_the_problem(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        Formula(formula, VALUES)


@pytest.mark.parametrize("formula", ["a / c", "log(c)", "sqrt(c - a)", "exp(1000)", "10 ^ 400"])
def test_formula_evaluation_errors_raise(formula: str) -> None:
    with pytest.raises(FormulaError, match="calculate_output"):
        Formula(formula, VALUES)(VALUES)


ITEM = {"answer": "Paris", "ref": {"donors": [1, 2], "name": "x"}, "n": 1.5, "flag": True, "weird-key": "w"}
SAMPLE = {"output_text": "Paris is the capital", "output_json": {"city": "Paris", "list": ["a", "b"]}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ item.answer }}", "Paris"),
        ("{{item.answer}}", "Paris"),
        ("A: {{ sample.output_text }}!", "A: Paris is the capital!"),
        ("{{ item.ref.donors }}", "[1, 2]"),
        ("{{ item.ref.donors[1] }}", "2"),
        ("{{ item.ref.donors[-1] }}", "2"),
        ("{{ item.n }} {{ item.flag }}", "1.5 true"),
        ("{{ item.ref }}", '{"donors": [1, 2], "name": "x"}'),
        ("{{ sample.output_json.list[0] }}", "a"),
        ("{{ item['weird-key'] }}", "w"),
        ("no placeholders {single}", "no placeholders {single}"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, ITEM, SAMPLE) == expected


def test_render_is_one_pass() -> None:
    # A value that itself looks like a placeholder stays literal: it is never scanned again.
    item = {"a": "{{ item.secret }}", "secret": "LEAKED"}
    assert render("{{ item.a }}", item, {}) == "{{ item.secret }}"


@pytest.mark.parametrize(
    ("template", "error", "message"),
    [
        ("{{ item.missing }}", VariableError, r"item.missing: not found \(has: answer"),
        ("{{ item.ref.donors[5] }}", VariableError, "index out of range"),
        ("{{ item.answer.x }}", VariableError, "cannot take 'x' of a str"),
        ("{{ sample.output_json.city }}", SampleParseError, "not valid JSON"),
    ],
)
def test_render_errors(template: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        render(template, ITEM, {"output_text": "not json"})


@pytest.mark.parametrize("template", ["{{ foo.bar }}", "{{ item }}", "{{ item..x }}", "{{ item.a b }}", "{{ }}"])
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        references(template)
