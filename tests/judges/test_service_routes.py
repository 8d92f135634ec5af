"""The judge routes on the real service (child process on loopback) with the real embedded model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referee.judges import released_manifest
from referee.service.local import LocalService

pytestmark = pytest.mark.slow

ONE = {"principles": [{"id": "correct", "text": "The reply answers the question correctly."}]}
DRAFT = """---
name: house
version: 1
description: A house style.
---

Judge replies.

# Principles

## polite
weight: 1
The reply is polite.
"""


@pytest.fixture(scope="module")
def svc(cache_dir: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    extra = tmp_path_factory.mktemp("constitutions")
    (extra / "house").mkdir()
    (extra / "house" / "v1.md").write_text(DRAFT)
    env = {"REFEREE_CACHE": str(cache_dir), "REFEREE_CONSTITUTION_DIRS": json.dumps([str(extra)]),
           "REFEREE_SOURCES": json.dumps(["judge", "exact"])}
    with LocalService(env=env) as s:
        yield s


def test_list_constitutions(svc: LocalService) -> None:
    r = httpx.get(f"{svc.url}/v1/constitutions")
    assert r.status_code == 200
    versions = {v["ref"]: v for c in r.json()["constitutions"] for v in c["versions"]}
    manifest = released_manifest()
    for ref, sha in manifest.items():
        assert versions[ref]["sha256"] == sha and versions[ref]["released"] is True
    assert versions["house@1"]["released"] is False  # from the configured folder: a draft


def test_get_constitution(svc: LocalService) -> None:
    r = httpx.get(f"{svc.url}/v1/constitutions/hhh")
    assert r.status_code == 200
    body = r.json()
    assert body["latest"] == 1 and [p["id"] for p in body["versions"][0]["principles"]] == [
        "helpful", "honest", "harmless", "clear"]
    missing = httpx.get(f"{svc.url}/v1/constitutions/nope")
    assert missing.status_code == 404 and "available: concise, hhh, house" in missing.json()["detail"]


def test_compare(svc: LocalService) -> None:
    body = {"constitution": ONE, "options": {"method": "likelihood"},
            "pairs": [{"prompt": "Capital of France?", "a": "Paris.", "b": "Berlin."}]}
    r = httpx.post(f"{svc.url}/v1/compare", json=body, timeout=300)
    assert r.status_code == 200, r.text
    [c] = r.json()["comparisons"]
    assert 0 <= c["p_a_better"] <= 1 and c["consistent"] is True and set(c["principles"]) == {"correct"}
    assert c["details"]["constitution"] == "inline" and c["details"]["judge"]["method"] == "likelihood"


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"pairs": [{"a": "x", "b": "y"}], "options": {"backend": {"kind": "openai"}}}, 422, "only be set by the operator"),
    ({"pairs": []}, 422, "pairs"),
    ({"constitution": "hhh@9", "pairs": [{"a": "x", "b": "y"}]}, 422, "no version 9"),
    ({"pairs": [{"a": "x", "b": "y"}], "options": {"method": "vibes"}}, 422, "method"),
])
def test_compare_rejects_bad_requests(svc: LocalService, body: dict[str, Any], status: int, says: str) -> None:
    r = httpx.post(f"{svc.url}/v1/compare", json=body, timeout=60)
    assert r.status_code == status and says in r.json()["detail"], r.text


def test_score_with_the_judge_source(svc: LocalService) -> None:
    body = {"source": "judge", "options": {"constitution": ONE},
            "samples": [{"prompt": "2 + 2?", "completion": "4"}]}
    r = httpx.post(f"{svc.url}/v1/score", json=body, timeout=300)
    assert r.status_code == 200, r.text
    [score] = r.json()["scores"]
    assert 0 <= score["value"] <= 1 and score["details"]["judge"]["template"] == "pointwise.v1"
