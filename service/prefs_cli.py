"""`referee prefs`: judge response pairs into DPO preference rows, in this process or through a running service.

    referee prefs pairs.jsonl -o dpo.jsonl --constitution hhh                  # the judge, in this process
    referee prefs pairs.jsonl -o dpo.jsonl --url http://127.0.0.1:8000         # through a service's /v1/compare
    referee prefs pairs.jsonl -o dpo.jsonl --url URL --source reward_model     # a reward model (Bradley-Terry)
    referee prefs pairs.jsonl --keep_inconsistent --min_confidence 0           # keep every judged pair

Input: JSONL, one `{prompt, a, b}` per line. Each pair is compared in both presentation orders (the judge) and
becomes a TRL DPO row `{prompt, chosen, rejected, confidence, consistent, p_a_better, judge}` if it is safe
to train on: both orders prefer the same reply and the confidence max(p, 1-p) is at least `--min_confidence`
(0.6 by default); `referee.service.preferences` explains each rule. Stderr says how many pairs were kept and
why each of the others was dropped. It lives in the service layer because `--url` uses the service's client.

Constitutions are looked up along the judges' search path (`referee constitution list`); with `--url`, along
the service's. `--cache_dir` defaults to $REFEREE_CACHE or ~/.cache/referee.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referee.judges import Comparison, Pair
from referee.verifiers import ConfigError, Runtime, format_validation_error, jsonl_lines

from .preferences import DEFAULT_MIN_CONFIDENCE, check_min_confidence, select_pairs

__all__ = ["add_parsers", "read_pairs"]

COMPARERS = ("judge", "reward_model")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prefs", help="judge response pairs (JSONL of {prompt, a, b}) into DPO preference data")
    p.add_argument("input", type=Path, help="JSONL: one {prompt, a, b} per line")
    p.add_argument("-o", "--output", type=Path, help="DPO JSONL to write (default: stdout)")
    p.add_argument("--source", choices=COMPARERS, default="judge",
                   help="what compares: the LLM judge against --constitution, or (with --url) the service's "
                   "reward_model")
    p.add_argument("--constitution", default=None, help="NAME or NAME@VERSION for the judge (default: hhh)")
    p.add_argument("--method", choices=["verdict", "reasoned", "likelihood"], default=None,
                   help="the judge's method (default: verdict)")
    p.add_argument("--options", type=json.loads, default={},
                   help="JSON object of further options of the source (see `referee sources --json`); in this "
                   "process also the judge's backend")
    p.add_argument("--min_confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                   help="drop pairs whose confidence max(p, 1-p) is below this (default 0.6: |p - 0.5| >= 0.1); "
                   "0 keeps every judged pair")
    p.add_argument("--keep_inconsistent", action="store_true",
                   help="keep pairs whose two presentation orders prefer different replies (dropped by default)")
    p.add_argument("--format", choices=["standard", "conversational"], default="standard",
                   help="TRL dataset format: plain strings, or chat messages")
    p.add_argument("--batch_size", type=int, default=16, help="pairs judged per batch")
    p.add_argument("--url", default=None,
                   help="label through the reward service at this URL (its /v1/compare) instead of in this process")
    p.add_argument("--api_key", default=None, help="bearer key for --url (default: $REFEREE_API_KEY)")
    p.add_argument("--cache_dir", type=Path, default=None,
                   help="model cache (default: $REFEREE_CACHE or ~/.cache/referee)")
    p.add_argument("--constitution_dir", action="append", type=Path, default=[], metavar="DIR",
                   help="also look in DIR for <name>/v<N>.md, after ./constitutions and $REFEREE_CONSTITUTION_DIRS "
                   "(repeatable; in this process only)")
    p.set_defaults(func=_prefs)


def read_pairs(path: Path) -> list[Pair]:
    """The `{prompt, a, b}` lines of `path`; a bad line is an error naming it."""
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist; give a JSONL file of {{prompt, a, b}} pairs")
    pairs = []
    for n, line in jsonl_lines(path):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError(f"a line holds {type(row).__name__}")
            missing = [k for k in ("a", "b") if k not in row]
            if missing:
                raise KeyError(f"missing {', '.join(missing)}")
            pairs.append(Pair(prompt=row.get("prompt", ""), a=row["a"], b=row["b"]))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            detail = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc).strip("'\"")
            raise ConfigError(f"{path}:{n}: expected a JSON object with prompt, a, b: {detail}") from exc
    return pairs


def _options(args: argparse.Namespace) -> dict[str, Any]:
    if not isinstance(args.options, dict):
        raise ConfigError(f"--options must be a JSON object, got {args.options!r}")
    options = dict(args.options)
    if args.method is not None:
        options["method"] = args.method
    return options


def _in_process(args: argparse.Namespace, pairs: list[Pair]) -> list[Comparison]:
    from referee.judges import (
        Judge,
        JudgeConfig,
        JudgeEnvironment,
        cache_dir,
        configure_judges,
        constitution_dirs,
        env_constitution_dirs,
    )

    if args.source != "judge":
        raise ConfigError(f"--source {args.source} labels through a running service, where the operator sets its "
                          f"model folder: give --url (e.g. `referee serve` with source_options for {args.source})")
    try:
        config = JudgeConfig.model_validate({"constitution": args.constitution or "hhh", **_options(args)})
    except ValidationError as exc:
        raise ConfigError(f"judge options: {format_validation_error(exc)}") from exc
    search = constitution_dirs([*env_constitution_dirs(), *args.constitution_dir])

    async def run() -> list[Comparison]:
        async with Runtime(workers=1, preload=()) as rt:
            configure_judges(rt, JudgeEnvironment(cache_dir=cache_dir(args.cache_dir), constitution_dirs=search))
            judge = Judge(config, rt)
            out: list[Comparison] = []
            for s in range(0, len(pairs), args.batch_size):
                out += await judge.compare(pairs[s : s + args.batch_size])
                print(f"judged {len(out)}/{len(pairs)} pairs", file=sys.stderr)
            return out

    return asyncio.run(run())


def _through_service(args: argparse.Namespace, pairs: list[Pair]) -> list[Comparison]:
    import os

    from .client import RewardClient

    if args.constitution_dir:
        raise ConfigError("--constitution_dir applies in this process; with --url the service looks constitutions "
                          "up along its own search path (`referee serve` reads $REFEREE_CONSTITUTION_DIRS)")
    if args.source != "judge" and args.constitution is not None:
        raise ConfigError(f"--constitution is for the judge; --source {args.source} takes none")
    constitution = (args.constitution or "hhh") if args.source == "judge" else None
    api_key = args.api_key or os.environ.get("REFEREE_API_KEY") or None
    with RewardClient(args.url, api_key=api_key, max_batch=args.batch_size, timeout=600.0) as client:
        return client.compare(pairs, source=args.source, constitution=constitution, options=_options(args))


def _prefs(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}")
    check_min_confidence(args.min_confidence)  # before the judging, not after
    pairs = read_pairs(args.input)
    todo = [i for i, p in enumerate(pairs) if p.a != p.b]  # identical replies: nothing to judge, or to learn
    label = _through_service if args.url else _in_process
    judged = dict(zip(todo, label(args, [pairs[i] for i in todo]), strict=True)) if todo else {}
    rows, dropped = select_pairs(pairs, [judged.get(i) for i in range(len(pairs))],
                                 min_confidence=args.min_confidence, keep_inconsistent=args.keep_inconsistent,
                                 source=args.source, fmt=args.format)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    print(dropped.summary(len(pairs)), file=sys.stderr)
    return 0
