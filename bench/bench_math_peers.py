"""The `math` source and Math-Verify on the peers' own test suites, side by side.

    .venv/bin/python bench/bench_math_peers.py                  # every suite it can find
    .venv/bin/python bench/bench_math_peers.py --show-errors    # also list each wrong verdict
    .venv/bin/python bench/bench_math_peers.py --baseline-src /tmp/referee-base/src   # + an older referee

Nothing of the peers is committed here: each suite is read at run time and its cases are extracted
programmatically (the test files are parsed with `ast`, never imported or run).

- `math-verify`: the tests/ folder of Math-Verify 0.9.0's sdist, fetched with
  `pip download --no-deps --no-binary :all: math-verify==0.9.0` into a cache folder (`--cache`).
  Every `pytest.mark.parametrize` table whose rows are (gold, prediction, expected), and every literal
  `assert compare_strings(gold, pred, ...) == expected`.
- `lighteval`: `tests/unit/metrics/test_extractive_match.py` of huggingface/lighteval, from a checkout or a
  bare git mirror (`--lighteval`, default: the mirror the `fetch` tool leaves under /work/.mirror).
- `hendrycks`: `modeling/math_equivalence_test.py` of hendrycks/math (`--hendrycks`), whose
  `assertTrue/assertFalse(is_equiv(test_in, test_out))` give (gold, prediction, expected).
A suite that cannot be found is skipped with a message saying how to get it.

Both verifiers get each case as written: ours as `Sample(completion=pred, reference=gold)` through
`Registry().create("math", {}, runtime)`; Math-Verify with its README configuration, `verify(parse(gold),
parse(pred))` (hendrycks' bare answers are wrapped in `$...$` for it, as its README asks). A verdict of
None (ours: unscored; theirs: an exception) counts as wrong.

Option-dependent cases: a test that passes Math-Verify options (`precision`, `strict`,
`allow_set_relation_comp`, restricted `match_types`) labels the case under those options. The label
depends on the option when Math-Verify's own verdict changes between its README configuration and the
test's options, or when the same test lists the same (gold, prediction) twice with different options and
different labels. Such cases are listed with the reason and scored separately (Math-Verify then runs with
the test's options).

Disputed labels: `DISPUTED` lists the few cases whose label we hold to be mathematically wrong, each with
its reason. They stay in every count above; the script also prints the accuracy without them.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MV_VERSION = "0.9.0"
MIRRORS = Path("/work/.mirror")
LIGHTEVAL_FILE = "tests/unit/metrics/test_extractive_match.py"
HENDRYCKS_FILE = "modeling/math_equivalence_test.py"
# Math-Verify's defaults (verify(): float_rounding=6, strict=True, allow_set_relation_comp=False; parse():
# LaTeX and expression extraction); a test option with another value may change the label.
DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False, "match_types": ["latex", "expr"]}
# (gold, prediction) -> why the label is wrong. Kept short and argued; everything else is taken as labelled.
DISPUTED = {
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$"):
        "labelled equal, but 1 - 1/e and 1 + 1/e differ by 2/e",
}


@dataclass
class Case:
    suite: str
    file: str
    category: str
    gold: str
    pred: str
    expected: bool
    options: dict[str, Any] = field(default_factory=dict)
    """Non-default options the test passes (see DEFAULTS), e.g. {"precision": 2}."""
    wrap: bool = False
    """Wrap gold and prediction in `$...$` for Math-Verify (bare answers)."""


# -- reading the suites --------------------------------------------------------------------------------------

def default_cache() -> Path:
    from referee.judges import cache_dir

    return cache_dir() / "bench"


def math_verify_sources(cache: Path) -> dict[str, str]:
    """{file name: source} of Math-Verify's tests/, from its sdist (downloaded once into `cache`)."""
    folder = cache / f"math-verify-{MV_VERSION}"
    sdists = sorted(folder.glob("math_verify-*.tar.gz"))
    if not sdists:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"math-verify=={MV_VERSION}", "-d", str(folder)], check=True)
        sdists = sorted(folder.glob("math_verify-*.tar.gz"))
    out: dict[str, str] = {}
    with tarfile.open(sdists[-1]) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py"):
                handle = tar.extractfile(member)
                if handle is not None:
                    out[parts[2]] = handle.read().decode()
    return out


def git_file(repo: Path, path: str) -> tuple[str, str] | None:
    """(source, commit) of `path` in a checkout or a bare git directory, or None."""
    if (repo / path).is_file():
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return (repo / path).read_text(), head.stdout.strip() or "working tree"
    if not repo.is_dir():
        return None
    shown = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True)
    head = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True)
    return (shown.stdout, head.stdout.strip()) if shown.returncode == 0 else None


class NotLiteral(ValueError):
    pass


def literal(node: ast.AST) -> Any:
    """The value of a literal node; f-strings of `math.<fn>(constants)` too (Math-Verify builds one gold
    with `f"{math.sqrt(17):.15f}"`). Nothing else is evaluated."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return [literal(e) for e in node.elts]
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            elif isinstance(part, ast.FormattedValue):
                spec = "" if part.format_spec is None else literal(part.format_spec)
                out.append(format(_math_call(part.value), spec))
            else:
                raise NotLiteral(ast.unparse(part))
        return "".join(out)
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise NotLiteral(ast.unparse(node)) from exc


def _math_call(node: ast.AST) -> Any:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "math" and not node.keywords and hasattr(math, node.func.attr)):
        return getattr(math, node.func.attr)(*[literal(a) for a in node.args])
    raise NotLiteral(ast.unparse(node))


def _value(node: ast.AST) -> Any:
    """A default or option value: the literal, or its source text (`Language.FRENCH`)."""
    try:
        return literal(node)
    except NotLiteral:
        return ast.unparse(node)


def _helper_params(tree: ast.Module, name: str) -> list[tuple[str, Any]] | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            args = node.args.args
            defaults = [None] * (len(args) - len(node.args.defaults)) + [_value(d) for d in node.args.defaults]
            return [(a.arg, d) for a, d in zip(args, defaults, strict=True)]
    return None


def _parametrize(func: ast.FunctionDef) -> tuple[list[str], list[ast.AST]] | None:
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.parametrize" and len(deco.args) >= 2:
            names = literal(deco.args[0])
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            rows = deco.args[1].elts if isinstance(deco.args[1], (ast.List, ast.Tuple)) else []
            return names, rows
    return None


def _row_values(row: ast.AST) -> list[Any]:
    items = row.args if isinstance(row, ast.Call) and ast.unparse(row.func) == "pytest.param" else (
        row.elts if isinstance(row, (ast.Tuple, ast.List)) else [row])
    # `Language.FRENCH` in a row is kept as its source text; anything else must be a literal
    return [ast.unparse(e) if isinstance(e, ast.Attribute) else literal(e) for e in items]


def _bind(call: ast.Call, params: list[tuple[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """The helper's arguments for one row: literals, or the row's value for a parametrized name."""
    bound = {name: default for name, default in params}
    given = list(zip([p[0] for p in params], call.args, strict=False)) + [(k.arg, k.value) for k in call.keywords]
    for name, node in given:
        if isinstance(node, ast.Name) and node.id in row:
            bound[name] = row[node.id]
        else:
            bound[name] = _value(node)
    return bound


def _options(bound: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bound.items() if k in DEFAULTS and v != defaults.get(k, DEFAULTS[k])}


def pytest_cases(suite: str, files: dict[str, str], helper_file: str, skipped: list[str]) -> list[Case]:
    """Cases of every (gold, pred, expected) table and literal `compare_strings(...) == n` in `files`."""
    helper_tree = ast.parse(files[helper_file])
    params = _helper_params(helper_tree, "compare_strings") or []
    defaults = {name: d for name, d in params}
    cases: list[Case] = []
    for fname, src in sorted(files.items()):
        tree = ast.parse(src)
        for func in tree.body:
            if not (isinstance(func, ast.FunctionDef) and func.name.startswith("test")):
                continue
            category = func.name.removeprefix("test_")
            table = _parametrize(func)
            calls = [n for n in ast.walk(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
            helper = next((c for c in calls if c.func.id == "compare_strings"), None)  # type: ignore[union-attr]
            readme = any(c.func.id == "verify" for c in calls) and any(  # type: ignore[union-attr]
                c.func.id == "parse" and len(c.args) == 1 and not c.keywords for c in calls)  # type: ignore[union-attr]
            if table is not None:
                names, rows = table
                label = next((n for n in ("expected", "result") if n in names), None)
                if not {"gold", "pred"} <= set(names) or label is None or (helper is None and not readme):
                    skipped.append(f"{suite}/{fname}::{func.name}: not a (gold, prediction, expected) table")
                    continue
                for k, row_node in enumerate(rows):
                    try:
                        values = _row_values(row_node)
                    except NotLiteral as exc:
                        skipped.append(f"{suite}/{fname}::{func.name}[{k}]: not a literal ({str(exc)[:60]})")
                        continue
                    if len(values) != len(names):
                        skipped.append(f"{suite}/{fname}::{func.name}[{k}]: {len(values)} values for {names}")
                        continue
                    row = dict(zip(names, values, strict=True))
                    opts = _options(_bind(helper, params, row), defaults) if helper is not None else {}
                    cases.append(Case(suite, fname, category, str(row["gold"]), str(row["pred"]),
                                      bool(row[label]), opts))
                continue
            for node in ast.walk(func):  # assert compare_strings("...", "...", ...) == 1
                if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)
                        and ast.unparse(node.left.func) == "compare_strings" and len(node.comparators) == 1):
                    try:
                        bound = _bind(node.left, params, {})
                        expected = literal(node.comparators[0])
                    except NotLiteral:
                        continue
                    if isinstance(bound.get("gold"), str) and isinstance(bound.get("pred"), str):
                        cases.append(Case(suite, fname, category, bound["gold"], bound["pred"], bool(expected),
                                          _options(bound, defaults)))
    return cases


def hendrycks_cases(src: str) -> list[Case]:
    """(test_in, test_out, assertTrue/False) of each `is_equiv` test method."""
    cases: list[Case] = []
    for cls in ast.parse(src).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for method in cls.body:
            if not isinstance(method, ast.FunctionDef):
                continue
            env: dict[str, Any] = {}
            for stmt in method.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    env[stmt.targets[0].id] = _value(stmt.value)
                elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                    call = stmt.value
                    verb = ast.unparse(call.func)
                    asserts = verb in ("self.assertTrue", "self.assertFalse")
                    if asserts and call.args and isinstance(call.args[0], ast.Call):
                        inner = call.args[0]
                        if ast.unparse(inner.func) == "is_equiv" and len(inner.args) == 2:
                            a, b = (env.get(x.id) if isinstance(x, ast.Name) else _value(x) for x in inner.args)
                            if isinstance(a, str) and isinstance(b, str):
                                cases.append(Case("hendrycks", HENDRYCKS_FILE.rsplit("/", 1)[-1],
                                                  method.name.removeprefix("test_"), a, b, verb == "self.assertTrue",
                                                  wrap=True))
    return cases


def load_suites(args: argparse.Namespace) -> tuple[list[Case], list[str], list[str]]:
    """All cases, the notes on where each suite came from, and the skipped rows."""
    cases: list[Case] = []
    notes: list[str] = []
    skipped: list[str] = []
    try:
        files = math_verify_sources(args.cache)
        found = pytest_cases("math-verify", files, "test_all.py", skipped)
        cases += found
        notes.append(f"math-verify: {len(found)} cases from the tests/ of math_verify-{MV_VERSION}.tar.gz "
                     f"(pip download, cached in {args.cache})")
    except (subprocess.CalledProcessError, OSError, KeyError) as exc:
        notes.append(f"math-verify: SKIPPED, could not fetch its sdist ({exc}); needs PyPI access or --cache")
    got = git_file(args.lighteval, LIGHTEVAL_FILE)
    if got is None:
        notes.append(f"lighteval: SKIPPED, {LIGHTEVAL_FILE} not found under {args.lighteval}; clone "
                     "https://github.com/huggingface/lighteval and pass --lighteval DIR")
    else:
        found = pytest_cases("lighteval", {"test_extractive_match.py": got[0]}, "test_extractive_match.py", skipped)
        cases += found
        notes.append(f"lighteval: {len(found)} cases from {LIGHTEVAL_FILE} at {got[1]} ({args.lighteval})")
    got = git_file(args.hendrycks, HENDRYCKS_FILE)
    if got is None:
        notes.append(f"hendrycks: SKIPPED, {HENDRYCKS_FILE} not found under {args.hendrycks}; clone "
                     "https://github.com/hendrycks/math and pass --hendrycks DIR")
    else:
        found = hendrycks_cases(got[0])
        cases += found
        notes.append(f"hendrycks: {len(found)} cases from {HENDRYCKS_FILE} at {got[1]} ({args.hendrycks})")
    return cases, notes, skipped


# -- Math-Verify, in its own worker processes ------------------------------------------------------------------

Job = tuple[str, str, bool, dict[str, Any] | None]
"""(gold, prediction, wrap in `$...$`, the test's options or None for the README configuration)"""


def _mv_init() -> None:
    logging.disable(logging.CRITICAL)  # Math-Verify logs every timeout and parse failure
    import math_verify  # noqa: F401


def _mv_one(job: Job) -> bool | None:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify

    gold, pred, wrap, options = job
    if wrap:
        gold, pred = f"${gold}$", f"${pred}$"
    try:
        if options is None:  # the README configuration
            return bool(verify(parse(gold), parse(pred)))
        targets: list[Any] = []
        for kind in options.get("match_types", DEFAULTS["match_types"]):
            if kind == "latex":
                targets.append(LatexExtractionConfig(boxed_match_priority=0))
            elif kind == "expr":
                targets.append(ExprExtractionConfig())
            else:  # lighteval's letter indices; Math-Verify's nearest is its string extraction
                targets.append(StringExtractionConfig())
        return bool(verify(parse(gold, targets), parse(pred, targets),
                           float_rounding=options.get("precision", DEFAULTS["precision"]),
                           strict=options.get("strict", DEFAULTS["strict"]),
                           allow_set_relation_comp=options.get("allow_set_relation_comp", False)))
    except Exception:  # Math-Verify raises on some inputs; count it as no verdict
        return None


def run_math_verify(jobs: list[Job], procs: int) -> tuple[list[bool | None], float]:
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(procs, initializer=_mv_init) as pool:
        pool.map(_mv_one, [("$1$", "$1$", False, None)] * 8)
        start = time.perf_counter()
        verdicts = pool.map(_mv_one, jobs, chunksize=1)
        elapsed = time.perf_counter() - start
    return verdicts, elapsed


# -- ours ------------------------------------------------------------------------------------------------------

async def _ours(pairs: list[tuple[str, str]], procs: int) -> tuple[list[bool | None], float, list[str]]:
    from referee.verifiers import Registry, Runtime, Sample, score_batch

    registry = Registry()
    # the worker pool preloads what the service's does (sympy and the source's `worker_preload`)
    async with Runtime(workers=procs, preload=["sympy", *registry.worker_preload(["math"])]) as runtime:
        source = registry.create("math", {}, runtime)
        await score_batch(source, [Sample(completion="\\boxed{x^2}", reference="x^2")] * 8)
        start = time.perf_counter()
        scores = await score_batch(source, [Sample(completion=p, reference=g) for g, p in pairs])
        elapsed = time.perf_counter() - start
    reasons = [str(s.reason) if s.value is None else "" for s in scores]
    return [None if s.value is None else s.value == 1.0 for s in scores], elapsed, reasons


def run_ours(pairs: list[tuple[str, str]], procs: int, src: Path | None) -> tuple[list[bool | None], float, list[str]]:
    """Our verdicts; with `src`, those of the referee in that source tree (run in a child process)."""
    if src is None:
        return asyncio.run(_ours(pairs, procs))
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--emit-ours", str(procs)], input=json.dumps(pairs),
                         capture_output=True, text=True, env=env, check=True)
    data = json.loads(out.stdout)
    return data["verdicts"], data["elapsed"], data["reasons"]


# -- report ----------------------------------------------------------------------------------------------------

def tally(cases: Iterable[Case], verdicts: Iterable[bool | None]) -> dict[str, int]:
    t = {"n": 0, "right": 0, "fp": 0, "fn": 0, "unscored": 0}
    for case, v in zip(cases, verdicts, strict=True):
        t["n"] += 1
        t["right"] += v is not None and v == case.expected
        t["fp"] += v is True and not case.expected
        t["fn"] += v is False and case.expected
        t["unscored"] += v is None
    return t


def _cell(t: dict[str, int]) -> str:
    if not t["n"]:
        return "- | | |"
    return f"{t['right'] / t['n']:.1%} ({t['right']}) | {t['fp']} | {t['fn']} | {t['unscored']}"


def table(title: str, keys: list[str], groups: dict[str, list[int]], cases: list[Case],
          columns: list[tuple[str, list[bool | None]]]) -> None:
    print(f"\n### {title}\n")
    head = " | ".join(f"{name}: accuracy (right) | FP | FN | unscored" for name, _ in columns)
    print(f"| {keys[0]} | cases | {head} |")
    print("|---|---:|" + "---:|---:|---:|---:|" * len(columns))
    for key, idx in groups.items():
        sub = [cases[i] for i in idx]
        cells = " | ".join(_cell(tally(sub, [v[i] for i in idx])) for _, v in columns)
        print(f"| {key} | {len(idx)} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where Math-Verify's sdist is kept")
    parser.add_argument("--lighteval", type=Path, default=MIRRORS / "huggingface+lighteval" / "repo")
    parser.add_argument("--hendrycks", type=Path, default=MIRRORS / "hendrycks+math" / "repo")
    parser.add_argument("--procs", type=int, default=2, help="worker processes for each verifier")
    parser.add_argument("--baseline-src", type=Path, help="also run the referee in this src/ folder (before/after)")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--emit-ours", type=int, help=argparse.SUPPRESS)  # child mode for --baseline-src
    args = parser.parse_args()

    if args.emit_ours is not None:
        verdicts, elapsed, reasons = asyncio.run(_ours(json.loads(sys.stdin.read()), args.emit_ours))
        print(json.dumps({"verdicts": verdicts, "elapsed": elapsed, "reasons": reasons}))
        return

    cases, notes, skipped = load_suites(args)
    print("\n".join(notes))
    for line in skipped:
        print(f"  skipped {line}")
    pairs = [(c.gold, c.pred) for c in cases]
    ours, ours_t, reasons = run_ours(pairs, args.procs, None)
    readme, mv_t = run_math_verify([(c.gold, c.pred, c.wrap, None) for c in cases], args.procs)
    with_opts = [i for i, c in enumerate(cases) if c.options]
    tested, _ = run_math_verify([(cases[i].gold, cases[i].pred, cases[i].wrap, cases[i].options) for i in with_opts],
                                args.procs)
    mv_test = {i: v for i, v in zip(with_opts, tested, strict=True)}
    dependent = {i for i in with_opts if mv_test[i] != readme[i]}
    labels: dict[tuple[str, str, str, str], set[bool]] = defaultdict(set)
    for c in cases:
        labels[(c.suite, c.category, c.gold, c.pred)].add(c.expected)
    dependent |= {i for i in with_opts if len(labels[(cases[i].suite, cases[i].category, cases[i].gold,
                                                      cases[i].pred)]) > 1}
    columns = [("referee", ours), ("Math-Verify", readme)]
    if args.baseline_src is not None:
        base, base_t, _ = run_ours(pairs, args.procs, args.baseline_src)
        columns.insert(0, ("referee before", base))
    main_idx = [i for i in range(len(cases)) if i not in dependent]

    print(f"\n{len(cases)} cases; {len(dependent)} option-dependent, scored apart; {args.procs} processes each; "
          f"python {sys.version.split()[0]}")
    by_suite: dict[str, list[int]] = defaultdict(list)
    by_file: dict[str, list[int]] = defaultdict(list)
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i in main_idx:
        c = cases[i]
        by_suite[c.suite].append(i)
        by_file[f"{c.suite} {c.file}"].append(i)
        by_cat[f"{c.suite} {c.category}"].append(i)
    table("Per suite (option-dependent cases excluded)", ["suite"], by_suite, cases, columns)
    table("Per test file", ["file"], by_file, cases, columns)
    table("Per category (test function)", ["category"], by_cat, cases, columns)

    if dependent:
        print("\n### Option-dependent cases (Math-Verify's verdict changes with the option the test sets)\n")
        print("| suite / category | option (reason) | expected | referee | Math-Verify README "
              "| Math-Verify with option |")
        print("|---|---|---:|---:|---:|---:|")
        for i in sorted(dependent):
            c = cases[i]
            print(f"| {c.suite} {c.category} | {json.dumps(c.options)} | {int(c.expected)} | {ours[i]} | "
                  f"{readme[i]} | {mv_test[i]} |")
        dep = sorted(dependent)
        sub = [cases[i] for i in dep]
        print(f"\nOption-dependent, scored against their labels: referee {_cell(tally(sub, [ours[i] for i in dep]))}; "
              f"Math-Verify with the test's options {_cell(tally(sub, [mv_test[i] for i in dep]))}")

    disputed = [i for i in main_idx if (cases[i].gold, cases[i].pred) in DISPUTED]
    if disputed:
        print("\n### Disputed labels (kept in the counts above)\n")
        for i in disputed:
            c = cases[i]
            print(f"- {c.suite} {c.category}: gold {c.gold!r}, prediction {c.pred!r}, labelled {int(c.expected)}: "
                  f"{DISPUTED[(c.gold, c.pred)]}; referee {ours[i]}, Math-Verify {readme[i]}")
        for name in by_suite:
            keep = [i for i in by_suite[name] if i not in disputed]
            if len(keep) != len(by_suite[name]):
                sub = [cases[i] for i in keep]
                cells = "; ".join(f"{col} {_cell(tally(sub, [v[i] for i in keep]))}" for col, v in columns)
                print(f"- {name} without them ({len(keep)} cases): {cells}")
    rate = len(cases) / ours_t
    print(f"\nitems/s on these cases (one pass, warm workers): referee {rate:,.0f}, Math-Verify "
          f"{len(cases) / mv_t:,.0f} ({rate / (len(cases) / mv_t):.1f}x)"
          + (f", referee before {len(cases) / base_t:,.0f}" if args.baseline_src is not None else ""))
    unscored = [r for r in reasons if r]
    if unscored:
        print(f"referee unscored reasons: { {r: unscored.count(r) for r in set(unscored)} }")

    if args.show_errors:
        for name, verdicts in columns:
            print(f"\n## wrong verdicts: {name}")
            for i, (c, v) in enumerate(zip(cases, verdicts, strict=True)):
                if v != c.expected:
                    tag = " [option-dependent]" if i in dependent else ""
                    print(f"- {c.suite} {c.category}{tag} expected={int(c.expected)} got={v} gold={c.gold[:100]!r} "
                          f"pred={c.pred[-160:]!r}")


if __name__ == "__main__":
    main()
