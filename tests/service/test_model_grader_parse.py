"""score_model graders: which judge backend a `model` names, and reading the score out of a judge's reply."""

from __future__ import annotations

import pytest

from referee.service.protocols.openai_graders.model_grader import _close, backend_config, parse_result


@pytest.mark.parametrize(
    ("model", "kind", "detail"),
    [
        ("embedded", "local", None),
        ("local:/models/qwen", "local", "/models/qwen"),
        ("openai:smollm2@http://127.0.0.1:8001/v1", "openai", "http://127.0.0.1:8001/v1"),
    ],
)
def test_backend_config(model: str, kind: str, detail: str | None) -> None:
    config = backend_config(model)
    assert config.kind == kind
    if kind == "local":
        assert config.local.model == detail
    else:
        assert config.openai.base_url == detail and config.openai.model == "smollm2"


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "local:", "openai:smollm2", "openai:@http://x/v1",
                                   "openai:m@ftp://x"])
def test_other_models_are_refused_naming_the_choices(model: str) -> None:
    with pytest.raises(ValueError, match="'embedded', 'local:<model folder>' or 'openai:<served model>@<base url>'"):
        backend_config(model)


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
