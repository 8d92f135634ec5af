"""Benchmark the default judge (embedded SmolLM2-135M-Instruct, local backend): speed, and signal per method.

    .venv/bin/python bench/bench_judge.py                      # everything (about 1 h on 2 busy CPU cores)
    .venv/bin/python bench/bench_judge.py --methods verdict likelihood --limit 12 --throughput 8
    .venv/bin/python bench/bench_judge.py --throughput 0 \\
        --backend '{"kind": "openai", "openai": {"base_url": "http://127.0.0.1:8001/v1", "model": "m"}}'

1. Throughput: pointwise `verdict` judging of the same samples with batch_size=8 against batch_size=1
   (one prompt per forward pass), interleaved in one run, best of `--repeats`.
2. Accuracy on `bench/data/judge_pairs.jsonl`: hand-written pairs where one reply is clearly better under
   its constitution (`hhh` or `concise`). Each pair is shown as (a, b) with the better reply in slot a
   for half of them (fixed seed), so "always A" scores 50%. For each method: accuracy of P(a better) > 0.5
   (0.5 exactly counts half), mean P(better), unscored rate, and position consistency (both presentation
   orders prefer the same reply). Baselines: prefer the shorter and prefer the longer reply (in words).
   `verdict (one order)` uses only the order as given, to show what order-averaging buys; `pointwise
   verdict diff` compares the pointwise scores of the two replies.

The model is materialised in $REFEREE_CACHE (default ~/.cache/referee) on first use. Results are printed
as Markdown; `--json PATH` also writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from referee.judges import Comparison, Constitution, Judge, JudgeConfig, JudgeEnvironment, Pair, configure_judges
from referee.judges import cache_dir as referee_cache_dir
from referee.verifiers import Runtime, Sample

DATA = Path(__file__).parent / "data" / "judge_pairs.jsonl"
# Method variants: the JudgeConfig options each one sets.
METHODS: dict[str, dict[str, Any]] = {
    "verdict": {"method": "verdict"},
    "likelihood": {"method": "likelihood"},
    "likelihood per token": {"method": "likelihood", "likelihood_per_token": True, "likelihood_scale": 10.0},
    "reasoned": {"method": "reasoned"},
}


def load_pairs(limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    by_constitution: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_constitution.setdefault(row["constitution"], []).append(row)
    picked = []
    for group in by_constitution.values():
        picked += group[: (limit or len(group))]
    for row in picked:
        row["better_is_a"] = rng.random() < 0.5
        row["a"], row["b"] = (row["better"], row["worse"]) if row["better_is_a"] else (row["worse"], row["better"])
    return picked


def words(text: str) -> int:
    return len(text.split())


def credit(p_a: float | None, better_is_a: bool) -> float | None:
    """1 if the judgement prefers the better reply, 0 if the worse, 0.5 for a tie; None if unscored."""
    if p_a is None:
        return None
    p_better = p_a if better_is_a else 1 - p_a
    return 1.0 if p_better > 0.5 else 0.0 if p_better < 0.5 else 0.5


def summarise(name: str, rows: list[dict[str, Any]], p_as: list[float | None],
              consistent: list[bool | None] | None) -> dict[str, Any]:
    credits = [credit(p, r["better_is_a"]) for p, r in zip(p_as, rows, strict=True)]
    scored = [c for c in credits if c is not None]
    p_better = [p if r["better_is_a"] else 1 - p for p, r in zip(p_as, rows, strict=True) if p is not None]
    out: dict[str, Any] = {
        "method": name,
        "n": len(rows),
        "accuracy": sum(scored) / len(scored) if scored else None,
        "accuracy_unscored_as_wrong": sum(scored) / len(rows),
        "mean_p_better": sum(p_better) / len(p_better) if p_better else None,
        "unscored": 1 - len(scored) / len(rows),
    }
    if consistent is not None:
        known = [c for c in consistent if c is not None]
        out["consistency"] = sum(known) / len(known) if known else None
    for cname in sorted({r["constitution"] for r in rows}):
        sub = [c for c, r in zip(credits, rows, strict=True) if r["constitution"] == cname and c is not None]
        out[f"accuracy_{cname}"] = sum(sub) / len(sub) if sub else None
    return out


async def throughput(rt: Runtime, n: int, repeats: int) -> dict[str, Any]:
    """Batched against one prompt per forward pass, interleaved `repeats` times; the best run of each counts
    (on a shared machine the best run is the one least disturbed by other jobs)."""
    rows = load_pairs(None)
    samples = [Sample(prompt=r["prompt"], completion=r[k]) for r in rows for k in ("better", "worse")][:n]
    warm = Judge(JudgeConfig(constitution="hhh", cache=False), rt)
    await warm.score(samples[:2])  # load the model and warm the kernels outside the timings
    judges = {b: Judge(JudgeConfig(constitution="hhh", cache=False, backend={"local": {"batch_size": b}}), rt)
              for b in (1, 8)}
    best: dict[int, float] = {}
    values: dict[int, list[float | None]] = {}
    for _ in range(repeats):
        for b, judge in judges.items():
            t = time.perf_counter()
            scores = await judge.score(samples)
            best[b] = min(best.get(b, math.inf), time.perf_counter() - t)
            values[b] = [s.value for s in scores]
    prompts = len(samples) * len(warm.constitution.principles)
    out: dict[str, Any] = {"samples": len(samples), "repeats": repeats}
    for b, seconds in best.items():
        out[f"batch{b}"] = {"seconds": seconds, "samples_per_s": len(samples) / seconds,
                            "prompts_per_s": prompts / seconds}
    out["speedup"] = out["batch8"]["samples_per_s"] / out["batch1"]["samples_per_s"]
    out["max_value_difference"] = max(abs((x or 0) - (y or 0)) for x, y in zip(values[1], values[8], strict=True))
    return out


def prefer(rows: list[dict[str, Any]], sign: int) -> list[float | None]:
    """P(a better) of the length baselines: sign=-1 prefers the shorter reply, +1 the longer."""
    out: list[float | None] = []
    for r in rows:
        d = sign * (words(r["a"]) - words(r["b"]))
        out.append(1.0 if d > 0 else 0.0 if d < 0 else 0.5)
    return out


async def accuracy(rt: Runtime, rows: list[dict[str, Any]], methods: list[str], backend: dict[str, Any],
                   reasoned_limit: int) -> list[dict[str, Any]]:
    results = [summarise("prefer shorter", rows, prefer(rows, -1), None),
               summarise("prefer longer", rows, prefer(rows, +1), None)]
    constitutions = sorted({r["constitution"] for r in rows})
    for method in methods:
        t = time.perf_counter()
        comparisons: dict[str, tuple[Comparison, Constitution]] = {}
        method_rows = rows
        if method == "reasoned":  # generation is slow on CPU: a subset
            method_rows = [r for c in constitutions
                           for r in [r for r in rows if r["constitution"] == c][:reasoned_limit]]
        for cname in constitutions:
            sub = [r for r in method_rows if r["constitution"] == cname]
            judge = Judge(JudgeConfig(constitution=cname, cache=False, backend=backend, **METHODS[method]), rt)
            got = await judge.compare([Pair(prompt=r["prompt"], a=r["a"], b=r["b"]) for r in sub])
            comparisons.update({r["id"]: (c, judge.constitution) for r, c in zip(sub, got, strict=True)})
        seconds = time.perf_counter() - t
        cs = [comparisons[r["id"]][0] for r in method_rows]
        summary = summarise(method, method_rows, [c.p_a_better for c in cs], [c.consistent for c in cs])
        summary["seconds"] = seconds
        results.append(summary)
        if not method.startswith("likelihood"):
            first = [_first_order(*comparisons[r["id"]]) for r in method_rows]
            results.append(summarise(f"{method} (one order)", method_rows, first, None))
            slot_a = [p for c in cs for p in _slot_a(c)]
            summary["slot_a_rate"] = sum(p > 0.5 for p in slot_a) / len(slot_a) if slot_a else None
        if method == "verdict":
            t = time.perf_counter()
            results.append(await _pointwise_diff(rt, rows, constitutions, backend))
            results[-1]["seconds"] = time.perf_counter() - t
    return results


def _first_order(c: Comparison, constitution: Constitution) -> float | None:
    """The weighted P(a better) from the order as given only (a shown first): no debiasing."""
    firsts = {k: v.p_a_first for k, v in c.principles.items()}
    if c.p_a_better is None or any(p is None for p in firsts.values()):
        return None
    return constitution.weighted({k: p for k, p in firsts.items() if p is not None})


def _slot_a(c: Comparison) -> list[float]:
    """P(the reply in slot A wins), for every judgement (both orders, every principle)."""
    out = []
    for v in c.principles.values():
        if v.p_a_first is not None and v.p_a_second is not None:
            out += [v.p_a_first, 1 - v.p_a_second]
    return out


async def _pointwise_diff(rt: Runtime, rows: list[dict[str, Any]], constitutions: list[str],
                          backend: dict[str, Any]) -> dict[str, Any]:
    p_as: dict[str, float | None] = {}
    for cname in constitutions:
        sub = [r for r in rows if r["constitution"] == cname]
        judge = Judge(JudgeConfig(constitution=cname, method="verdict", cache=False, backend=backend), rt)
        scores = await judge.score([Sample(prompt=r["prompt"], completion=r[k]) for r in sub for k in ("a", "b")])
        for i, r in enumerate(sub):
            sa, sb = scores[2 * i].value, scores[2 * i + 1].value
            p_as[r["id"]] = None if sa is None or sb is None else 1.0 if sa > sb else 0.0 if sa < sb else 0.5
    return summarise("pointwise verdict diff", rows, [p_as[r["id"]] for r in rows], None)


def markdown(report: dict[str, Any]) -> str:
    lines = []
    tp = report.get("throughput")
    if tp:
        b1, b8 = tp["batch1"], tp["batch8"]
        lines += [f"Throughput, pointwise `verdict`, constitution hhh (4 principles), {tp['samples']} samples, "
                  f"best of {tp['repeats']} interleaved runs:", "",
                  "| batch_size | samples/s | prompts/s | seconds |", "|---:|---:|---:|---:|",
                  f"| 1 | {b1['samples_per_s']:.2f} | {b1['prompts_per_s']:.2f} | {b1['seconds']:.1f} |",
                  f"| 8 | {b8['samples_per_s']:.2f} | {b8['prompts_per_s']:.2f} | {b8['seconds']:.1f} |", "",
                  f"Batched / one at a time: **{tp['speedup']:.2f}x** (largest score difference between the two: "
                  f"{tp['max_value_difference']:.1e}).", ""]
    acc = report.get("accuracy")
    if acc:
        cnames = sorted(k.removeprefix("accuracy_") for k in acc[0] if k.startswith("accuracy_")
                        and k != "accuracy_unscored_as_wrong")
        head = ["method", "pairs", "accuracy", *[f"acc. {c}" for c in cnames], "mean P(better)", "unscored",
                "position-consistent", "P(slot A wins)", "seconds"]
        lines += ["Accuracy on the labelled pairs (`bench/data/judge_pairs.jsonl`):", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in acc:
            cells = [r["method"], str(r["n"]), _pct(r["accuracy"]), *[_pct(r.get(f"accuracy_{c}")) for c in cnames],
                     _num(r.get("mean_p_better")), _pct(r["unscored"]), _pct(r.get("consistency")),
                     _pct(r.get("slot_a_rate")), _num(r.get("seconds"), 0)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--limit", type=int, default=None, help="Pairs per constitution (default: all).")
    parser.add_argument("--throughput", type=int, default=16, help="Samples for the throughput test (0: skip).")
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved timing runs per batch size.")
    parser.add_argument("--batch-size", type=int, default=8, help="Local batch size for the accuracy runs.")
    parser.add_argument("--backend", type=json.loads, default=None,
                        help='judge backend for the accuracy runs, as JSON, e.g. \'{"kind": "openai", "openai": '
                        '{"base_url": "http://127.0.0.1:8001/v1", "model": "qwen"}}\' (default: local, embedded)')
    parser.add_argument("--reasoned-limit", type=int, default=6, help="Pairs per constitution for `reasoned`.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    async with Runtime(workers=1, preload=()) as rt:
        configure_judges(rt, JudgeEnvironment(cache_dir=referee_cache_dir()))
        if args.throughput:
            report["throughput"] = await throughput(rt, args.throughput, args.repeats)
            print(markdown({"throughput": report["throughput"]}), flush=True)
        if args.methods:
            backend = args.backend or {"local": {"batch_size": args.batch_size}}
            report["accuracy"] = await accuracy(rt, load_pairs(args.limit), args.methods, backend,
                                                args.reasoned_limit)
            print(markdown({"accuracy": report["accuracy"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
