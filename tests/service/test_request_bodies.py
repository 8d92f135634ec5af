"""What happens to a request body before any route sees it: admission by bytes (503 before parsing), the size
limit (413), the API key (401 before reading), and text that is not Unicode (422, on every route)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from referee.service import load_settings
from referee.service.local import LocalService
from referee.service.surrogates import lone_surrogate
from referee.verifiers import ConfigError
from tests.conftest import API_KEY


@pytest.fixture(scope="module")
def byte_budget() -> Iterator[LocalService]:
    env = {"REFEREE_MAX_BODY_BYTES": "20000", "REFEREE_MAX_INFLIGHT_BYTES": "30000",
           "REFEREE_QUEUE_TIMEOUT_S": "0.2"}
    with LocalService(env=env) as svc:
        yield svc


def test_bodies_are_admitted_by_bytes_before_they_are_parsed(byte_budget: LocalService) -> None:
    url = byte_budget.url + "/v1/score"
    hold = json.dumps({"source": "testplugin-sleep", "options": {"seconds": 3},
                       "samples": [{"prompt": "p" * 15_000, "completion": "a"}]}).encode()
    not_json = b"{" + b"x" * 16_000  # would be a 422 if it were read and parsed

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(16):
            yield b"x" * 1_000

    holder = threading.Thread(target=lambda: httpx.post(url, content=hold, timeout=30))
    holder.start()
    try:
        time.sleep(0.7)  # the slow request now holds 15 kB of the 30 kB budget
        refused = httpx.post(url, content=not_json, timeout=30)
        streamed = httpx.post(url, content=chunked(), timeout=30)
        small = httpx.post(url, json={"source": "exact", "samples": [{"completion": "1", "reference": "1"}]})
    finally:
        holder.join()
    for r in (refused, streamed):
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1" and "bytes of request bodies in flight" in r.json()["detail"]
        assert "max_inflight_bytes" in r.json()["detail"]
    assert small.status_code == 200  # room was left for it
    assert httpx.post(url, content=not_json, timeout=30).status_code == 422  # admitted once there is room
    too_large = httpx.post(url, content=b"x" * 25_000, timeout=30)
    assert too_large.status_code == 413 and "20000 bytes" in too_large.json()["detail"]


def test_the_byte_budget_must_hold_one_largest_body() -> None:
    with pytest.raises(ConfigError, match="max_inflight_bytes=1000000 is smaller than max_body_bytes=2000000"):
        load_settings(max_body_bytes=2_000_000, max_inflight_bytes=1_000_000)


def test_an_unauthenticated_body_is_refused_before_it_is_read(keyed_service: LocalService) -> None:
    # Announce a 1 MB body and send one byte of it: the answer must come without the rest being read.
    host, port = keyed_service.url.removeprefix("http://").split(":")
    for auth in (b"", b"Authorization: Bearer wrong\r\n", b"Authorization: Bearer\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /v1/compare HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
                         + b"Content-Length: 1000000\r\n\r\n{")
            answer = conn.recv(65536)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"www-authenticate: bearer" in answer.lower()
    ok = httpx.post(keyed_service.url + "/v1/compare", content=b"{not json",
                    headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 422


LONE = [b'"\\ud800"', b'"\\udfff"', b'"a\\uD83Dz"', b'"\\ud83d\\u0041"', b'"\\\\\\udc00"']
FINE = [b'"\\ud83d\\ude00"', b'"\\\\ud800"', b'"\\u00e9"', b'"\\\\\\\\ud800"', b'"plain"']


@pytest.mark.parametrize("text", LONE)
def test_lone_surrogates_are_found(text: bytes) -> None:
    assert lone_surrogate(b'{"a": ' + text + b"}") is not None
    with pytest.raises(UnicodeEncodeError):
        json.loads(text).encode()  # what a route would have met


@pytest.mark.parametrize("text", FINE)
def test_pairs_and_escaped_backslashes_are_text(text: bytes) -> None:
    assert lone_surrogate(b'{"a": ' + text + b"}") is None
    json.loads(text).encode()


def _post_routes(service: LocalService) -> list[str]:
    paths = httpx.get(service.url + "/openapi.json").json()["paths"]
    return [p.replace("{source}", "exact") for p, ops in paths.items() if "post" in ops]


def test_every_route_answers_4xx_to_a_lone_surrogate(service: LocalService) -> None:
    routes = _post_routes(service)
    assert {"/seed_session", "/v1/compare", "/v1/score", "/verify"} <= set(routes)
    bodies = {
        "/seed_session": b'{"resources_session_id": "\\ud800"}',
        "/v1/compare": b'{"pairs": [{"prompt": "\\ud800", "a": "x", "b": "y"}]}',
        "/v1/score": b'{"source": "exact", "samples": [{"completion": "\\udc00"}]}',
    }
    for route in routes:
        body = bodies.get(route, b'{"query": ["\\ud800"], "model_sample": "\\ud800", "x": "\\ud800"}')
        r = httpx.post(service.url + route, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (route, r.status_code, r.text)
        assert "lone UTF-16 surrogate" in r.json()["detail"], route
    pair = httpx.post(service.url + "/seed_session", content=b'{"resources_session_id": "\\ud83d\\ude00"}')
    assert pair.status_code == 200 and pair.json() == {"resources_session_id": "\U0001f600"}


def test_mix_weights_and_their_total_must_be_finite(service: LocalService) -> None:
    huge = [{"source": "exact", "weight": 1e308}, {"source": "wordcount", "weight": 1e308}]
    r = httpx.post(service.url + "/v1/score", json={"source": huge, "samples": [{"completion": "1", "reference": "1"}]})
    assert r.status_code == 422, r.text
    assert "source" in r.json()["detail"] and "weights" in r.json()["detail"] and "finite" in r.json()["detail"]
    r = httpx.post(service.url + "/openrlhf/exact:1e308,wordcount:1e308/get_reward", json={"query": ["1"]})
    assert r.status_code == 422 and "weights" in r.json()["detail"]
    # negative weights are penalties: allowed, as long as everything stays finite
    penalty = [{"source": "exact", "weight": 1.0}, {"source": "wordcount", "weight": -0.5, "options": {"target": 1}}]
    one = [{"completion": "1", "reference": "1"}]
    r = httpx.post(service.url + "/v1/score", json={"source": penalty, "samples": one})
    assert r.status_code == 200 and r.json()["scores"][0]["value"] == 0.5
