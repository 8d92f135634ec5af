"""`referee train` and `referee report`. Heavy imports (torch, trl) happen inside the commands.

    referee train --source math --dataset arithmetic --max_steps 2 --output_dir runs/demo
    referee train --config cfg.yaml --beta 0          # YAML first, flags override it
    referee train --help                              # every flag: ours, GRPOConfig's, ModelConfig's
    referee train --algo ppo --source math --max_steps 2 --output_dir runs/ppo   # PPO instead of GRPO
    referee report runs/demo                          # PNG plots and a summary of the curves
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from referee.verifiers import ConfigError

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    # The flags of `train` belong to TRL's parser (hundreds of GRPOConfig fields), so this parser passes
    # everything through untouched: no prefix character it knows means no argument looks like an option.
    p = sub.add_parser("train", help="GRPO (default) or PPO (--algo ppo) against a reward source "
                       "(flags: referee train --help)",
                       add_help=False, prefix_chars="\x00")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_train)

    r = sub.add_parser("report", help="write PNG plots of a training run's curves (reads RUN_DIR/metrics.jsonl)")
    r.add_argument("run_dir", type=Path, help="the run's --output_dir")
    r.add_argument("-o", "--out", type=Path, default=None, help="folder for the PNGs (default: RUN_DIR/plots)")
    r.set_defaults(func=_report)


def _algo(argv: list[str]) -> tuple[str, list[str]]:
    """`--algo NAME` (or `--algo=NAME`) taken out of the flags that go to TRL's parser."""
    for i, arg in enumerate(argv):
        if arg == "--algo" and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if arg.startswith("--algo="):
            return arg.partition("=")[2], argv[:i] + argv[i + 1:]
    return "grpo", argv


def _train(args: argparse.Namespace) -> int:
    algo, argv = _algo(list(args.argv))
    if algo == "ppo":
        from .ppo import train as train_ppo
        from .ppo_config import parse_ppo_args

        out = train_ppo(*parse_ppo_args(argv))
    elif algo == "grpo":
        from .config import parse_train_args
        from .grpo import train

        out = train(*parse_train_args(argv))
    else:
        raise ConfigError(f"--algo must be 'grpo' or 'ppo', got {algo!r}")
    print(f"done: model, metrics.jsonl and checkpoints in {out}; plot them with `referee report {out}`")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .metrics import METRICS_FILE, read_metrics
    from .report import summarize, write_report

    if not (args.run_dir / METRICS_FILE).is_file():
        from referee.verifiers import ConfigError

        raise ConfigError(f"{args.run_dir} has no {METRICS_FILE}; give the --output_dir of a training run")
    for path in write_report(args.run_dir, args.out):
        print(f"wrote {path}")
    print(json.dumps(summarize(read_metrics(args.run_dir)), indent=2))
    return 0
