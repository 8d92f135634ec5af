"""Throughput and latency of POST /v1/score against calling the same source in-process, in one run.

    .venv/bin/python bench/bench_service.py [--seconds 2] [--json out.json]

Source: `exact` (trivial: a regex and a string compare), so the numbers measure referee's own overhead.
In-process: build `Sample`s from plain dicts and `await score_batch(source, samples)`, one batch at a time
(what a trainer would do without the service). HTTP: the real service under uvicorn in a child process on
loopback, called with `AsyncRewardClient` (JSON out, JSON in, `Score` objects back), with 1 request in
flight (latency) and with 4 in flight (throughput). Both sides run on the same 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from referee.service import AsyncRewardClient
from referee.service.local import LocalService
from referee.verifiers import Registry, Runtime, Sample, score_batch

BATCHES = (1, 4, 16, 64, 256, 1024)


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"prompt": f"What is {i} + {i}?",
             "completion": f"We add them: {i} + {i} = {2 * i}.\nThe answer is {2 * i}.",
             "reference": str(2 * i if i % 4 else i)} for i in range(n)]


async def measure(call: Callable[[], Awaitable[Any]], seconds: float,
                  in_flight: int) -> tuple[int, float, list[float]]:
    """Calls `call` from `in_flight` concurrent loops for `seconds`: (calls made, seconds taken, each latency)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return len(latencies), time.perf_counter() - start, latencies


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) >= 2 else xs[0]


async def main(seconds: float, http_workers: int) -> list[dict[str, Any]]:
    results = []
    with LocalService(sources=["exact"], extra_args=["--http-workers", str(http_workers)]) as svc:
        async with Runtime() as rt, AsyncRewardClient(svc.url, max_batch=4096, concurrency=8) as client:
            source = Registry().create("exact", {}, rt)
            for n in BATCHES:
                rows = _rows(n)

                async def in_process(rows: list[dict[str, Any]] = rows) -> None:
                    await score_batch(source, [Sample(**r) for r in rows])

                async def over_http(rows: list[dict[str, Any]] = rows) -> None:
                    await client.score("exact", rows)

                await over_http()  # warm the connection
                row: dict[str, Any] = {"batch": n}
                cells = (("inproc", in_process, 1), ("http1", over_http, 1), ("http4", over_http, 4))
                for label, call, flight in cells:
                    count, elapsed, lat = await measure(call, seconds, flight)
                    row[f"{label}_items_s"] = count * n / elapsed
                    row[f"{label}_p50_ms"] = _pct(lat, 50) * 1e3
                    row[f"{label}_p99_ms"] = _pct(lat, 99) * 1e3
                row["http1_over_inproc"] = row["inproc_items_s"] / row["http1_items_s"]
                row["http4_over_inproc"] = row["inproc_items_s"] / row["http4_items_s"]
                results.append(row)
                print(f"batch {n:>5}: in-process {row['inproc_items_s']:>9.0f}/s  "
                      f"http(1 in flight) {row['http1_items_s']:>9.0f}/s p50 {row['http1_p50_ms']:6.2f} ms  "
                      f"http(4 in flight) {row['http4_items_s']:>9.0f}/s  "
                      f"time ratio http/in-process: {row['http1_over_inproc']:.2f} (1), "
                      f"{row['http4_over_inproc']:.2f} (4)",
                      flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell")
    parser.add_argument("--http-workers", type=int, default=1, help="uvicorn worker processes of the service")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    out = asyncio.run(main(args.seconds, args.http_workers))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
