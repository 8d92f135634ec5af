"""Under overload the service refuses quickly with 503 + Retry-After instead of letting requests time out."""

from __future__ import annotations

import threading
import time

import httpx

from referee.service import RewardClient
from referee.service.local import LocalService


def test_excess_is_shed_with_retry_after_and_the_client_gets_through() -> None:
    env = {"REFEREE_MAX_INFLIGHT_ITEMS": "2", "REFEREE_QUEUE_TIMEOUT_S": "0.2"}
    slow = {"source": "testplugin-sleep", "options": {"seconds": 3}, "samples": [{"completion": "a"}] * 2}
    with LocalService(env=env) as svc:
        holder = threading.Thread(target=lambda: httpx.post(svc.url + "/v1/score", json=slow, timeout=30))
        holder.start()
        time.sleep(0.5)  # the slow request now holds the whole budget
        start = time.monotonic()
        r = httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": [{"completion": "1"}]})
        refused_after = time.monotonic() - start
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1" and "at capacity" in r.json()["detail"]
        assert refused_after < 2.5  # refused promptly, not after the slow request finished
        with RewardClient(svc.url, retries=8, backoff=0.1) as client:  # honours Retry-After, then succeeds
            assert client.score("exact", [{"completion": "1", "reference": "1"}])[0].value == 1.0
        holder.join()
        metrics = httpx.get(svc.url + "/metrics").text
    assert any(line.startswith("referee_shed_items_total") and float(line.split()[-1]) >= 1
               for line in metrics.splitlines())


def test_one_request_larger_than_the_budget_still_runs_alone() -> None:
    with LocalService(env={"REFEREE_MAX_INFLIGHT_ITEMS": "2"}) as svc:
        r = httpx.post(svc.url + "/v1/score", json={"source": "exact", "samples": [{"completion": "1"}] * 10})
    assert r.status_code == 200 and len(r.json()["scores"]) == 10
