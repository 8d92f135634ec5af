"""POST /v1/score and friends, against the real service under uvicorn on loopback."""

from __future__ import annotations

import json

import httpx
import pytest

from referee.service.local import LocalService
from tests.conftest import API_KEY


@pytest.fixture
def http(service: LocalService) -> httpx.Client:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def test_batch_keeps_order(http: httpx.Client) -> None:
    samples = [{"completion": f"The answer is {i}.", "reference": str(i if i % 3 else i + 1)} for i in range(500)]
    r = http.post("/v1/score", json={"source": "exact", "samples": samples})
    assert r.status_code == 200
    scores = r.json()["scores"]
    assert len(scores) == 500
    assert [s["value"] for s in scores] == [0.0 if i % 3 == 0 else 1.0 for i in range(500)]
    assert [s["details"]["extracted"] for s in scores] == [str(i) for i in range(500)]


def test_mixed_valid_and_invalid_items_score_independently(http: httpx.Client) -> None:
    samples = [
        {"completion": "\\boxed{7}", "reference": "7"},
        {"completion": "no reference here"},
        {"completion": "\\boxed{8}", "reference": "7"},
        {"completion": "", "reference": "7"},
    ]
    scores = http.post("/v1/score", json={"source": "exact", "samples": samples}).json()["scores"]
    assert [s["value"] for s in scores] == [1.0, None, 0.0, 0.0]
    assert scores[1]["reason"] == "no_reference"
    assert "reference" in scores[1]["details"]["error"]
    assert all(s["source"] == "exact" and s["version"] for s in scores)


def test_unknown_source_is_404_listing_available(http: httpx.Client) -> None:
    r = http.post("/v1/score", json={"source": "mathh", "samples": [{"completion": "1"}]})
    assert r.status_code == 404
    assert "'mathh' is not registered" in r.json()["detail"]
    assert "exact" in r.json()["detail"] and "wordcount" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[]", "body"),
        (json.dumps({"samples": []}).encode(), "source"),
        (json.dumps({"source": "exact", "samples": [{"completion": 5}]}).encode(), "samples[0].completion"),
        (json.dumps({"source": "exact", "samples": [{"completion": "a", "extra": 1}]}).encode(), "samples[0].extra"),
        (json.dumps({"source": "exact", "samples": "x"}).encode(), "samples"),
        (json.dumps({"source": [{"source": "exact", "weight": "heavy"}], "samples": []}).encode(), "weight"),
    ],
)
def test_malformed_requests_are_422_naming_the_field(http: httpx.Client, body: bytes, field: str) -> None:
    r = http.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


def test_bad_source_options_are_422_naming_the_option(http: httpx.Client) -> None:
    r = http.post("/v1/score", json={"source": "exact", "samples": [], "options": {"case_sensitiv": True}})
    assert r.status_code == 422
    assert "case_sensitiv" in r.json()["detail"] and "'exact'" in r.json()["detail"]
    r = http.post("/v1/score", json={"source": "wordcount", "samples": [], "options": {"target": 0}})
    assert r.status_code == 422 and "target" in r.json()["detail"]


def test_limits(small_limits_service: LocalService) -> None:
    with httpx.Client(base_url=small_limits_service.url) as http:
        r = http.post("/v1/score", json={"source": "exact", "samples": [{"completion": "1"}] * 6})
        assert r.status_code == 422 and "max_items=5" in r.json()["detail"]
        samples = [{"completion": "1"}, {"completion": "x" * 101}]
        r = http.post("/v1/score", json={"source": "exact", "samples": samples})
        assert r.status_code == 422 and "samples[1].completion" in r.json()["detail"]
        big = json.dumps({"source": "exact", "samples": [{"completion": "y" * 5000}]}).encode()
        r = http.post("/v1/score", content=big)
        assert r.status_code == 413 and "4096 bytes" in r.json()["detail"]

        def chunked():  # no Content-Length: the limit must hold while streaming
            for _ in range(10):
                yield b" " * 1000

        r = http.post("/v1/score", content=chunked())
        assert r.status_code == 413


def test_plugin_failures_are_unscored_not_500(http: httpx.Client) -> None:
    samples = [{"completion": "a"}, {"completion": "b"}]
    for name, needle in [("testplugin-raises", "boom"), ("testplugin-wrong-length", "1 scores for 2")]:
        r = http.post("/v1/score", json={"source": name, "samples": samples})
        assert r.status_code == 200
        scores = r.json()["scores"]
        assert [s["value"] for s in scores] == [None, None]
        assert {s["reason"] for s in scores} == {"source_error"}
        assert needle in scores[0]["details"]["error"]


def test_third_party_plugin_source_scores(http: httpx.Client) -> None:
    r = http.post("/v1/score", json={"source": "wordcount", "options": {"target": 4},
                                     "samples": [{"completion": "one two three four"}, {"completion": "one two"}]})
    assert [s["value"] for s in r.json()["scores"]] == [1.0, 0.5]


def test_weighted_mix(http: httpx.Client) -> None:
    mix = [{"source": "exact", "weight": 1.0}, {"source": "wordcount", "weight": 0.5, "options": {"target": 2}}]
    samples = [{"completion": "\\boxed{3} ok", "reference": "3"}, {"completion": "\\boxed{4} ok", "reference": "3"},
               {"completion": "\\boxed{4} ok"}]
    scores = http.post("/v1/score", json={"source": mix, "samples": samples}).json()["scores"]
    assert [s["value"] for s in scores[:2]] == [1.5, 0.5]
    assert [c["source"] for c in scores[0]["components"]] == ["exact", "wordcount"]
    assert scores[2]["value"] is None and scores[2]["reason"] == "component_unscored"
    assert scores[2]["components"][0]["reason"] == "no_reference"
    skipped = http.post("/v1/score", json={"source": mix, "samples": samples[2:],
                                           "options": {"on_unscored": "skip"}}).json()["scores"]
    assert skipped[0]["value"] == 0.5 and skipped[0]["details"]["skipped"] == ["exact"]


def test_mix_errors(http: httpx.Client) -> None:
    r = http.post("/v1/score", json={"source": [{"source": "exact"}, {"source": "nope"}], "samples": []})
    assert r.status_code == 404 and "'nope'" in r.json()["detail"]
    r = http.post("/v1/score", json={"source": [{"source": "exact"}], "samples": [], "options": {"on_unscored": "x"}})
    assert r.status_code == 422 and "on_unscored" in r.json()["detail"]
    r = http.post("/v1/score", json={"source": [], "samples": []})
    assert r.status_code == 422


def test_auth(keyed_service: LocalService) -> None:
    body = {"source": "exact", "samples": [{"completion": "1", "reference": "1"}]}
    with httpx.Client(base_url=keyed_service.url) as http:
        assert http.post("/v1/score", json=body).status_code == 401
        r = http.post("/v1/score", json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        assert http.get("/metrics").status_code == 401
        assert http.get("/v1/sources").status_code == 401
        ok = http.post("/v1/score", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200 and ok.json()["scores"][0]["value"] == 1.0
        assert http.get("/healthz").status_code == 200  # probes stay open
        assert http.get("/readyz").status_code == 200


def test_no_auth_when_no_key(http: httpx.Client) -> None:
    assert http.post("/v1/score", json={"source": "exact", "samples": []}).status_code == 200


def test_sources_listing_has_schema(http: httpx.Client) -> None:
    sources = {s["name"]: s for s in http.get("/v1/sources").json()["sources"]}
    assert {"exact", "wordcount"} <= set(sources)
    assert "case_sensitive" in sources["exact"]["options_schema"]["properties"]
    assert sources["wordcount"]["provider"].startswith("referee-testplugin")


def test_request_id_echoed(http: httpx.Client) -> None:
    r = http.post("/v1/score", json={"source": "exact", "samples": []}, headers={"X-Request-ID": "run7-step3"})
    assert r.headers["x-request-id"] == "run7-step3" and r.json()["request_id"] == "run7-step3"
    r = http.post("/v1/score", json={"source": "exact", "samples": []}, headers={"X-Request-ID": "bad id;drop"})
    assert r.headers["x-request-id"] != "bad id;drop" and len(r.headers["x-request-id"]) == 32


def test_metrics_count_items_and_unscored(service: LocalService) -> None:
    with httpx.Client(base_url=service.url) as http:
        def value(text: str, prefix: str) -> float:
            return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))

        before = http.get("/metrics").text
        samples = [{"completion": "1"}, {"completion": "1", "reference": "1"}]
        http.post("/v1/score", json={"source": "exact", "samples": samples})
        after = http.get("/metrics").text
    items = 'referee_items_total{source="exact"}'
    assert value(after, items) - value(before, items) == 2
    key = 'referee_unscored_total{reason="no_reference",source="exact"}'
    assert value(after, key) - value(before, key) == 1
    assert 'referee_score_seconds_bucket{le="0.001",source="exact"}' in after
    with httpx.Client(base_url=service.url) as http:
        mix = [{"source": "exact"}, {"source": "wordcount"}]
        http.post("/v1/score", json={"source": mix, "samples": [{"completion": "1"}]})
        mixed = http.get("/metrics").text
    assert value(mixed, key) - value(after, key) == 1  # the component's failure is counted under its name
    assert value(mixed, 'referee_unscored_total{reason="component_unscored",source="mix"}') >= 1
    assert 'route="/v1/score"' in after


def test_health_and_docs(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json()["status"] == "ready"
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/ScoreRequest"
    assert {"ScoreRequest", "Sample", "ComponentSpec", "ScoreResponse"} <= set(spec["components"]["schemas"])
    assert http.get("/docs").status_code == 200
