"""score_model graders: which judge backend a `model` names, and reading the score out of a judge's reply."""

from __future__ import annotations

from typing import Any

import pytest

from referee.service.protocols.openai_graders.model_grader import _close, backend_config, parse_result

OPERATOR = {"kind": "openai", "openai": {"base_url": "http://vllm:8001/v1", "model": "qwen"}}


@pytest.mark.parametrize(
    ("model", "operator", "kind"),
    [
        ("embedded", None, "local"),
        ("embedded", OPERATOR, "local"),
        ("judge", None, "local"),  # no operator configuration: the embedded model
        ("judge", OPERATOR, "openai"),
    ],
)
def test_backend_config(model: str, operator: dict[str, Any] | None, kind: str) -> None:
    config = backend_config(model, operator)
    assert config.kind == kind
    if kind == "local":
        assert config.local.model is None  # the embedded model, never a folder a request names
    else:
        assert config.openai.base_url == "http://vllm:8001/v1" and config.openai.model == "qwen"


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "local:/etc", "openai:m@http://10.0.0.1/v1", ""])
def test_other_models_are_refused_naming_the_choices(model: str) -> None:
    with pytest.raises(ValueError, match="model must be 'judge'"):
        backend_config(model, OPERATOR)


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
