"""Accuracy, false-positive rate and throughput of the `math` source and of Math-Verify, side by side.

    .venv/bin/python bench/bench_math.py                  # 5 rounds, 2 processes each
    .venv/bin/python bench/bench_math.py --show-errors    # also list every row either one gets wrong
    .venv/bin/python bench/bench_math.py --baseline-src /tmp/referee-base/src   # + an older referee, same run

Cases: labelled rows `{id, form, gold, completion, label}` of realistic completions across answer forms
(label 1: a careful grader credits it; 0: not), in two files: `bench/data/math_cases.jsonl`, written
while the verifier was developed, and `bench/data/math_holdout.jsonl`, written afterwards and measured
once before any fix (see docs/benchmarks.md). The same rows, the same number of processes for both:

- ours: the `math` source built with `Registry().create("math", {}, runtime)` and called with
  `score_batch` on the whole set, on a `Runtime(workers=N)` that preloads what the service preloads. Plain
  numbers are checked in the calling
  process; everything else in the N workers under the default deadline.
- Math-Verify (installed from PyPI, in the `dev` extra), as its README recommends: `gold = parse(gold)`,
  `answer = parse(completion)`, `verify(gold, answer)`, default extraction configs. The gold is written
  inside `$...$` because its README says LaTeX "must be placed in latex environment to be parsable"
  (`--mv-bare-gold` passes it bare instead). Run in a `multiprocessing.Pool(N)` with `Pool.map`.

With `--baseline-src`, the `math` source of another checkout (its `src/` folder, e.g. from `git archive <commit>`)
is run the same way in a child process in every round, for a before/after comparison on the same machine.

Each round starts fresh processes for both, warms them on rows that are not in the cases (so that imports
and worker start-up are not timed, and no answer is cached), then times one pass over all the cases.
Accuracy counts an unscored item of ours as a wrong verdict. Throughput is the median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from referee.verifiers import Registry, Runtime, Sample, score_batch

DATA = Path(__file__).parent / "data"
CASES = [DATA / "math_cases.jsonl", DATA / "math_holdout.jsonl"]
WARMUP = [
    {"gold": "3", "completion": "\\boxed{3}"},
    {"gold": "\\frac{7}{9}", "completion": "The answer is $\\frac{14}{18}$."},
    {"gold": "x^3 - 1", "completion": "\\boxed{(x-1)(x^2+x+1)}"},
    {"gold": "(0, 1]", "completion": "\\boxed{0 < x \\le 1}"},
    {"gold": "\\sqrt{7}", "completion": "\\boxed{7^{1/2}}"},
    {"gold": "1001_2", "completion": "\\boxed{1001_2}"},
] * 4


def load(paths: list[Path]) -> list[dict[str, Any]]:
    return [{**json.loads(line), "set": path.stem} for path in paths
            for line in path.read_text().splitlines() if line.strip()]


# -- Math-Verify, in its own worker processes ---------------------------------------------------------------

_BARE_GOLD = False


def _mv_init(bare_gold: bool) -> None:
    global _BARE_GOLD
    _BARE_GOLD = bare_gold
    logging.disable(logging.CRITICAL)  # Math-Verify logs every timeout and parse failure
    import math_verify  # noqa: F401


def _mv_one(row: dict[str, str]) -> bool | None:
    from math_verify import parse, verify

    try:
        gold = parse(row["gold"] if _BARE_GOLD else f"${row['gold']}$")
        answer = parse(row["completion"])
        return bool(verify(gold, answer))
    except Exception:  # Math-Verify raises on some inputs; count it as no verdict
        return None


def run_math_verify(rows: list[dict[str, Any]], procs: int, bare_gold: bool) -> tuple[list[bool | None], float]:
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(procs, initializer=_mv_init, initargs=(bare_gold,)) as pool:
        pool.map(_mv_one, WARMUP)
        start = time.perf_counter()
        verdicts = pool.map(_mv_one, rows)
        elapsed = time.perf_counter() - start
    return verdicts, elapsed


# -- ours ----------------------------------------------------------------------------------------------------

async def _ours(rows: list[dict[str, Any]], procs: int) -> tuple[list[bool | None], float, Counter[str]]:
    registry = Registry()
    # the worker pool preloads what the service's does (sympy and the source's `worker_preload`)
    async with Runtime(workers=procs, preload=["sympy", *registry.worker_preload(["math"])]) as runtime:
        source = registry.create("math", {}, runtime)
        await score_batch(source, [Sample(completion=r["completion"], reference=r["gold"]) for r in WARMUP])
        samples = [Sample(completion=r["completion"], reference=r["gold"]) for r in rows]
        start = time.perf_counter()
        scores = await score_batch(source, samples)
        elapsed = time.perf_counter() - start
    paths = Counter(str(s.details.get("path", "none")) for s in scores)
    paths.update(f"unscored:{s.reason}" for s in scores if s.value is None)
    return [None if s.value is None else s.value == 1.0 for s in scores], elapsed, paths


def run_ours(rows: list[dict[str, Any]], procs: int, src: Path | None = None,
             ) -> tuple[list[bool | None], float, Counter[str]]:
    """Our verdicts; with `src`, those of the referee in that source tree (run in a child process)."""
    if src is None:
        return asyncio.run(_ours(rows, procs))
    out = subprocess.run([sys.executable, __file__, "--emit-ours", str(procs)], input=json.dumps(rows),
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)}, check=True)
    data = json.loads(out.stdout)
    return data["verdicts"], data["elapsed"], Counter(data["paths"])


# -- report --------------------------------------------------------------------------------------------------

def metrics(rows: list[dict[str, Any]], verdicts: list[bool | None]) -> dict[str, float]:
    negatives = [v for r, v in zip(rows, verdicts, strict=True) if r["label"] == 0]
    positives = [v for r, v in zip(rows, verdicts, strict=True) if r["label"] == 1]
    correct = sum(v is not None and v == bool(r["label"]) for r, v in zip(rows, verdicts, strict=True))
    return {
        "accuracy": correct / len(rows),
        "fp_rate": sum(v is True for v in negatives) / len(negatives),
        "fn_rate": sum(v is not True for v in positives) / len(positives),
        "no_verdict": sum(v is None for v in verdicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, nargs="+", default=CASES)
    parser.add_argument("--procs", type=int, default=2, help="worker processes for each verifier")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mv-bare-gold", action="store_true", help="pass the gold to Math-Verify without $...$")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--baseline-src", type=Path, help="also run the referee in this src/ folder (before/after)")
    parser.add_argument("--emit-ours", type=int, help=argparse.SUPPRESS)  # child mode for --baseline-src
    args = parser.parse_args()

    if args.emit_ours is not None:
        verdicts, elapsed, paths = run_ours(json.loads(sys.stdin.read()), args.emit_ours)
        print(json.dumps({"verdicts": verdicts, "elapsed": elapsed, "paths": dict(paths)}))
        return

    rows = load(args.cases)
    ours_times, mv_times, base_times = [], [], []
    ours: list[bool | None] = []
    mv: list[bool | None] = []
    base: list[bool | None] = []
    paths: Counter[str] = Counter()
    for _ in range(args.rounds):
        ours, t, paths = run_ours(rows, args.procs)
        ours_times.append(t)
        if args.baseline_src is not None:
            base, t, _ = run_ours(rows, args.procs, args.baseline_src)
            base_times.append(t)
        mv, t = run_math_verify(rows, args.procs, args.mv_bare_gold)
        mv_times.append(t)

    mo, mm = metrics(rows, ours), metrics(rows, mv)
    ours_rate, mv_rate = len(rows) / statistics.median(ours_times), len(rows) / statistics.median(mv_times)
    n_neg = sum(r["label"] == 0 for r in rows)
    print(f"{len(rows)} cases ({len(rows) - n_neg} credited, {n_neg} not), {args.procs} processes each, "
          f"{args.rounds} rounds; python {sys.version.split()[0]}\n")
    print("| | referee `math` | Math-Verify | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| accuracy | {mo['accuracy']:.1%} | {mm['accuracy']:.1%} | |")
    print(f"| false-positive rate (of {n_neg} not credited) | {mo['fp_rate']:.1%} | {mm['fp_rate']:.1%} | |")
    print(f"| false-negative rate (of {len(rows) - n_neg} credited) | {mo['fn_rate']:.1%} | {mm['fn_rate']:.1%} | |")
    print(f"| no verdict (unscored / exception) | {mo['no_verdict']:.0f} | {mm['no_verdict']:.0f} | |")
    print(f"| items/s (median of {args.rounds}) | {ours_rate:,.0f} | {mv_rate:,.0f} | "
          f"{ours_rate / mv_rate:.1f}x |")
    if base_times:
        mb = metrics(rows, base)
        base_rate = len(rows) / statistics.median(base_times)
        print(f"| referee before ({args.baseline_src}): accuracy / false positives / items/s | "
              f"{mb['accuracy']:.1%} / {mb['fp_rate']:.1%} / {base_rate:,.0f} | | "
              f"now {ours_rate / base_rate:.2f}x |")
    for name in dict.fromkeys(r["set"] for r in rows):
        idx = [i for i, r in enumerate(rows) if r["set"] == name]
        part = [rows[i] for i in idx]
        ma, mb = metrics(part, [ours[i] for i in idx]), metrics(part, [mv[i] for i in idx])
        print(f"| {name} ({len(idx)} rows): accuracy / false positives | {ma['accuracy']:.1%} / "
              f"{ma['fp_rate']:.1%} | {mb['accuracy']:.1%} / {mb['fp_rate']:.1%} | |")
    print(f"\nours by path: {dict(paths)}\n")

    by_form: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r, a, b in zip(rows, ours, mv, strict=True):
        stats = by_form[r["form"]]
        stats[0] += 1
        stats[1] += a is not None and a == bool(r["label"])
        stats[2] += b is not None and b == bool(r["label"])
    print("| form | rows | referee `math` correct | Math-Verify correct |")
    print("|---|---:|---:|---:|")
    for form, (n, right_ours, right_mv) in sorted(by_form.items(), key=lambda kv: -kv[1][0]):
        print(f"| {form} | {n} | {right_ours} | {right_mv} |")

    if args.show_errors:
        for name, verdicts in (("referee math", ours), ("Math-Verify", mv)):
            print(f"\n## wrong verdicts: {name}")
            for r, v in zip(rows, verdicts, strict=True):
                if v is None or v != bool(r["label"]):
                    print(f"- {r['id']} label={r['label']} got={v} gold={r['gold']!r} "
                          f"completion={r['completion'][:110]!r}")


if __name__ == "__main__":
    main()
