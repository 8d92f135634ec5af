"""`referee serve --ray` on a real two-node Ray cluster (both nodes on loopback, one CPU each): scores spread over
replicas on both nodes equal the single-process service's, a replica killed under load loses nothing that was
acknowledged and turns nothing into 0, and the clients and protocol routes work against it unchanged.

One cluster and one deployment serve the whole module (starting them is most of its time); the tests that kill
a replica, then a whole node, run last.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import yaml

from referee.service.client import RewardClient
from referee.service.local import LocalService
from tests.conftest import postgres_server

pytestmark = pytest.mark.ray

APP = "referee"
SOURCES = ["code", "exact", "judge", "math", "testplugin-batch"]
CHUNK = 4

ADD_TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4"
CODE = [
    {"completion": "def add(a, b):\n    return a + b", "reference": ADD_TESTS},
    {"completion": "def add(a, b):\n    return a - b", "reference": ADD_TESTS},
    {"completion": "def add(a, b):\n    return 3", "reference": ADD_TESTS},
    {"completion": "def add(a, b) return a + b", "reference": ADD_TESTS},
    {"completion": "import time\n\ndef add(a, b):\n    time.sleep(0.1)\n    return a + b", "reference": ADD_TESTS},
    {"completion": "def add(a, b):\n    return a + b"},
]
MATH = [
    {"completion": "So the answer is \\boxed{4}.", "reference": "4"},
    {"completion": "The answer is \\boxed{5}", "reference": "4"},
    {"completion": "\\boxed{\\frac{1}{2}}", "reference": "0.5"},
    {"completion": "#### 12", "reference": "12"},
    {"completion": "I do not know", "reference": "7"},
    {"completion": "\\boxed{3}"},
]
EXACT = [
    {"completion": "The answer is Paris", "reference": "paris"},
    {"completion": "The answer is Rome", "reference": "Paris"},
    {"completion": "Paris"},
]
MIX = [{"source": "math", "weight": 1.0}, {"source": "exact", "weight": 0.5}]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two Ray nodes on 127.0.0.1 (one CPU each), a `ray.cluster_utils.Cluster`; this process is a driver."""
    # Ray otherwise resolves 127.0.0.1 to the host's outward address; keep every node and driver on loopback.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                          "node_ip_address": "127.0.0.1"})
    try:
        nodes.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        ray.init(address=nodes.address, logging_level="warning", log_to_driver=False)
        yield nodes
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        nodes.shutdown()
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)


@pytest.fixture(scope="module")
def audit_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def ray_service(cluster: Any, audit_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """`referee serve --ray ADDRESS`: two replicas of each source, one per node, sharing the PostgreSQL audit log."""
    spread = {"num_replicas": 2, "max_replicas_per_node": 1, "ray_actor_options": {"num_cpus": 0.1},
              "chunk_size": CHUNK}
    settings = {
        "sources": SOURCES, "audit_db": audit_url,
        "ray": {"ingress_actor_options": {"num_cpus": 0.1},
                "deployments": {"code": spread, "math": spread, "exact": spread,
                                "judge": {"ray_actor_options": {"num_cpus": 0.1}},
                                "testplugin-batch": {"ray_actor_options": {"num_cpus": 0.1},
                                                     "batch": {"max_batch_size": 64, "batch_wait_timeout_s": 0.5}}}},
    }
    path = tmp_path_factory.mktemp("ray") / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    with LocalService(extra_args=["--ray", cluster.address, "--settings", str(path)], startup_timeout=300) as svc:
        yield svc


def replicas(source: str, nodes: int = 2) -> dict[str, dict[str, Any]]:
    """The status of each replica of `source` by node id (asked until every node has answered)."""
    from ray import serve

    handle = serve.get_deployment_handle(f"source-{source}", app_name=APP)
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        status = handle.status.remote().result(timeout_s=60)
        seen[status["node_id"]] = status
        if len(seen) == nodes:
            return seen
    raise AssertionError(f"only {len(seen)} of {nodes} nodes answered for source {source!r}")


def post(url: str, source: Any, samples: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return httpx.post(url + "/v1/score", json={"source": source, "samples": samples, **extra}, timeout=120)


def comparable(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scores without the run time of code (`details.seconds`), the one field that differs between two runs."""
    def clean(score: dict[str, Any]) -> dict[str, Any]:
        details = {k: v for k, v in score["details"].items() if k != "seconds"}
        components = [clean(c) for c in score["components"]] if score.get("components") else score.get("components")
        return {**score, "details": details, "components": components}

    return [clean(s) for s in scores]


def test_batch_spread_over_both_nodes_scores_as_the_single_process_service(
        ray_service: LocalService, service: LocalService) -> None:
    cases = [("code", CODE * 4), ("math", MATH * 4), ("exact", EXACT * 4), (MIX, MATH + EXACT)]
    before = {name: replicas(name) for name in ("code", "math", "exact")}
    assert all(len(nodes) == 2 for nodes in before.values())
    for source, samples in cases:
        local = post(service.url, source, samples)
        spread = post(ray_service.url, source, samples)
        assert local.status_code == spread.status_code == 200, spread.text
        assert comparable(spread.json()["scores"]) == comparable(local.json()["scores"]), source
    after = {name: replicas(name) for name in ("code", "math", "exact")}
    for name, nodes in after.items():
        worked = {node: status["chunks"] - before[name][node]["chunks"] for node, status in nodes.items()}
        assert all(n > 0 for n in worked.values()), f"{name}: chunks per node {worked}"


def test_the_ingress_refuses_bad_requests_as_the_single_process_service(ray_service: LocalService,
                                                                         service: LocalService) -> None:
    unknown = post(ray_service.url, "mathh", MATH)
    assert unknown.status_code == 404 and "available: code, exact, judge, math" in unknown.json()["detail"]
    bad = [("code", CODE, {"isolation": "rlimits"}), ("math", MATH, {"tolerance": "lots"}),
           ("judge", EXACT, {"constitution": "no-such-constitution"}), (MIX, MATH, {"on_unscored": "maybe"})]
    for source, samples, options in bad:
        local = post(service.url, source, samples, options=options)
        spread = post(ray_service.url, source, samples, options=options)
        assert spread.status_code == 422, spread.text
        assert (spread.status_code, spread.json()) == (local.status_code, local.json()), source
    ready = httpx.get(ray_service.url + "/readyz").json()
    assert ready["status"] == "ready" and sorted(ready["sources"]) == SOURCES


def test_a_source_that_opts_in_batches_concurrent_requests(ray_service: LocalService) -> None:
    # One replica, waiting up to 0.5 s for more: eight one-sample requests sent together meet in fewer calls.
    def one(i: int) -> httpx.Response:
        return post(ray_service.url, "testplugin-batch", [{"completion": str(i)}])

    responses: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda i=i: responses.append(one(i))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scores = [r.json()["scores"][0] for r in responses]
    assert [s["value"] for s in scores] == [1.0] * 8
    assert max(s["details"]["batch"] for s in scores) > 1, [s["details"] for s in scores]


def test_clients_and_protocol_routes_work_unchanged(ray_service: LocalService, service: LocalService) -> None:
    from referee.trainer.reward_fn import ServiceReward
    from referee.trainer.verl import close_clients, compute_score_batch

    url = ray_service.url
    with RewardClient(url, max_batch=5) as client:  # several requests, answered in order
        assert [s.value for s in client.score("math", MATH * 2)] == [1.0, 0.0, 1.0, 1.0, 0.0, None] * 2
        assert {i.name for i in client.sources()} == set(SOURCES)

    reward = ServiceReward(url, source="math")
    values = asyncio.run(reward(prompts=["2+2?"] * 3, completions=["\\boxed{4}", "\\boxed{5}", "4"],
                                reference=["4", "4", None]))
    assert values == [1.0, 0.0, None]

    try:
        results = compute_score_batch(["math", "math"], ["\\boxed{42}", "\\boxed{41}"], ["42", "42"], url=url,
                                      source="math")
    finally:
        close_clients()
    assert [r["score"] for r in results] == [1.0, 0.0]

    prompt = "<|im_start|>user\nWhat is 6 times 7?<|im_end|>\n<|im_start|>assistant\n"
    body = {"query": [prompt + "\\boxed{42}<|im_end|>", prompt + "\\boxed{41}"], "prompts": [prompt] * 2,
            "labels": ["42", "42"]}
    openrlhf = requests.post(f"{url}/openrlhf/math/get_reward", json=body, timeout=120).json()
    assert openrlhf["rewards"] == [1.0, 0.0]

    pairs = [{"prompt": "2+2?", "a": "4", "b": "four"}, {"prompt": "2+2?", "a": "It is 4.", "b": "4"}]
    compared = [httpx.post(f"{u}/v1/compare", json={"source": "testplugin-batch", "pairs": pairs}, timeout=120)
                for u in (url, service.url)]  # `compare`, forwarded to the source's replica
    assert compared[0].status_code == 200, compared[0].text
    assert compared[0].json()["comparisons"] == compared[1].json()["comparisons"]
    assert [c["p_a_better"] for c in compared[0].json()["comparisons"]] == [0.0, 1.0]

    grader = {"type": "python", "name": "py", "image_tag": "2025-05-08",
              "source": "def grade(sample, item) -> float:\n    return float(sample['output_text'] == 'Paris')\n"}
    graded = httpx.post(f"{url}/v1/fine_tuning/alpha/graders/run", timeout=120,
                        json={"grader": grader, "model_sample": "Paris", "item": {}})  # the code deployment runs it
    assert graded.status_code == 200 and graded.json()["reward"] == 1.0, graded.text

    row = {"responses_create_params": {"input": [{"role": "user", "content": "6 x 7?"}]}, "expected_answer": "42",
           "response": {"output": [{"type": "message", "role": "assistant",
                                    "content": [{"type": "output_text", "text": "\\boxed{42}"}]}]}}
    nemo = httpx.post(f"{url}/nemo_gym/math/verify", content=json.dumps(row),
                      headers={"Content-Type": "application/json"}, timeout=120)
    assert nemo.status_code == 200, nemo.text
    assert nemo.json()["reward"] == 1.0


def test_a_replica_killed_under_load_loses_nothing_acknowledged(ray_service: LocalService, service: LocalService,
                                                                audit_url: str) -> None:
    victim = next(s for node, s in replicas("code").items() if node != _head_node())  # the worker node's
    acked, failed = under_load(ray_service, lambda: os.kill(victim["pid"], signal.SIGKILL))
    assert not failed, f"requests failed after the kill: {failed}"
    check_acknowledged(acked, service, audit_url)


def test_a_node_that_dies_under_load_loses_nothing_acknowledged(ray_service: LocalService, service: LocalService,
                                                                audit_url: str, cluster: Any) -> None:
    # The whole worker node goes (raylet and every process on it), whatever ran there, the ingress perhaps too:
    # requests it held were never acknowledged and may fail; every acknowledged one must be right and recorded.
    worker = next(n for n in cluster.worker_nodes)
    acked, _ = under_load(ray_service, lambda: cluster.remove_node(worker, allow_graceful=False))
    check_acknowledged(acked, service, audit_url)


SLOW_CODE = CODE[:5]  # a chunk holds a program that sleeps, so the fault finds chunks in flight


def under_load(svc: LocalService, fault: Callable[[], None]) -> tuple[dict[str, list[dict[str, Any]]], list[Any]]:
    """Three clients post code batches; `fault` strikes after 3 answers; the load goes on until 9 more."""
    acked: dict[str, list[dict[str, Any]]] = {}
    failed: list[Any] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=svc.url, timeout=120) as http:
            for n in range(1000):
                if stop.is_set():
                    return
                try:
                    r = http.post("/v1/score", json={"source": "code", "samples": SLOW_CODE},
                                  headers={"X-Request-ID": f"load-{uuid.uuid4().hex[:8]}-{worker}-{n}"})
                except httpx.TransportError as exc:
                    failed.append(type(exc).__name__)
                    continue
                if r.status_code == 200:
                    acked[r.json()["request_id"]] = r.json()["scores"]
                else:
                    failed.append(r.status_code)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        _wait(lambda: len(acked) >= 3, "the load never got going")
        fault()
        struck_at = len(acked)
        _wait(lambda: len(acked) >= struck_at + 9, "the service stopped answering after the fault")
    finally:
        stop.set()
        for t in threads:
            t.join()
    return acked, failed


def check_acknowledged(acked: dict[str, list[dict[str, Any]]], service: LocalService, audit_url: str) -> None:
    """Every acknowledged value is the one the single process earns (at worst unscored with the reason, never a
    made-up 0), and every acknowledged item is in the shared audit log as answered."""
    import psycopg

    earned = [s["value"] for s in post(service.url, "code", SLOW_CODE).json()["scores"]]
    for rid, scores in acked.items():
        for score, want in zip(scores, earned, strict=True):
            assert score["value"] == want or (score["value"] is None and score["reason"] == "worker_error"), \
                (rid, score)
    with psycopg.connect(audit_url) as db:
        rows = db.execute("SELECT request_id, item, value FROM audit WHERE request_id = ANY(%s)",
                          [list(acked)]).fetchall()
    recorded = {(rid, item): value for rid, item, value in rows}
    missing = [(rid, i) for rid, scores in acked.items() for i, s in enumerate(scores)
               if (rid, i) not in recorded or recorded[(rid, i)] != s["value"]]
    assert not missing, f"{len(missing)} acknowledged items are not in the audit log as answered: {missing[:5]}"


def _head_node() -> str:
    import ray

    return next(n["NodeID"] for n in ray.nodes() if "node:__internal_head__" in n["Resources"])


def _wait(condition: Any, message: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)
