"""Faults at the HTTP edge: the service stays up and keeps scoring."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from referee.service.local import LocalService, free_port


def _server_errors(metrics: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("referee_http_requests_total") and 'status="5' in line)


def test_client_disconnecting_mid_batch(service: LocalService) -> None:
    slow = {"source": "testplugin-sleep", "options": {"seconds": 2}, "samples": [{"completion": "a"}] * 3}
    for _ in range(3):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(service.url + "/v1/score", json=slow, timeout=httpx.Timeout(5, read=0.3))
    time.sleep(2.5)  # let the abandoned batches finish server-side
    body = {"source": "exact", "samples": [{"completion": "1", "reference": "1"}]}
    r = httpx.post(service.url + "/v1/score", json=body)
    assert r.status_code == 200 and r.json()["scores"][0]["value"] == 1.0
    assert _server_errors(httpx.get(service.url + "/metrics").text) == 0


def test_item_exhausting_memory_is_unscored_and_the_service_survives() -> None:
    # A plugin source allocating in the real worker pool, under the service's per-worker memory cap.
    with LocalService(env={"REFEREE_WORKER_MEMORY_MB": "400"}) as svc:
        samples = [{"completion": "bomb", "metadata": {"mb": 4000}}, {"completion": "fine", "metadata": {"mb": 20}}]
        r = httpx.post(svc.url + "/v1/score", json={"source": "testplugin-memory", "samples": samples}, timeout=120)
        assert r.status_code == 200
        bomb, fine = r.json()["scores"]
        assert bomb["value"] is None and bomb["reason"] == "worker_error"
        assert "memory limit of 400 MB" in bomb["details"]["error"]
        assert fine["value"] == 1.0 and fine["details"]["allocated_mb"] == 20
        assert httpx.get(svc.url + "/readyz").status_code == 200


def test_judge_backend_down_is_unscored_backend_error_not_zero(tmp_path: Path) -> None:
    """The operator points the judge at an OpenAI-compatible server that is not running."""
    settings = tmp_path / "settings.yaml"
    backend = {"kind": "openai", "openai": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 1,
                                            "timeout_s": 5}}
    settings.write_text(yaml.safe_dump({"source_options": {"judge": {"backend": backend}}}))
    with LocalService(extra_args=["--settings", str(settings)]) as svc:
        mix = [{"source": "exact"}, {"source": "judge", "weight": 0.2}]
        r = httpx.post(svc.url + "/v1/score", timeout=120, json={
            "source": mix, "samples": [{"prompt": "2+2?", "completion": "The answer is 4.", "reference": "4"}]})
    assert r.status_code == 200
    score = r.json()["scores"][0]
    assert score["value"] is None and score["reason"] == "component_unscored"
    exact, judge = score["components"]
    assert exact["value"] == 1.0
    assert judge["value"] is None and judge["reason"] == "backend_error"
