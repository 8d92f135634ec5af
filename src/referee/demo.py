"""`referee demo`: the main job on the embedded defaults, end to end, ending by itself.

Starts the reward service on a free loopback port, scores the example file shipped for every
registered source (`referee/examples/<source>.jsonl`) through HTTP, prints the results, and stops the
service.

    referee demo
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files
from typing import Any

__all__ = ["add_parsers", "run_demo"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start the service, score the shipped examples with every source, stop")
    p.set_defaults(func=run_demo)


def _examples(name: str) -> list[dict[str, Any]] | None:
    path = files("referee") / "examples" / f"{name}.jsonl"
    if not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _clip(text: str | None, width: int) -> str:
    text = "-" if text is None else " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(args: argparse.Namespace) -> int:
    from referee.service.client import RewardClient
    from referee.service.local import LocalService

    print("starting the reward service on loopback ...", flush=True)
    with LocalService() as svc, RewardClient(svc.url) as client:
        print(f"service ready at {svc.url}\n")
        skipped = []
        for info in client.sources():
            rows = _examples(info.name)
            if rows is None:
                skipped.append(info.name)
                continue
            keys = ("prompt", "completion", "reference", "metadata")
            scores = client.score(info.name, [{k: r[k] for k in keys if k in r} for r in rows])
            print(f"== {info.name} {info.version}: {info.description}")
            for row, s in zip(rows, scores, strict=True):
                result = f"{s.value:.3f}" if s.value is not None else f"unscored ({s.reason})"
                print(f"  {result:<26} completion: {_clip(row.get('completion'), 50):<50}  "
                      f"reference: {_clip(row.get('reference'), 24)}")
            print()
        if skipped:
            print(f"no example shipped for: {', '.join(skipped)}")
    print("service stopped")
    return 0
