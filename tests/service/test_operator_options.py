"""Operator options, operator-only fields, and sources that cannot run on this host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from referee.service.local import LocalService


def test_request_cannot_weaken_sandbox_isolation(service: LocalService) -> None:
    r = httpx.post(service.url + "/v1/score", json={"source": "code", "options": {"isolation": "rlimits"},
                                                   "samples": [{"completion": "x = 1", "reference": "assert x == 1"}]})
    assert r.status_code == 422
    assert "isolation" in r.json()["detail"] and "only be set by the operator" in r.json()["detail"]


def test_operator_defaults_apply_and_requests_override(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("source_options:\n  wordcount:\n    target: 2\n")
    with LocalService(extra_args=["--settings", str(settings)]) as svc:
        def value(options: dict[str, int]) -> float:
            r = httpx.post(svc.url + "/v1/score", json={"source": "wordcount", "options": options,
                                                       "samples": [{"completion": "one two"}]})
            return float(r.json()["scores"][0]["value"])

        assert value({}) == 1.0  # the operator's target of 2 words
        assert value({"target": 4}) == 0.5  # the request's own


def test_installed_source_that_cannot_run_is_left_out_with_its_reason(service: LocalService) -> None:
    ready = httpx.get(service.url + "/readyz").json()
    assert "testplugin-unavailable" not in ready["sources"]
    assert "frobnicator" in ready["unavailable"]["testplugin-unavailable"]
    r = httpx.post(service.url + "/v1/score", json={"source": "testplugin-unavailable", "samples": []})
    assert r.status_code == 503 and "cannot run on this host" in r.json()["detail"]


def test_explicitly_enabled_source_that_cannot_run_stops_the_service() -> None:
    result = subprocess.run([sys.executable, "-m", "referee", "serve", "--port", "0", "--sources",
                             "exact,testplugin-unavailable"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "frobnicator" in result.stderr
