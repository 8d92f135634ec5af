"""`referee audit` (query the audit log) and `referee rescore` (score recorded items again, e.g. under
another constitution version, and report what changed).

    referee audit runs/audit.db --source judge --since 2026-11-23T00:00
    referee rescore runs/audit.db --source judge --options '{"constitution": "hhh@2"}' -o diff.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from referee.verifiers import ConfigError, Sample, Score

from .audit import AuditQuery, AuditRecord, open_audit_log

__all__ = ["add_parsers"]


def _when(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is neither epoch seconds nor an ISO date-time") from exc


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("db", help="the audit log: SQLite path or postgresql:// URL (as given to --audit-db)")
    p.add_argument("--request-id", help="only this request (the service's id, or the caller's X-Request-ID)")
    p.add_argument("--source", help="only items scored by this source (for rescore: also the source to use)")
    p.add_argument("--kind", choices=["score", "compare", "grader"],
                   help="only scored samples, compared pairs (/v1/compare) or OpenAI grader runs")
    p.add_argument("--since", type=_when, help="from this time (epoch seconds or ISO date-time)")
    p.add_argument("--until", type=_when, help="before this time")
    p.add_argument("--limit", type=int, default=100_000, help="at most this many rows")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="query the audit log: counts, values and unscored reasons, or the rows")
    _filters(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSONL instead of a summary")
    p.set_defaults(func=_audit)

    p = sub.add_parser("rescore", help="score recorded items again (e.g. another constitution) and diff")
    _filters(p)
    p.add_argument("--options", type=json.loads, default={}, help="JSON options for the new scoring")
    p.add_argument("--url", help="rescore through this running service (default: in-process)")
    p.add_argument("--api-key", help="API key for --url")
    p.add_argument("-o", "--output", type=Path, help="write one JSON line per item: old and new score")
    p.set_defaults(func=_rescore)


def _query(args: argparse.Namespace) -> list[AuditRecord]:
    q = AuditQuery(request_id=args.request_id, source=args.source, kind=args.kind, since=args.since,
                   until=args.until, limit=args.limit)
    if "://" not in args.db and not Path(args.db).exists():
        raise ConfigError(f"audit log {args.db} does not exist; give the path passed to `referee serve --audit-db`")

    async def run() -> list[AuditRecord]:
        log = open_audit_log(args.db)
        try:
            return await log.query(q)
        finally:
            await log.aclose()

    return asyncio.run(run())


def _audit(args: argparse.Namespace) -> int:
    rows = _query(args)
    if args.json:
        for r in rows:
            print(r.model_dump_json())
        return 0
    groups: dict[str, list[AuditRecord]] = defaultdict(list)
    for r in rows:
        key = f"{r.source}@{r.version}" + (f" [{r.constitution}]" if r.constitution else "")
        groups[key if r.kind == "score" else f"{key} {r.kind}"].append(r)
    print(f"{len(rows)} items in {len({r.request_id for r in rows})} requests")
    for key, items in sorted(groups.items()):
        values = [r.value for r in items if r.value is not None]
        reasons = Counter(r.reason for r in items if r.reason is not None)
        mean = f"{statistics.fmean(values):.4f}" if values else "-"
        unscored = ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "none"
        print(f"  {key}: {_count_and_mean(items, mean)}, unscored: {unscored}")
    return 0


def _count_and_mean(items: list[AuditRecord], mean: str) -> str:
    kind = items[0].kind
    if kind == "compare":
        agree = sum(1 for r in items if r.details.get("consistent") is True)
        return f"{len(items)} pairs, mean P(a better) {mean}, both orders agree on {agree}"
    if kind == "grader":
        return f"{len(items)} runs, mean reward {mean}"
    return f"{len(items)} items, mean value {mean}"


def _rescore(args: argparse.Namespace) -> int:
    rows = _query(args)
    if not rows:
        print("no recorded items match", file=sys.stderr)
        return 1
    if any(r.completion is None for r in rows):
        raise ConfigError("these items were recorded without their texts, so they cannot be scored again; "
                          "start the service with --audit-texts to record them")
    kinds = {r.kind for r in rows}
    if "grader" in kinds:
        raise ConfigError("OpenAI grader runs cannot be rescored (their grader is not a registered source); "
                          "leave them out with --kind score or --kind compare")
    if len(kinds) > 1:
        raise ConfigError("the matching items are both scored samples and compared pairs; choose with --kind")
    sources = {r.source for r in rows}
    source = args.source or (sources.pop() if len(sources) == 1 else None)
    if source is None:
        raise ConfigError(f"the matching items come from several sources ({', '.join(sorted(sources))}); "
                          "choose one with --source")
    options = dict(args.options)
    if kinds == {"compare"}:
        options.setdefault("mode", "pairwise")  # a recorded pair is completion (a) against reference (b)
    samples = [Sample(prompt=r.prompt or "", completion=r.completion or "", reference=r.reference) for r in rows]
    new = _score(source, options, samples, args)
    _report(rows, new, args.output)
    return 0


def _score(source: str, options: dict[str, Any], samples: list[Sample], args: argparse.Namespace) -> list[Score]:
    if args.url:
        from .client import RewardClient

        with RewardClient(args.url, api_key=args.api_key) as client:
            return client.score(source, samples, options)
    from .cli import score_in_process

    return asyncio.run(score_in_process(source, options, samples, 256, None))


def _report(old: list[AuditRecord], new: list[Score], output: Path | None) -> None:
    deltas = [n.value - o.value for o, n in zip(old, new, strict=True) if o.value is not None and n.value is not None]
    changed = sum(1 for d in deltas if abs(d) > 1e-9)
    became_unscored = sum(1 for o, n in zip(old, new, strict=True) if o.value is not None and n.value is None)
    became_scored = sum(1 for o, n in zip(old, new, strict=True) if o.value is None and n.value is not None)
    old_vals = [o.value for o in old if o.value is not None]
    new_vals = [n.value for n in new if n.value is not None]
    print(f"rescored {len(old)} items: {changed} changed value, {became_unscored} became unscored, "
          f"{became_scored} became scored")
    if old_vals and new_vals:
        print(f"  mean value {statistics.fmean(old_vals):.4f} -> {statistics.fmean(new_vals):.4f}")
    if deltas:
        print(f"  mean |change| {statistics.fmean(abs(d) for d in deltas):.4f}, largest {max(deltas, key=abs):+.4f}")
    versions = {(o.constitution, n.details.get("constitution")) for o, n in zip(old, new, strict=True)}
    for before, after in sorted(versions, key=str):
        if before or after:
            print(f"  constitution {before} -> {after}")
    if output is not None:
        with output.open("w") as f:
            for o, n in zip(old, new, strict=True):
                f.write(json.dumps({"request_id": o.request_id, "item": o.item, "old_value": o.value,
                                    "old_reason": o.reason, "new": n.model_dump(mode="json")}) + "\n")
