"""The `referee` command. Each layer adds its own subcommands through an `add_parsers(subparsers)`
function in its `cli` module; those modules import heavy libraries only inside the commands.

One flag convention everywhere, TRL's: words joined by underscores (`--output_dir`, `--api_key`), and the
hyphen spelling accepted as an alias (`--output-dir`, `--api-key`). Errors are one line on stderr and exit
code 2: a `RefereeError` (bad input, a service that is down, ...), a file that cannot be opened, or a flag
argparse refuses. Anything else is a bug in referee and keeps its traceback.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from referee.verifiers import RefereeError

__all__ = ["CommandParser", "build_parser", "main", "one_line"]

# Order is the order of `referee --help`.
_COMMAND_MODULES = ("referee.service.cli", "referee.service.audit_cli", "referee.judges.cli",
                    "referee.service.prefs_cli", "referee.trainer.cli", "referee.demo")


def _spellings(option: str) -> list[str]:
    """`--output-dir` -> ['--output_dir', '--output-dir']: the underscore form first (it names the dest)."""
    if not option.startswith("--") or not any(c in option[2:] for c in "-_"):
        return [option]
    words = option[2:].replace("-", "_")
    return [f"--{words}", f"--{words.replace('_', '-')}"]


class _Formatter(argparse.HelpFormatter):
    """Shows each flag once, in its underscore spelling; the hyphen alias works but is not listed."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if action.option_strings:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings
                                     if not (s.startswith("--") and "-" in s[2:]
                                             and f"--{s[2:].replace('-', '_')}" in action.option_strings)]
        return super()._format_action_invocation(action)


class CommandParser(argparse.ArgumentParser):
    """argparse with referee's conventions: every `--multi_word` flag also answers to `--multi-word`, and a
    refused command line is one line on stderr (no usage block), exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        spelled = [s for name in names for s in _spellings(name)]
        return super().add_argument(*spelled, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="referee", description="Reward service for RL post-training. Flags take "
                           "underscores or hyphens: --output_dir or --output-dir.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def one_line(exc: BaseException) -> str:
    """An error message as one line: whitespace, newlines included, collapsed."""
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    where = f"referee {args.command}"
    try:
        return int(args.func(args) or 0)
    except RefereeError as exc:
        print(f"{where}: error: {one_line(exc)}", file=sys.stderr)
    except BrokenPipeError:
        # The reader went away (`referee score ... | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        if exc.filename is None:
            raise
        print(f"{where}: error: {exc.filename}: {exc.strerror or one_line(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
