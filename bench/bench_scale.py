"""`referee serve --ray` against the single-process service on this machine, side by side in one run.

    .venv/bin/python bench/bench_scale.py [--seconds 3] [--rounds 3] [--json out.json]

Throughput: items/s of `code` (a program against ten asserts, batches of 64) and `math` (boxed answers in
several notations, batches of 256), 4 requests in flight, through: the single-process service (its worker pool
and sandbox one slot per core: 2 here), Ray Serve with 1 replica of each source, and with 2 (each replica one
worker, one sandbox slot: a replica per core), in interleaved rounds (the median is reported). Overhead: the
latency Ray adds to one request (1 in flight): `GET /healthz` (the Serve HTTP proxy in front of the ingress
only), and the trivial `exact` source at batch 1, 64 and 1,024 (plus the ingress's calls to the source's
replica through a DeploymentHandle: one per chunk of 64).

Ray runs as one local node on loopback with 2 logical CPUs (replicas reserve 0.1 CPU each: the measure is
what they do, not Ray's bookkeeping). Two cores cannot show scaling across machines; docs/scale.md holds the
capacity model built on these numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from typing import Any

import httpx
from bench_service import measure  # bench/ is the script's folder, first on sys.path

from referee.service import AsyncRewardClient
from referee.service.local import LocalService, free_port
from referee.service.settings import load_settings

SOURCES = ["code", "exact", "math"]
TESTS = "\n".join(f"assert add({i}, {i + 1}) == {2 * i + 1}" for i in range(10))
CODE = [{"completion": "def add(a, b):\n    return a + b" if i % 4 else "def add(a, b):\n    return a - b",
         "reference": TESTS} for i in range(64)]
MATH = [{"completion": c, "reference": r} for c, r in [
    ("So the answer is \\boxed{\\frac{3}{4}}.", "0.75"), ("The answer is $x = 2\\sqrt{2}$", "\\sqrt{8}"),
    ("#### 1,234", "1234"), ("\\boxed{(1, 2]}", "(1,2]"), ("Final Answer: 42", "41"),
    ("\\boxed{x^2 + 2x + 1}", "(x+1)^2"), ("\\boxed{\\{1, 2, 3\\}}", "\\{3,2,1\\}"), ("\\boxed{3.14}", "\\pi"),
] * 32]
EXACT = [{"completion": f"The answer is {i}.", "reference": str(i)} for i in range(1024)]


async def throughput(url: str, source: str, rows: list[dict[str, Any]], seconds: float) -> float:
    async with AsyncRewardClient(url, max_batch=4096, timeout=300) as client:
        first = await client.score(source, rows)
        assert all(s.value is not None for s in first), [s for s in first if s.value is None][:1]
        count, elapsed, _ = await measure(lambda: client.score(source, rows), seconds, 4)
    return count * len(rows) / elapsed


async def latency_ms(url: str, rows: list[dict[str, Any]] | None, seconds: float) -> float:
    """p50 of one request at a time: `exact` on `rows`, or `GET /healthz` when None."""
    async with AsyncRewardClient(url, max_batch=4096) as client, httpx.AsyncClient(base_url=url) as http:
        async def call() -> None:
            if rows is None:
                (await http.get("/healthz")).raise_for_status()
            else:
                await client.score("exact", rows)

        await call()
        _, _, lat = await measure(call, seconds, 1)
    return statistics.median(lat) * 1e3


def ray_settings(replicas: int) -> Any:
    def layout(chunk: int) -> dict[str, Any]:
        return {"num_replicas": replicas, "pool_workers": 1, "ray_actor_options": {"num_cpus": 0.1},
                "chunk_size": chunk}

    return load_settings(None, sources=SOURCES, ray={
        "ingress_actor_options": {"num_cpus": 0.1},
        "deployments": {"code": layout(8), "math": layout(64),
                        "exact": {"pool_workers": 1, "ray_actor_options": {"num_cpus": 0.1}}}})


async def main(seconds: float, rounds: int, throughput_optimized: bool) -> dict[str, Any]:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on loopback
    if throughput_optimized:  # Ray Serve's own switch: user code and router on the replica's main loop, and more
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    import ray
    from ray import serve

    from referee.service.scale import build_app

    rates: dict[str, dict[str, list[float]]] = {"code": {}, "math": {}}
    overhead = []
    with LocalService(sources=SOURCES) as single:
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="warning",
                 log_to_driver=False)
        try:
            port = free_port()
            serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
            # Both layouts stay deployed (as two applications) so that the rounds interleave them with the single
            # process: on a shared machine the load changes from minute to minute.
            targets = {"single": single.url}
            for replicas in (1, 2):
                serve.run(build_app(ray_settings(replicas)), name=f"referee-{replicas}", route_prefix=f"/r{replicas}")
                targets[f"ray{replicas}"] = f"http://127.0.0.1:{port}/r{replicas}"
            for r in range(rounds):
                for source, rows in (("code", CODE), ("math", MATH)):
                    for label, url in targets.items():
                        rate = await throughput(url, source, rows, seconds)
                        rates[source].setdefault(label, []).append(rate)
                        print(f"round {r + 1} {source} {label}: {rate:.0f} items/s", flush=True)
            cells = [("GET /healthz (no source)", None), *((f"exact, batch {n}", EXACT[:n]) for n in (1, 64, 1024))]
            for label, batch in cells:
                here = await latency_ms(targets["single"], batch, seconds)
                there = await latency_ms(targets["ray1"], batch, seconds)
                overhead.append({"request": label, "single_p50_ms": here, "ray_p50_ms": there,
                                 "added_ms": there - here})
                print(f"{label}: single p50 {here:7.2f} ms, ray p50 {there:7.2f} ms, added {there - here:6.2f} ms",
                      flush=True)
        finally:
            serve.shutdown()
            ray.shutdown()
    summary = {source: {label: statistics.median(xs) for label, xs in per.items()} for source, per in rates.items()}
    for source, m in summary.items():
        print(f"{source} (median of {rounds} rounds): single {m['single']:.0f}/s, ray 1 replica {m['ray1']:.0f}/s, "
              f"2 replicas {m['ray2']:.0f}/s (2 / 1 replicas: {m['ray2'] / m['ray1']:.2f}x)")
    return {"rates": rates, "median": summary, "overhead": overhead}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over single / 1 replica / 2 replicas")
    parser.add_argument("--throughput-optimized", action="store_true",
                        help="start Ray with RAY_SERVE_THROUGHPUT_OPTIMIZED=1")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(main(args.seconds, args.rounds, args.throughput_optimized))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
