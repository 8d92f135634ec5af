"""The code source's per-request limits over HTTP (issue 13): operator ceilings, and numeric references."""

from __future__ import annotations

from pathlib import Path

import httpx

from referee.service.local import LocalService

CODE_SAMPLE = {"completion": "def f():\n    return 1\n", "reference": "assert f() == 1"}


def score(url: str, source: str, samples: list[dict[str, object]], options: dict[str, object] | None = None
          ) -> httpx.Response:
    return httpx.post(url + "/v1/score", json={"source": source, "options": options or {}, "samples": samples},
                      timeout=60)


def test_a_request_over_the_ceiling_is_refused_with_the_ceiling_and_the_fix(service: LocalService) -> None:
    r = score(service.url, "code", [CODE_SAMPLE], {"memory_mb": 2048})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "memory_mb=2048" in detail and "memory_mb_ceiling=1024" in detail and "source_options" in detail
    r = score(service.url, "code", [CODE_SAMPLE], {"memory_mb": 1024, "disk_mb": 64, "max_processes": 32})
    assert r.status_code == 200 and r.json()["scores"][0]["value"] == 1.0, r.text


def test_a_request_cannot_raise_a_ceiling(service: LocalService) -> None:
    r = score(service.url, "code", [CODE_SAMPLE], {"memory_mb": 2048, "memory_mb_ceiling": 4096})
    assert r.status_code == 422
    assert "memory_mb_ceiling" in r.json()["detail"] and "only be set by the operator" in r.json()["detail"]


def test_the_operator_sets_the_ceilings(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("source_options:\n  code:\n    memory_mb_ceiling: 2048\n    disk_mb_ceiling: 64\n")
    with LocalService(extra_args=["--settings", str(settings)]) as svc:
        r = score(svc.url, "code", [CODE_SAMPLE], {"memory_mb": 2048})
        assert r.status_code == 200 and r.json()["scores"][0]["value"] == 1.0, r.text
        r = score(svc.url, "code", [CODE_SAMPLE], {"disk_mb": 128})
        assert r.status_code == 422 and "disk_mb_ceiling=64" in r.json()["detail"], r.text
        r = score(svc.url, "code", [CODE_SAMPLE])  # the default of 128 follows the lowered ceiling down
        assert r.status_code == 200 and r.json()["scores"][0]["value"] == 1.0, r.text


def test_a_numeric_reference_is_accepted_over_http(service: LocalService) -> None:
    r = score(service.url, "exact", [{"completion": "42", "reference": 42}, {"completion": "2.5", "reference": 2.5}])
    assert r.status_code == 200, r.text
    assert [s["value"] for s in r.json()["scores"]] == [1.0, 1.0]


def test_a_reference_of_another_type_is_refused_naming_the_field(service: LocalService) -> None:
    for bad, named in ((True, "bool"), ([{"input": "", "output": ""}], "list")):
        r = score(service.url, "exact", [{"completion": "1", "reference": bad}])
        assert r.status_code == 422, r.text
        text = r.text
        assert "reference" in text and f"got {named}" in text, text
