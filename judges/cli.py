"""`referee constitution ...` and `referee prefs`.

    referee constitution list                         # names, versions, released or not
    referee constitution show hhh                     # the latest version; hhh@1 pins one
    referee constitution new hhh --dir constitutions  # writes constitutions/hhh/v2.md from the latest
    referee constitution lint constitutions/hhh/v2.md # line-numbered errors; exit 1 if any
    referee constitution diff hhh@1 hhh@2
    referee prefs pairs.jsonl -o dpo.jsonl --constitution hhh --method likelihood

`prefs` judges each {prompt, a, b} line in both orders and writes TRL DPO rows: {prompt, chosen,
rejected, confidence, consistent, p_a_better}, where confidence = max(p, 1 - p). Pairs the judge could
not score are left out and counted. `--cache_dir` defaults to $REFEREE_CACHE or ~/.cache/referee.

Constitutions are looked up along one search path, the same as the judge's in the service: the shipped
library, `./constitutions` (where `new` writes), the folders of $REFEREE_CONSTITUTION_DIRS, then each
`--constitution_dir` (`referee.judges.environment.constitution_dirs`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referee.verifiers import ConfigError, Runtime, format_validation_error

from .diff import diff
from .environment import LOCAL_CONSTITUTIONS, cache_dir, constitution_dirs, env_constitution_dirs
from .library import ConstitutionLibrary, parse_ref
from .lint import lint_path
from .parser import parse

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("constitution", help="list, show, create, lint and diff constitutions")
    csub = c.add_subparsers(dest="constitution_command", required=True, metavar="ACTION")

    p = csub.add_parser("list", help="constitutions and their versions")
    _dirs(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_list)

    p = csub.add_parser("show", help="one constitution: NAME (latest) or NAME@VERSION")
    p.add_argument("ref", metavar="NAME[@VERSION]")
    _dirs(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_show)

    p = csub.add_parser("new", help="write the next version of NAME (a copy of the latest) or a new skeleton")
    p.add_argument("name")
    p.add_argument("--dir", type=Path, default=LOCAL_CONSTITUTIONS,
                   help="folder to write <name>/v<N>.md into (default: ./constitutions, which is on the search path)")
    p.set_defaults(func=_new)

    p = csub.add_parser("lint", help="check constitution files; exit 1 on errors")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_lint)

    p = csub.add_parser("diff", help="what changed between two versions (NAME@A NAME@B, or two files)")
    p.add_argument("old", metavar="NAME@A|FILE")
    p.add_argument("new", metavar="NAME@B|FILE")
    _dirs(p)
    p.set_defaults(func=_diff)

    p = sub.add_parser("prefs", help="judge response pairs (JSONL of {prompt, a, b}) into DPO preference data")
    p.add_argument("input", type=Path, help="JSONL: one {prompt, a, b} per line")
    p.add_argument("-o", "--output", type=Path, help="DPO JSONL to write (default: stdout)")
    p.add_argument("--constitution", default="hhh", help="NAME or NAME@VERSION (default: hhh)")
    p.add_argument("--method", choices=["verdict", "reasoned", "likelihood"], default="verdict")
    p.add_argument("--options", type=json.loads, default={},
                   help="JSON object of further judge options (see `referee sources --json`), e.g. a backend")
    p.add_argument("--min_confidence", type=float, default=0.5,
                   help="keep pairs whose confidence max(p, 1-p) is at least this (default 0.5: all)")
    p.add_argument("--require_consistent", action="store_true",
                   help="keep only pairs where both presentation orders prefer the same reply")
    p.add_argument("--format", choices=["standard", "conversational"], default="standard",
                   help="TRL dataset format: plain strings, or chat messages")
    p.add_argument("--batch_size", type=int, default=16, help="pairs judged per batch")
    p.add_argument("--cache_dir", type=Path, default=None,
                   help="model cache (default: $REFEREE_CACHE or ~/.cache/referee)")
    _dirs(p)
    p.set_defaults(func=_prefs)


def _dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--constitution_dir", action="append", type=Path, default=[], metavar="DIR",
                   help="also look in DIR for <name>/v<N>.md, after ./constitutions and $REFEREE_CONSTITUTION_DIRS "
                   "(repeatable)")


def _search_path(args: argparse.Namespace) -> tuple[Path, ...]:
    return constitution_dirs([*env_constitution_dirs(), *getattr(args, "constitution_dir", [])])


def _library(args: argparse.Namespace) -> ConstitutionLibrary:
    return ConstitutionLibrary(_search_path(args))


def _list(args: argparse.Namespace) -> int:
    lib = _library(args)
    rows = []
    for entry in lib.entries():
        try:
            c = lib.get(entry.ref)
            rows.append({"ref": entry.ref, "description": c.description, "principles": len(c.principles),
                         "sha256": c.sha256, "released": lib.is_released(c), "location": str(entry.location)})
        except ConfigError as exc:
            rows.append({"ref": entry.ref, "error": str(exc), "location": str(entry.location)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        status = "invalid" if "error" in r else "released" if r["released"] else "draft"
        print(f"{r['ref']:<20} {status:<9} {r.get('description') or r.get('error')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    lib = _library(args)
    c = lib.get(args.ref)
    if args.json:
        print(json.dumps({**c.model_dump(mode="json"), "ref": c.ref, "released": lib.is_released(c),
                          "versions": lib.versions(c.name)}, indent=2))
        return 0
    print(f"{c.ref}  ({'released' if lib.is_released(c) else 'not released'}; versions: "
          f"{', '.join(map(str, lib.versions(c.name)))})")
    print(f"sha256: {c.sha256}")
    print(f"{c.description}\n\n{c.preamble}\n")
    for p in c.principles:
        print(f"[{p.id}] weight {p.weight:g}\n  " + "\n  ".join(p.text.splitlines()))
    return 0


def _new(args: argparse.Namespace) -> int:
    from .scaffold import render, skeleton

    name, version = parse_ref(args.name)
    if version is not None:
        raise ConfigError(f"`new` takes a name, not {args.name!r}; it picks the next version itself")
    # The next version follows the newest anywhere on the search path, so the new file never clashes with one.
    lib = ConstitutionLibrary([*_search_path(args), *([args.dir] if args.dir.is_dir() else [])])
    if name in lib.names():
        latest = lib.get(name)
        next_version = lib.versions(name)[-1] + 1
        text = render(latest, version=next_version)
        origin = f"a copy of {latest.ref}"
    else:
        next_version, text, origin = 1, skeleton(name), "a skeleton"
    path = args.dir / name / f"v{next_version}.md"
    if path.exists():
        raise ConfigError(f"{path} already exists; a released version is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path} ({origin}); edit it, then `referee constitution lint {path}`")
    return 0


def _lint(args: argparse.Namespace) -> int:
    errors = 0
    for path in args.paths:
        issues = lint_path(path)
        for issue in issues:
            print(issue.format(str(path)))
        errors += sum(i.severity == "error" for i in issues)
        if not issues:
            print(f"{path}: ok")
    return 1 if errors else 0


def _diff(args: argparse.Namespace) -> int:
    lib = _library(args)

    def load(spec: str) -> Any:
        path = Path(spec)
        if spec.endswith(".md") and path.is_file():
            result = parse(path.read_bytes(), path)
            if result.constitution is None:
                raise ConfigError(f"{path} has lint errors; run `referee constitution lint {path}`")
            return result.constitution
        return lib.get(spec)

    print(diff(load(args.old), load(args.new)).format())
    return 0


def _prefs(args: argparse.Namespace) -> int:
    from .environment import JudgeEnvironment, configure_judges
    from .source import Judge, JudgeConfig, Pair

    if not args.input.is_file():
        raise ConfigError(f"input file {args.input} does not exist; give a JSONL file of {{prompt, a, b}} pairs")
    pairs: list[Pair] = []
    for n, line in enumerate(args.input.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pairs.append(Pair(prompt=row.get("prompt", ""), a=row["a"], b=row["b"]))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ConfigError(f"{args.input}:{n}: expected a JSON object with prompt, a, b: {exc}") from exc
    try:
        config = JudgeConfig.model_validate({"constitution": args.constitution, "method": args.method,
                                             **args.options})
    except ValidationError as exc:
        raise ConfigError(f"judge options: {format_validation_error(exc)}") from exc

    async def run() -> list[Any]:
        async with Runtime(workers=1, preload=()) as rt:
            env = JudgeEnvironment(cache_dir=cache_dir(args.cache_dir), constitution_dirs=_search_path(args))
            configure_judges(rt, env)
            judge = Judge(config, rt)
            out = []
            for s in range(0, len(pairs), args.batch_size):
                out += await judge.compare(pairs[s : s + args.batch_size])
                print(f"judged {len(out)}/{len(pairs)} pairs", file=sys.stderr)
            return out

    comparisons = asyncio.run(run())
    kept, dropped = [], {"unscored": 0, "low_confidence": 0, "inconsistent": 0}
    for pair, c in zip(pairs, comparisons, strict=True):
        if c.p_a_better is None:
            dropped["unscored"] += 1
            continue
        confidence = max(c.p_a_better, 1 - c.p_a_better)
        if confidence < args.min_confidence:
            dropped["low_confidence"] += 1
            continue
        if args.require_consistent and not c.consistent:
            dropped["inconsistent"] += 1
            continue
        chosen, rejected = (pair.a, pair.b) if c.p_a_better >= 0.5 else (pair.b, pair.a)
        kept.append(_dpo_row(pair.prompt, chosen, rejected, args.format) | {
            "confidence": round(confidence, 6), "consistent": c.consistent, "p_a_better": round(c.p_a_better, 6),
            "judge": {"constitution": c.details["constitution"], "sha256": c.details["constitution_sha256"],
                      "model": c.details["judge"]["model"], "method": c.details["judge"]["method"]}})
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    print(f"kept {len(kept)} of {len(pairs)} pairs; dropped {dropped}", file=sys.stderr)
    return 0


def _dpo_row(prompt: str, chosen: str, rejected: str, fmt: str) -> dict[str, Any]:
    if fmt == "conversational":
        return {"prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}

