"""`referee train` and `referee report`. Heavy imports (torch, trl) happen inside the commands.

    referee train --source math --dataset arithmetic --max_steps 2 --output_dir runs/demo
    referee train --config cfg.yaml --beta 0          # YAML first, flags override it
    referee train --output_dir runs/demo --resume true --max_steps 4   # the same run, continued to step 4
    referee train --help                              # every flag: ours first, then GRPOConfig's, ModelConfig's
    referee train --algo ppo --source math --max_steps 2 --output_dir runs/ppo   # PPO instead of GRPO
    referee report runs/demo                          # PNG plots and a summary of the curves
    referee best-of-n --dataset arithmetic --source math --n 8 --output_dir runs/bon   # SFT rows and pairs
    referee sft --data runs/bon/sft.jsonl --output_dir runs/sft          # TRL SFTTrainer
    referee rm train --data runs/bon/pairs.jsonl --output_dir runs/rm   # TRL RewardTrainer: a servable reward model
    referee revise --data rows.jsonl --constitution hhh --output_dir runs/revise      # constitutional revisions
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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

    b = sub.add_parser("best-of-n", help="sample N completions per prompt, score them through the service, write "
                       "the best as SFT rows and (best, worst) as preference pairs (flags: referee best-of-n --help)",
                       add_help=False, prefix_chars="\x00")
    b.add_argument("argv", nargs=argparse.REMAINDER)
    b.set_defaults(func=_best_of_n)

    s = sub.add_parser("sft", help="supervised fine-tuning (TRL SFTTrainer) on {prompt, completion} or {messages} "
                       "rows (flags: referee sft --help)", add_help=False, prefix_chars="\x00")
    s.add_argument("argv", nargs=argparse.REMAINDER)
    s.set_defaults(func=_sft)

    rm = sub.add_parser("rm", help="reward models: `referee rm train` (TRL RewardTrainer) on preference pairs")
    rm_sub = rm.add_subparsers(dest="rm_command", required=True, metavar="COMMAND")
    t = rm_sub.add_parser("train", help="train a servable reward model on {prompt, chosen, rejected} rows (flags: "
                          "referee rm train --help)", add_help=False, prefix_chars="\x00")
    t.add_argument("argv", nargs=argparse.REMAINDER)
    t.set_defaults(func=_rm_train)

    v = sub.add_parser("revise", help="critique completions against a constitution's principles and revise them "
                       "(Constitutional AI), writing the revisions as SFT rows (flags: referee revise --help)",
                       add_help=False, prefix_chars="\x00")
    v.add_argument("argv", nargs=argparse.REMAINDER)
    v.set_defaults(func=_revise)

    r = sub.add_parser("report", help="write PNG plots of a training run's curves (reads RUN_DIR/metrics.jsonl)")
    r.add_argument("run_dir", type=Path, help="the run's --output_dir")
    r.add_argument("-o", "--out", type=Path, default=None, help="folder for the PNGs (default: RUN_DIR/plots)")
    r.set_defaults(func=_report)


def _train(args: argparse.Namespace) -> int:
    from .run import done, run

    print(done(run(args.argv)))
    return 0


def _best_of_n(args: argparse.Namespace) -> int:
    from . import best_of_n

    return _write_rows(best_of_n.parse_best_of_n_args(args.argv), best_of_n)


def _write_rows(parsed: Any, command: Any) -> int:
    """Runs a command that writes row files (`best-of-n`, `revise`): its report on stderr, then the files."""
    print(command.report(command.run(parsed)), file=sys.stderr)
    for name in command.OUTPUT_FILES:
        print(f"wrote {Path(parsed.output_dir) / name}")
    return 0


def _sft(args: argparse.Namespace) -> int:
    from .sft import parse_sft_args, train

    out = train(*parse_sft_args(args.argv))
    print(f"done: model, metrics.jsonl and checkpoints in {out}; plot them with `referee report {out}`")
    return 0


def _rm_train(args: argparse.Namespace) -> int:
    from .rm import parse_rm_args, train

    out = train(*parse_rm_args(args.argv))
    print(f"done: a servable reward model in {out} (serve it with source_options: {{reward_model: {{model: {out}}}}}); "
          f"plot its curves with `referee report {out}`")
    return 0


def _revise(args: argparse.Namespace) -> int:
    from . import revise

    return _write_rows(revise.parse_revise_args(args.argv), revise)


def _report(args: argparse.Namespace) -> int:
    from .metrics import METRICS_FILE, read_metrics
    from .report import summarize, write_report

    if not (args.run_dir / METRICS_FILE).is_file():
        raise ConfigError(f"{args.run_dir} has no {METRICS_FILE}; give the --output_dir of a training run")
    for path in write_report(args.run_dir, args.out):
        print(f"wrote {path}")
    print(json.dumps(summarize(read_metrics(args.run_dir)), indent=2))
    return 0
