"""The `referee` command. Each layer adds its own subcommands through an `add_parsers(subparsers)`
function in its `cli` module; those modules import heavy libraries only inside the commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from referee.verifiers import RefereeError

__all__ = ["build_parser", "main"]

# Order is the order of `referee --help`. A layer's cli module that is not written yet is skipped.
_COMMAND_MODULES = ("referee.service.cli", "referee.service.audit_cli", "referee.judges.cli", "referee.trainer.cli",
                    "referee.demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="referee", description="Reward service for RL post-training.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RefereeError as exc:
        print(f"referee: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
