"""Benchmark the default judge (embedded SmolLM2-135M-Instruct, local backend): speed, and signal per method.

    .venv/bin/python bench/bench_judge.py                      # everything (about 1 h on 2 busy CPU cores)
    .venv/bin/python bench/bench_judge.py --methods --throughput 10    # prefix cache: old path against new
    .venv/bin/python bench/bench_judge.py --methods --throughput 0 --profile 3   # where the time goes
    .venv/bin/python bench/bench_judge.py --methods verdict likelihood --limit 12 --throughput 0
    .venv/bin/python bench/bench_judge.py --throughput 0 \\
        --backend '{"kind": "openai", "openai": {"base_url": "http://127.0.0.1:8001/v1", "model": "m"}}'

1. Throughput of the local backend's prefix cache: `verdict` judging under hhh, pairwise (`compare`, both
   presentation orders) and pointwise, by the old path (`prefix_cache: false`, every prompt run in full)
   and the new one, in `--repeats` rounds, each running every path back to back. The new path twice:
   "new, cold" with the store of prefix caches emptied first (one isolated request), "new, warm" right
   after it (a running service judging under the same constitution again). Also: token positions run,
   and the largest difference between old and new per-principle probabilities. `--profile N` adds a
   torch profile of `compare` on N pairs, both paths.
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
import concurrent.futures
import json
import random
import statistics
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


async def throughput(rt: Runtime, n: int, repeats: int, batch_size: int) -> dict[str, Any]:
    """The local backend's prefix cache against the old path (every prompt run in full), `repeats` rounds.

    Each round runs every path once, back to back, in alternating order (old first, then old last), and
    the speed-ups are the median over rounds of that round's ratio: on a shared machine the load drifts
    within minutes, and a ratio taken within one round sees the least of it. CPU seconds (this process,
    all threads) are less disturbed by other jobs than wall seconds, so both are reported. Pairwise:
    `compare` of the first `n` pairs under hhh; pointwise: their `n` better replies.
    """
    from referee.judges.backends import BackendConfig, open_backend

    rows = [r for r in load_pairs(None) if r["constitution"] == "hhh"][:n]
    pairs = [Pair(prompt=r["prompt"], a=r["a"], b=r["b"]) for r in rows]
    samples = [Sample(prompt=r["prompt"], completion=r["better"]) for r in rows]
    paths = {"old": False, "new, cold": True, "new, warm": True}
    judges = {name: Judge(JudgeConfig(constitution="hhh", cache=False, backend={
        "local": {"batch_size": batch_size, "prefix_cache": on}}), rt) for name, on in paths.items()}
    lm = (await open_backend(BackendConfig(), rt)).lm  # type: ignore[attr-defined]  # the model all paths share
    await judges["old"].score(samples[:1])  # load the model and warm the kernels outside the timings
    principles = len(judges["old"].constitution.principles)
    out: dict[str, Any] = {"n": len(rows), "repeats": repeats, "batch_size": batch_size, "principles": principles}
    for kind in ("pairwise", "pointwise"):
        wall: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        values: dict[str, list[float | None]] = {}
        positions: dict[str, int] = {}
        for round_ in range(repeats):
            order = list(paths) if round_ % 2 == 0 else ["new, cold", "new, warm", "old"]
            for name in order:
                if name == "new, cold":
                    lm.prefixes.clear()
                before = lm.positions_run
                t, c = time.perf_counter(), time.process_time()
                if kind == "pairwise":
                    got = await judges[name].compare(pairs)
                    values[name] = [p for x in got for v in x.principles.values() for p in (v.p_a_first, v.p_a_second)]
                else:
                    scores = await judges[name].score(samples)
                    values[name] = [p["value"] for s in scores for p in s.details["principles"].values()]
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
                positions[name] = lm.positions_run - before
        prompts = len(rows) * principles * (2 if kind == "pairwise" else 1)
        out[kind] = {}
        for name in paths:
            seconds = statistics.median(wall[name])
            r = out[kind][name] = {"seconds": seconds, "cpu_seconds": statistics.median(cpu[name]),
                                   "items_per_s": len(rows) / seconds, "prompts_per_s": prompts / seconds,
                                   "positions": positions[name], "wall_runs": wall[name], "cpu_runs": cpu[name]}
            if name != "old":
                r.update(speedup=statistics.median(o / x for o, x in zip(wall["old"], wall[name], strict=True)),
                         cpu_speedup=statistics.median(o / x for o, x in zip(cpu["old"], cpu[name], strict=True)),
                         position_ratio=positions["old"] / positions[name],
                         max_difference=max(abs((x or 0) - (y or 0))
                                            for x, y in zip(values["old"], values[name], strict=True)))
    out["prefix_store"] = {"entries": len(lm.prefixes), "hits": lm.prefixes.hits, "misses": lm.prefixes.misses}
    return out


class _Inline(concurrent.futures.ThreadPoolExecutor):
    """Runs `asyncio.to_thread` work in the calling thread: the torch profiler sees only its own thread.
    (asyncio accepts only a ThreadPoolExecutor as the default executor; this one never starts a thread.)"""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


async def profile(rt: Runtime, n: int, batch_size: int) -> dict[str, Any]:
    """Where the time of `compare` on `n` pairs goes: self CPU seconds of the top torch operators, both paths."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    rows = [r for r in load_pairs(None) if r["constitution"] == "hhh"][:n]
    pairs = [Pair(prompt=r["prompt"], a=r["a"], b=r["b"]) for r in rows]
    out: dict[str, Any] = {"n": len(rows)}
    loop = asyncio.get_running_loop()
    loop.set_default_executor(_Inline())
    try:
        for name, on in (("old", False), ("new, cold", True)):
            judge = Judge(JudgeConfig(constitution="hhh", cache=False, backend={
                "local": {"batch_size": batch_size, "prefix_cache": on}}), rt)
            await judge.compare(pairs[:1])  # load and warm outside the profile
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                t = time.perf_counter()
                await judge.compare(pairs)
                wall = time.perf_counter() - t
            ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
            total = sum(e.self_cpu_time_total for e in ops)  # microseconds
            out[name] = {"wall_s": wall, "cpu_s": total / 1e6,
                         "ops": {e.key: e.self_cpu_time_total / 1e6 for e in ops[:8]}}
    finally:
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor())
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
        lines += [f"Throughput, `verdict` with hhh ({tp['principles']} principles), {tp['n']} pairs / replies, "
                  f"batch_size {tp['batch_size']}, median of {tp['repeats']} rounds (speed-ups: median of each "
                  "round's ratio):", "",
                  "| judging | path | items/s | wall s | CPU s | positions run | speed-up (wall) | speed-up (CPU) "
                  "| fewer positions | largest difference |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for kind, unit in (("pairwise", "pairs"), ("pointwise", "replies")):
            for name, r in tp[kind].items():
                extra = (f"**{r['speedup']:.2f}x** | {r['cpu_speedup']:.2f}x | {r['position_ratio']:.2f}x | "
                         f"{r['max_difference']:.1e}" if "speedup" in r else " | | | ")
                lines.append(f"| {kind} ({unit}) | {name} | {r['items_per_s']:.3f} | {r['seconds']:.1f} | "
                             f"{r['cpu_seconds']:.1f} | {r['positions']} | {extra} |")
        lines.append("")
    prof = report.get("profile")
    if prof:
        names = [k for k in prof if k != "n"]
        ops = sorted({op for k in names for op in prof[k]["ops"]}, key=lambda op: -prof[names[0]]["ops"].get(op, 0))
        walls = ", ".join(f"{k} {prof[k]['wall_s']:.1f} s" for k in names)
        lines += [f"Profile of `compare` on {prof['n']} pairs: self CPU seconds by torch operator "
                  f"(wall: {walls}):", "",
                  "| operator | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| `{op}` | " + " | ".join(_num(prof[k]["ops"].get(op), 2) for k in names) + " |" for op in ops]
        lines += ["| all operators | " + " | ".join(_num(prof[k]["cpu_s"], 2) for k in names) + " |", ""]
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
    parser.add_argument("--throughput", type=int, default=10,
                        help="Pairs (and replies) for the throughput test, old path against new (0: skip).")
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved timing runs per path.")
    parser.add_argument("--profile", type=int, default=0, help="Pairs for a torch profile of both paths (0: skip).")
    parser.add_argument("--batch-size", type=int, default=8, help="Local batch size (throughput and accuracy runs).")
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
            report["throughput"] = await throughput(rt, args.throughput, args.repeats, args.batch_size)
            print(markdown({"throughput": report["throughput"]}), flush=True)
        if args.profile:
            report["profile"] = await profile(rt, args.profile, args.batch_size)
            print(markdown({"profile": report["profile"]}), flush=True)
        if args.methods:
            backend = args.backend or {"local": {"batch_size": args.batch_size}}
            report["accuracy"] = await accuracy(rt, load_pairs(args.limit), args.methods, backend,
                                                args.reasoned_limit)
            print(markdown({"accuracy": report["accuracy"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
