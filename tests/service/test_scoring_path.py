"""One scoring path: every route that scores is admitted, deadlined, counted and audited the same way, and the
OpenAI graders reach the `code` and `judge` sources only through the registry.

The judge runs on a tiny random model (the operator's `source_options.judge.backend`): these tests are about
the path, not about judging well.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from referee.service.local import LocalService
from referee.service.protocols.openai_graders import check as grader_check
from referee.service.protocols.openai_graders import similarity
from referee.service.protocols.openai_graders.spec import TextSimilarityGrader
from tests.test_cli import referee

ROOT = Path(__file__).resolve().parents[2]
GRADERS = "/v1/fine_tuning/alpha/graders"
STRING_CHECK = {"type": "string_check", "name": "sc", "input": "{{ sample.output_text }}",
                "reference": "{{ item.answer }}", "operation": "eq"}
PYTHON = {"type": "python", "name": "py", "source": "def grade(sample, item):\n    return 0.5\n"}


@pytest.fixture(scope="module")
def svc(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalService, Path]]:
    folder = tmp_path_factory.mktemp("path")
    settings = folder / "settings.yaml"
    judge = {"backend": {"local": {"model": str(tiny_model)}}}
    settings.write_text(yaml.safe_dump({"source_options": {"judge": judge}}))
    db = folder / "audit.db"
    env = {"REFEREE_MAX_INFLIGHT_ITEMS": "2", "REFEREE_QUEUE_TIMEOUT_S": "0.2"}
    with LocalService(env=env, extra_args=["--settings", str(settings), "--audit-db", str(db), "--audit-texts"]) as s:
        yield s, db


def _rows(db: Path, request_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit WHERE request_id = ? ORDER BY item", (request_id,))]


def test_compare_and_grader_runs_are_audited(svc: tuple[LocalService, Path]) -> None:
    service, db = svc
    pairs = [{"prompt": "2+2?", "a": "4", "b": "five"}, {"prompt": "2+2?", "a": "It is 4.", "b": "4"}]
    r = httpx.post(service.url + "/v1/compare", headers={"X-Request-ID": "cmp-1"}, timeout=120,
                   json={"constitution": {"principles": [{"id": "right", "text": "The reply is correct."}]},
                         "pairs": pairs})
    assert r.status_code == 200, service.output()[-3000:]
    assert r.json()["request_id"] == "cmp-1" and r.headers["x-request-id"] == "cmp-1"
    comparisons = r.json()["comparisons"]
    rows = _rows(db, "cmp-1")
    assert [row["kind"] for row in rows] == ["compare", "compare"]
    assert [row["source"] for row in rows] == ["judge", "judge"] and rows[0]["constitution"] == "inline"
    # a pair is recorded as the judge's pairwise mode sees it: completion = a, reference = b
    assert [(row["prompt"], row["completion"], row["reference"]) for row in rows] == [
        (p["prompt"], p["a"], p["b"]) for p in pairs]
    assert [row["value"] for row in rows] == [c["p_a_better"] for c in comparisons]
    assert json.loads(rows[0]["details"])["consistent"] == comparisons[0]["consistent"]

    r = httpx.post(service.url + GRADERS + "/run", headers={"X-Request-ID": "grade-1"},
                   json={"grader": STRING_CHECK, "model_sample": "Paris", "item": {"answer": "Paris"}})
    assert r.status_code == 200 and r.json()["reward"] == 1.0
    assert r.json()["metadata"]["referee"]["request_id"] == "grade-1"
    [row] = _rows(db, "grade-1")
    assert (row["kind"], row["source"], row["value"], row["completion"]) == ("grader", "grader.string_check", 1.0,
                                                                              "Paris")
    assert json.loads(row["reference"]) == {"answer": "Paris"}

    summary = referee("audit", str(db)).stdout
    assert "judge@1.0 [inline] compare: 2 pairs, mean P(a better)" in summary, summary
    assert "grader.string_check@1.0 grader: 1 runs, mean reward 1.0000" in summary, summary
    listed = [json.loads(line) for line in referee("audit", str(db), "--json", "--kind", "compare").stdout.splitlines()]
    assert {r["kind"] for r in listed} == {"compare"} and len(listed) >= 2


def test_grader_runs_are_counted_in_the_metrics(svc: tuple[LocalService, Path]) -> None:
    service, _ = svc
    httpx.post(service.url + GRADERS + "/run", json={"grader": STRING_CHECK, "model_sample": "x", "item": {"a": 1}})
    httpx.post(service.url + "/v1/compare", json={"pairs": [{"a": "x", "b": "y"}]}, timeout=120)
    metrics = httpx.get(service.url + "/metrics").text
    assert 'referee_items_total{source="grader.string_check"}' in metrics
    assert 'referee_items_total{source="judge.compare"}' in metrics


def test_graders_and_compare_are_admitted_like_score(svc: tuple[LocalService, Path]) -> None:
    service, _ = svc
    hold = {"source": "testplugin-sleep", "options": {"seconds": 3}, "samples": [{"completion": "a"}] * 2}
    holder = threading.Thread(target=lambda: httpx.post(service.url + "/v1/score", json=hold, timeout=30))
    holder.start()
    try:
        time.sleep(0.5)  # the slow request now holds the whole budget of 2 items
        refused = [
            httpx.post(service.url + GRADERS + "/run", json={"grader": PYTHON, "model_sample": "x"}, timeout=30),
            httpx.post(service.url + GRADERS + "/run", json={"grader": STRING_CHECK, "model_sample": "x",
                                                              "item": {"answer": "x"}}, timeout=30),
            httpx.post(service.url + "/v1/compare", json={"pairs": [{"a": "x", "b": "y"}]}, timeout=30),
            httpx.post(service.url + "/openrlhf/exact/get_reward", json={"query": ["4"], "labels": ["4"]}, timeout=30),
        ]
    finally:
        holder.join()
    for r in refused:
        assert r.status_code == 503, (r.request.url, r.text)
        assert r.headers["retry-after"] == "1" and "at capacity" in r.json()["detail"]
    r = httpx.post(service.url + GRADERS + "/run", json={"grader": PYTHON, "model_sample": "x"}, timeout=60)
    assert r.status_code == 200 and r.json()["reward"] == 0.5


def test_a_multi_grader_counts_each_sub_grader(svc: tuple[LocalService, Path]) -> None:
    service, _ = svc
    multi = {"type": "multi", "calculate_output": "a + b + c",
             "graders": {"a": STRING_CHECK, "b": STRING_CHECK, "c": STRING_CHECK}}
    # three sub-graders against a budget of two: it runs alone, as any request larger than the budget does
    r = httpx.post(service.url + GRADERS + "/run", json={"grader": multi, "model_sample": "x", "item": {"answer": "x"}})
    assert r.status_code == 200 and r.json()["reward"] == 3.0


def test_graders_need_the_registered_code_and_judge_sources() -> None:
    with LocalService(sources=["exact"]) as only_exact:
        r = httpx.post(only_exact.url + GRADERS + "/validate", json={"grader": PYTHON})
        assert r.status_code == 422
        assert "python graders" in r.json()["detail"] and "`code` source is not enabled" in r.json()["detail"]
        model = {"type": "score_model", "model": "judge", "input": [{"role": "user", "content": "hi"}]}
        r = httpx.post(only_exact.url + GRADERS + "/validate", json={"grader": model})
        assert r.status_code == 422 and "`judge` source is not enabled" in r.json()["detail"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_graders_reach_sources_only_through_the_registry() -> None:
    for path in sorted((ROOT / "service" / "protocols" / "openai_graders").glob("*.py")):
        reached = {m for m in _imports(path) if m.startswith(("referee.verifiers.code", "referee.judges.backends"))}
        assert not reached, f"{path.name} reaches into {sorted(reached)}; use the registered source"


def test_text_similarity_libraries_are_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    libraries = ("nltk", "sacrebleu", "rouge-score", "rapidfuzz")
    assert not [d for d in project["dependencies"] if d.startswith(libraries)]
    assert sorted(d.split(">")[0] for d in project["optional-dependencies"]["similarity"]) == sorted(libraries)
    assert "referee[similarity]" in project["optional-dependencies"]["dev"]
    # the service starts without importing any of them
    code = ("import sys; from referee.service import create_app, load_settings; create_app(load_settings()); "
            "print(sorted(m for m in ('nltk', 'sacrebleu', 'rouge_score', 'rapidfuzz') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_text_similarity_without_the_extra_is_a_clear_4xx(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sacrebleu" else real(name, *a))
    grader = TextSimilarityGrader(type="text_similarity", input="a", reference="b", evaluation_metric="bleu")
    with pytest.raises(grader_check.SpecError) as caught:
        grader_check.check(grader, python_available=lambda g: None, model_available=lambda g: None)
    assert caught.value.loc == ["grader", "evaluation_metric"]
    assert "pip install 'referee[similarity]'" in str(caught.value) and "sacrebleu" in str(caught.value)
    assert similarity.missing("rouge_l") is None  # the others are installed here
