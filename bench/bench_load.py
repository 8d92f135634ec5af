"""Load test: the service under rising concurrency, driven from this (second) process on loopback.

    .venv/bin/python bench/bench_load.py [--seconds 5] [--levels 1,2,4,8,16,32] [--batch 16]

Source `math` on answers that need sympy (no fast path), so the 2 cores saturate. Each level keeps
`concurrency` requests in flight for `--seconds`, then stops: traffic is bounded in count and time and
goes only to 127.0.0.1. Two service configurations, side by side:
- `default`: the shipped admission limit (16,384 samples in flight);
- `shedding`: `max_inflight_items=32`, `queue_timeout_s=0.1`: past that the service answers 503 with
  Retry-After at once instead of queueing.
Per level: items/s scored, p50 / p99 latency of answered requests, 503s, and errors (anything else:
5xx, transport errors, timeouts). No client retries here: every refusal is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx

from referee.service.local import LocalService

# (gold, response) pairs that go through sympy: symbolic forms, not plain numbers.
_CASES = [
    ("\\frac{\\sqrt{2}}{2}", "\\boxed{\\frac{1}{\\sqrt{2}}}"),
    ("(x+1)^2", "\\boxed{x^2+2x+1}"),
    ("\\sin^2 x + \\cos^2 x", "\\boxed{1}"),
    ("[1, 3)", "The answer is \\boxed{[1,3)}"),
    ("\\frac{\\pi}{3}", "\\boxed{60^\\circ}"),
    ("2\\sqrt{3}", "\\boxed{\\sqrt{12}}"),
    ("x^2 - 1", "\\boxed{(x-1)(x+1)}"),
    ("\\frac{3}{4}", "\\boxed{\\frac{6}{8}}"),
]


def _body(batch: int, salt: int) -> dict[str, Any]:
    samples = []
    for i in range(batch):
        gold, response = _CASES[(salt + i) % len(_CASES)]
        samples.append({"prompt": f"problem {salt}-{i}", "completion": f"Working {salt}-{i}.\n{response}",
                        "reference": gold})
    return {"source": "math", "samples": samples}


async def _level(url: str, concurrency: int, seconds: float, batch: int) -> dict[str, Any]:
    latencies: list[float] = []
    counts = {"ok": 0, "shed": 0, "errors": 0, "items": 0}
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.perf_counter() < deadline:
                n += 1
                t = time.perf_counter()
                try:
                    r = await http.post("/v1/score", json=_body(batch, w * 100_000 + n))
                except httpx.TransportError:
                    counts["errors"] += 1
                    continue
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                    counts["ok"] += 1
                    counts["items"] += batch
                elif r.status_code == 503 and "retry-after" in r.headers:
                    counts["shed"] += 1
                    await asyncio.sleep(0.05)
                else:
                    counts["errors"] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
    return {"concurrency": concurrency, "items_s": counts["items"] / elapsed, "p50_ms": q[49] * 1e3 if q else None,
            "p99_ms": q[98] * 1e3 if q else None, "answered": counts["ok"], "shed_503": counts["shed"],
            "errors": counts["errors"]}


async def main(seconds: float, levels: list[int], batch: int) -> dict[str, list[dict[str, Any]]]:
    configs = {"default": {}, "shedding": {"REFEREE_MAX_INFLIGHT_ITEMS": "32", "REFEREE_QUEUE_TIMEOUT_S": "0.1"}}
    results: dict[str, list[dict[str, Any]]] = {}
    for name, env in configs.items():
        with LocalService(sources=["math"], env=env) as svc:
            await _level(svc.url, 2, 1.0, batch)  # warm the worker pool
            results[name] = []
            for c in levels:
                row = await _level(svc.url, c, seconds, batch)
                results[name].append(row)
                print(f"{name:<9} concurrency {c:>3}: {row['items_s']:7.0f} items/s  p50 {row['p50_ms'] or 0:8.1f} ms  "
                      f"p99 {row['p99_ms'] or 0:8.1f} ms  answered {row['answered']:>5}  503 {row['shed_503']:>5}  "
                      f"errors {row['errors']}", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each concurrency level")
    parser.add_argument("--levels", default="1,2,4,8,16,32", help="comma-separated concurrency levels")
    parser.add_argument("--batch", type=int, default=16, help="samples per request")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    out = asyncio.run(main(args.seconds, [int(x) for x in args.levels.split(",")], args.batch))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
