"""Schemathesis against the live service's OpenAPI schema: no input, valid or malformed, gives a 5xx.

Driven through schemathesis' Python API with hypothesis (its pytest plugin does not support pytest 9).
The judge runs on a tiny random model (the operator's `source_options.judge.backend`): this test is about
the HTTP edge, and the embedded model would spend minutes judging generated text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from referee.service.local import LocalService


@pytest.fixture(scope="module")
def live(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalService, list[Any]]]:
    settings = tmp_path_factory.mktemp("fuzz") / "settings.yaml"
    judge = {"backend": {"local": {"model": str(tiny_model)}}}
    settings.write_text(yaml.safe_dump({"source_options": {"judge": judge}}))
    with LocalService(extra_args=["--settings", str(settings)]) as svc:
        schema = schemathesis.openapi.from_url(svc.url + "/openapi.json")
        yield svc, [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(live: tuple[LocalService, list[schemathesis.APIOperation]], mode: GenerationMode) -> None:
    svc, operations = live
    assert any(op.path == "/v1/score" for op in operations)

    @given(st.one_of(*(op.as_strategy(generation_mode=mode) for op in operations)))
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=svc.url, checks=[not_a_server_error], timeout=30)

    run()
