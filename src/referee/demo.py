"""`referee demo`: the main job on the embedded defaults, end to end, ending by itself.

Starts the reward service on a free loopback port, scores the example file shipped for every
registered source (`referee/examples/<source>.jsonl`) through HTTP, prints the results, then runs a short
GRPO training (`--train_steps`, default 2) of the embedded SmolLM2-135M-Instruct on arithmetic word
problems rewarded by the `math` source through the same service, and stops the service.

    referee demo                   # scoring, then 2 training steps into runs/demo (a few minutes on CPU)
    referee demo --train_steps 0   # scoring only
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files
from typing import Any

__all__ = ["add_parsers", "run_demo"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start the service, score the shipped examples with every source, "
                                    "train a few GRPO steps, stop")
    p.add_argument("--train_steps", type=int, default=2, help="GRPO steps at the end (0: no training)")
    p.add_argument("--train_dir", default="runs/demo", help="output folder of the training run")
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
        if getattr(args, "train_steps", 0) > 0:
            _train(svc.url, args.train_steps, args.train_dir)
    print("service stopped")
    return 0


def _train(url: str, steps: int, out: str) -> None:
    """A short GRPO run of the embedded model on arithmetic, rewarded by `math` through the service."""
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        print("skipping training: the `train` extra is not installed (pip install 'referee[train]')")
        return
    from referee.trainer.config import parse_train_args
    from referee.trainer.grpo import train
    from referee.trainer.metrics import read_metrics

    print(f"== training: {steps} GRPO steps of the embedded SmolLM2-135M-Instruct on arithmetic, source math")
    argv = ["--service_url", url, "--source", "math", "--dataset", "arithmetic", "--max_steps", str(steps),
            "--output_dir", out, "--overwrite", "true", "--per_device_train_batch_size", "8",
            "--max_completion_length", "48", "--heldout_size", "8", "--heldout_steps", str(steps),
            "--save_strategy", "no"]
    run_dir = train(*parse_train_args(argv))
    for r in read_metrics(run_dir):
        parts = [f"{k}={r[k]:.3f}" for k in ("reward", "kl", "heldout/accuracy", "time/step") if k in r]
        if parts:
            print(f"  step {r['step']}: {'  '.join(parts)}")
    print(f"model, metrics and completions in {run_dir}; plots: referee report {run_dir}\n")
