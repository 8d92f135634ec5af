"""score_model graders: what a `model` asks of the `judge` source, and reading the score out of a judge's reply."""

from __future__ import annotations

import pytest

from referee.judges.backends import BackendConfig
from referee.service.protocols.openai_graders.model_grader import _close, judge_options, parse_result


def test_judge_keeps_the_operators_backend_and_embedded_is_the_embedded_model() -> None:
    assert judge_options("judge") == {}  # over source_options.judge, whatever the operator set there
    embedded = BackendConfig.model_validate(judge_options("embedded")["backend"])
    assert embedded.kind == "local" and embedded.local.model is None  # never a folder a request names


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "local:/etc", "openai:m@http://10.0.0.1/v1", ""])
def test_other_models_are_refused_naming_the_choices(model: str) -> None:
    with pytest.raises(ValueError, match="model must be 'judge'"):
        judge_options(model)


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"steps": [], "result": 0.75}', 0.75),
        ('{"steps": [{"description": "x", "conclusion": "result: 0"}], "result": 1}', 1.0),  # the last one counts
        ("'result' = -2.5e-1", -0.25),
        ('{"steps": [], "result": "high"}', None),
        ("The answer looks right.", None),
        ("", None),
    ],
)
def test_parse_result(reply: str, value: float | None) -> None:
    assert parse_result(reply) == value


@pytest.mark.parametrize(
    ("reply", "forced"),
    [
        ('{"steps": [{"description": "a"}', '{"steps": [{"description": "a"}], "result": '),
        ('{"steps": [{"description": "a"}],', '{"steps": [{"description": "a"}], "result": '),
        ('{"steps": [], "result": {"oops', '{"steps": [], "result": '),
    ],
)
def test_close_forces_the_result_key(reply: str, forced: str) -> None:
    assert _close(reply) == forced
