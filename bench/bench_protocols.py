"""What each trainer protocol costs next to POST /v1/score, in one run against one service.

    .venv/bin/python bench/bench_protocols.py [--seconds 2] [--json out.json]

Source `exact` (a regex and a string compare), so the numbers measure each adapter's own overhead. Batch
protocols (OpenRLHF, verl's batch function) send 256 samples per request like /v1/score; per-sample protocols
(verl's compute_score, NeMo Gym's /verify, OpenAI's graders run) send one, sequentially (1 in flight) and
with 8 in flight. OpenAI graders: string_check and text_similarity (rouge_l, in the worker pool) per
sample, and a python grader (one sandbox run per sample). The service runs in a child process on loopback,
on the same machine as this client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from referee.service.local import LocalService
from referee.trainer import verl

BATCH = 256


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"prompt": f"What is {i} + {i}?", "completion": f"{i} + {i} = {2 * i}.\nThe answer is {2 * i}.",
             "reference": str(2 * i if i % 4 else i)} for i in range(n)]


async def _rate(call: Callable[[], Awaitable[int]], seconds: float, in_flight: int) -> float:
    """Items per second with `in_flight` concurrent callers; `call` returns how many items it scored."""
    done = 0
    await asyncio.gather(*(call() for _ in range(4)))  # warm-up: source instance, every pool worker, sandbox
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            n = await call()  # not `done += await call()`: that reads `done` before awaiting, losing updates
            done += n

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


async def main(seconds: float, only: str = "") -> dict[str, float]:
    rows = _rows(BATCH)
    results: dict[str, float] = {}
    with LocalService(sources=["exact"]) as svc:
        async with httpx.AsyncClient(base_url=svc.url, timeout=120) as http:

            async def post(path: str, body: Any, n: int) -> int:
                response = await http.post(path, json=body)
                response.raise_for_status()
                return n

            score_body = {"source": "exact", "samples": rows}
            openrlhf_body = {"query": [r["prompt"] + "\n" + r["completion"] for r in rows],
                             "prompts": [r["prompt"] + "\n" for r in rows], "labels": [r["reference"] for r in rows]}
            one = rows[1]
            verify_body = {"responses_create_params": {"input": one["prompt"]}, "expected_answer": one["reference"],
                           "referee": {"source": "exact"}, "response": {"output": [
                               {"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": one["completion"]}]}]}}

            def grader(spec: dict[str, Any]) -> dict[str, Any]:
                return {"grader": spec, "model_sample": one["completion"], "item": {"answer": one["reference"]}}

            string_check = grader({"type": "string_check", "name": "s", "operation": "like",
                                   "input": "{{ sample.output_text }}", "reference": "{{ item.answer }}"})
            rouge = grader({"type": "text_similarity", "name": "t", "evaluation_metric": "rouge_l",
                            "input": "{{ sample.output_text }}", "reference": "The answer is {{ item.answer }}."})
            python = grader({"type": "python", "name": "p", "source": "def grade(sample, item):\n"
                             "    return float(item['answer'] in sample['output_text'])\n"})

            cases: dict[str, tuple[Callable[[], Awaitable[int]], int]] = {
                "/v1/score batch 256": (lambda: post("/v1/score", score_body, BATCH), 1),
                "openrlhf get_reward batch 256": (lambda: post("/openrlhf/exact/get_reward", openrlhf_body, BATCH), 1),
                "verl compute_score_batch_async 256": (lambda: _verl_batch(svc.url, rows), 1),
                "/v1/score batch 1": (lambda: post("/v1/score", {"source": "exact", "samples": [one]}, 1), 1),
                "/v1/score batch 1, 8 in flight": (
                    lambda: post("/v1/score", {"source": "exact", "samples": [one]}, 1), 8),
                "verl compute_score_async": (lambda: _verl_one(svc.url, one), 1),
                "nemo_gym /verify": (lambda: post("/verify", verify_body, 1), 1),
                "nemo_gym /verify, 8 in flight": (lambda: post("/verify", verify_body, 1), 8),
                "graders run string_check": (lambda: post("/v1/fine_tuning/alpha/graders/run", string_check, 1), 1),
                "graders run string_check, 8 in flight": (
                    lambda: post("/v1/fine_tuning/alpha/graders/run", string_check, 1), 8),
                "graders run text_similarity rouge_l": (
                    lambda: post("/v1/fine_tuning/alpha/graders/run", rouge, 1), 1),
                "graders run python (sandbox)": (lambda: post("/v1/fine_tuning/alpha/graders/run", python, 1), 1),
                "graders run python (sandbox), 8 in flight": (
                    lambda: post("/v1/fine_tuning/alpha/graders/run", python, 1), 8),
            }
            for name, (call, in_flight) in cases.items():
                if only in name or name.startswith("/v1/score"):
                    results[name] = await _rate(call, seconds, in_flight)
            await verl.aclose_clients()
    return results


async def _verl_batch(url: str, rows: list[dict[str, Any]]) -> int:
    scores = await verl.compute_score_batch_async(["d"] * len(rows), [r["completion"] for r in rows],
                                                  [r["reference"] for r in rows], None, url=url, source="exact")
    return len(scores)


async def _verl_one(url: str, row: dict[str, Any]) -> int:
    await verl.compute_score_async("d", row["completion"], row["reference"], None, url=url, source="exact")
    return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per case")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this (and /v1/score)")
    args = parser.parse_args()
    rates = asyncio.run(main(args.seconds, args.only))
    print("| case | items/s | vs /v1/score (same batch size and concurrency) |\n|---|---:|---:|")
    for name, rate in rates.items():
        base = rates["/v1/score batch 256" if "256" in name else
                     "/v1/score batch 1, 8 in flight" if "8 in flight" in name else "/v1/score batch 1"]
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rates, f, indent=2)
