"""The training commands' parser: TRL's `TrlParser` with referee's conventions, and the saved run configuration.

    args, cfg, model = parse_config((RefereeArgs, GRPOConfig, ModelConfig), TRAIN_DEFAULTS, argv, prog="referee train")

Every field of the dataclasses is a flag (`--max_steps` or `--max-steps`); `--config FILE.yaml` sets values
first and flags override them, as with TRL. What this adds:

- One-line errors: an unknown flag or YAML key, a value of the wrong type or a config the dataclasses refuse is
  a `ConfigError` naming it (with the closest known name), never TRL's `fail_with_unknown_args` hint.
- Readable help: referee's own flags (`--algo`, `--config`, then `RefereeArgs`) first, then TRL's, each
  dataclass under its own heading.
- The run's configuration: what was given (the YAML file's values and the flags, not the defaults) is saved as
  `<output_dir>/run_config.yaml` when a run starts. `--resume true` reloads it, so a resumed run is the same run
  (same steps, source, data, model); flags given with `--resume` override the saved values where given, and are
  saved in turn. Not saved: `resume`, `overwrite` (they belong to one invocation) and `api_key` (a secret; give
  it again or set REFEREE_API_KEY). The file is itself a valid `--config`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from referee.verifiers import ConfigError, RefereeError

__all__ = ["ALGOS", "RUN_CONFIG_FILE", "choose_algo", "load_run_config", "parse_config", "save_run_config"]

ALGOS = ("grpo", "ppo", "dpo", "kto", "online_dpo")
RUN_CONFIG_FILE = "run_config.yaml"
_NOT_SAVED = frozenset({"resume", "overwrite", "api_key"})
_TITLES = {
    "RefereeArgs": "referee: algorithm, reward source, service, data, held-out set, run folder",
    "GRPOConfig": "TRL GRPOConfig: the GRPO trainer (transformers TrainingArguments plus GRPO's fields)",
    "PPOConfig": "PPOConfig: the PPO trainer (transformers TrainingArguments plus PPO's fields, trainer/ppo_config.py)",
    "ModelConfig": "TRL ModelConfig: the policy model, dtype, LoRA",
    "PreferenceArgs": "referee: the labelled rows DPO or KTO trains on",
    "OnlineArgs": "referee: online DPO's rounds (sample, label through the service, train)",
    "DPOConfig": "TRL DPOConfig: the DPO trainer (transformers TrainingArguments plus DPO's fields)",
    "KTOConfig": "TRL KTOConfig: the KTO trainer (transformers TrainingArguments plus KTO's fields)",
    "ReviseArgs": "referee revise: the rows, the constitution and its principles, the model, the output folder",
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _close(word: str, known: Sequence[str]) -> str:
    match = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag once, in its underscore spelling (the hyphen alias works but is not listed), with its default."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if len(action.option_strings) > 1:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings
                                     if not (s.startswith("--") and "-" in s[2:]
                                             and f"--{s[2:].replace('-', '_')}" in action.option_strings)]
        return super()._format_action_invocation(action)


class _Parser:
    """Builds the `TrlParser` for `types` and parses a command line with the conventions above."""

    def __init__(self, types: Sequence[type], defaults: Mapping[str, Any], *, prog: str, description: str,
                 usage: str | None = None) -> None:
        from trl import TrlParser

        class Parser(TrlParser):
            def error(self, message: str) -> Any:  # argparse's usage-plus-message, as one ConfigError
                raise ConfigError(f"{message}; `{prog} --help` lists the flags")

        self.types = list(types)
        self.prog = prog
        self.parser = Parser(self.types, prog=prog, description=description,  # type: ignore[arg-type]
                             usage=usage or f"referee train [--algo {'|'.join(ALGOS)}] [--config FILE.yaml] "
                             "[--FLAG VALUE ...]",
                             formatter_class=_Formatter, allow_abbrev=False)  # a typo is no abbreviation
        self._group_by_dataclass()
        self.actions = {a.dest: a for a in self.parser._actions if a.dest not in ("help", "config")}
        self.parser.set_defaults(**{k: v for k, v in defaults.items() if k in self.actions})  # shown by --help

    def _group_by_dataclass(self) -> None:
        """Each dataclass's flags under its own heading, in the order of `types`; `--config` after `--algo`."""
        optionals = self.parser._optionals
        for dtype in self.types:
            names = {f.name for f in dataclasses.fields(dtype) if f.init}
            group = self.parser.add_argument_group(_TITLES.get(dtype.__name__, dtype.__name__))
            moved = [a for a in optionals._group_actions if a.dest in names]
            optionals._group_actions = [a for a in optionals._group_actions if a not in moved]
            group._group_actions.extend(moved)
            if dtype is self.types[0]:
                config = group.add_argument("--config", metavar="FILE.yaml", help="YAML file of flag values, read "
                                            "first; flags on the command line override it")
                group._group_actions.remove(config)
                group._group_actions.insert(1 if moved and moved[0].dest == "algo" else 0, config)

    def explicit(self, argv: Sequence[str]) -> dict[str, Any]:
        """The flags given on the command line (typed), without the defaults."""
        defaults = {a: a.default for a in self.parser._actions}
        parser_defaults, self.parser._defaults = self.parser._defaults, {}  # set_defaults() keeps a copy here
        for a in self.parser._actions:
            if a.dest != "help":
                a.default = argparse.SUPPRESS
        try:
            namespace, rest = self.parser.parse_known_args(list(argv))
        finally:
            self.parser._defaults = parser_defaults
            for a, default in defaults.items():
                a.default = default
        if rest:
            flag = next((r for r in rest if r.startswith("-")), rest[0])
            known = [s for a in self.parser._actions for s in a.option_strings]
            raise ConfigError(f"unknown flag {flag!r}{_close(flag.split('=')[0], known)}; `{self.prog} --help` "
                              "lists the flags")
        return {k: v for k, v in vars(namespace).items() if k != "config"}

    def read_config(self, path: str) -> dict[str, Any]:
        """A `--config` YAML file as {field: value}, every key checked and string values typed like flags."""
        try:
            config = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"--config {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {path}: not YAML: {_one_line(exc)}") from exc
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise ConfigError(f"--config {path}: expected a mapping of flag names to values, got "
                              f"{type(config).__name__}")
        env = config.pop("env", None)  # TRL's convention: environment variables to set
        if env is not None:
            if not isinstance(env, dict):
                raise ConfigError(f"--config {path}: `env` must be a mapping of variable names to values")
            for key, value in env.items():
                os.environ[str(key)] = str(value)
        out = {}
        for key, value in config.items():
            action = self.actions.get(str(key).replace("-", "_"))
            if action is None:
                raise ConfigError(f"--config {path}: unknown key {key!r}{_close(str(key), list(self.actions))}; the "
                                  f"keys are the flags' names (`{self.prog} --help`)")
            out[action.dest] = _typed(action, value, f"--config {path}: {key}")
        return out

    def build(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The dataclasses from `values` (the rest keep their own defaults); their own checks become ConfigErrors."""
        objects = []
        for dtype in self.types:
            names = {f.name for f in dataclasses.fields(dtype) if f.init}
            try:
                objects.append(dtype(**{k: v for k, v in values.items() if k in names}))
            except RefereeError:
                raise
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"invalid {dtype.__name__}: {_one_line(exc)}") from exc
        return tuple(objects)


def _typed(action: argparse.Action, value: Any, where: str) -> Any:
    """A YAML value as the flag would have parsed it: YAML reads `1e-5` as text, for instance."""
    convert = action.type if callable(action.type) and action.type is not str else None
    if convert is None:
        return value
    try:
        if isinstance(value, str):
            return convert(value)
        if isinstance(value, list):
            return [convert(v) if isinstance(v, str) else v for v in value]
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a valid value ({_one_line(exc)})") from exc
    return value


def _pop_config(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a file: --config FILE.yaml")
            path = argv[i + 1]
            del argv[i : i + 2]
            return path
        if arg.startswith("--config="):
            del argv[i]
            return arg.partition("=")[2]
    return None


def parse_config(types: Sequence[type], defaults: Mapping[str, Any], argv: Sequence[str] | None, *, prog: str,
                 description: str, usage: str | None = None) -> tuple[Any, ...]:
    """(RefereeArgs, trainer config, ModelConfig) from `defaults` < saved run config (with --resume) < the
    `--config` file < flags. The first dataclass must have a `run_config` field: it gets what was given."""
    parser = _Parser(types, defaults, prog=prog, description=description, usage=usage)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser.parser.print_help()
        sys.exit(0)
    config_path = _pop_config(argv)
    given = parser.read_config(config_path) if config_path else {}
    given.update(parser.explicit(argv))
    if given.get("resume"):
        out = Path(str(given.get("output_dir") or defaults["output_dir"]))
        saved = load_run_config(out)
        if saved is None:
            print(f"note: {out} has no {RUN_CONFIG_FILE} (a run older than it): resuming with the flags given now",
                  file=sys.stderr)
        else:
            algo = saved.get("algo", "grpo")
            if given.get("algo", defaults.get("algo", algo)) != algo:
                raise ConfigError(f"{out} holds a {algo} run; resume it with --algo {algo}, or start another run "
                                  "in another --output_dir")
            unknown = sorted(set(saved) - set(parser.actions) - {"algo"})  # `referee sft` has no --algo flag
            if unknown:
                raise ConfigError(f"{out / RUN_CONFIG_FILE} has keys this version does not know: {', '.join(unknown)}; "
                                  "remove them from the file")
            given = {**saved, **given}
    objects = parser.build({**defaults, **given})
    objects[0].run_config = given
    return objects


def save_run_config(out: Path, algo: str, given: Mapping[str, Any]) -> Path:
    """Writes `<out>/run_config.yaml`: the algorithm and the values given (see the module docstring)."""
    data = {"algo": algo, **{k: _plain(v) for k, v in sorted(given.items()) if k not in _NOT_SAVED and k != "algo"}}
    path = out / RUN_CONFIG_FILE
    path.write_text("# The configuration this run was started (or last resumed) with; `--resume true` reloads it.\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


def load_run_config(out: Path) -> dict[str, Any] | None:
    """The saved configuration of the run in `out`, or None if it has none."""
    path = out / RUN_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not YAML ({_one_line(exc)}); fix it, or delete it to resume with the flags "
                          "given now") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of flag names to values")
    return data


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(getattr(value, "value", value))


def choose_algo(argv: Sequence[str], default: str = "grpo") -> str:
    """The algorithm a command line asks for: `--algo`, else the `--config` file's `algo`, else (with `--resume`)
    the saved run's, else `default`. Read before parsing, since it decides which dataclasses parse the rest."""
    peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    peek.add_argument("--algo")
    peek.add_argument("--config")
    peek.add_argument("--resume", nargs="?", const="true")
    peek.add_argument("--output_dir", "--output-dir")
    known, _ = peek.parse_known_args(list(argv))
    values: dict[str, Any] = {}
    if known.config:
        try:
            config = yaml.safe_load(Path(known.config).read_text())
        except OSError as exc:
            raise ConfigError(f"--config {known.config}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {known.config}: not YAML: {_one_line(exc)}") from exc
        values = {str(k).replace("-", "_"): v for k, v in config.items()} if isinstance(config, dict) else {}
    algo = known.algo or values.get("algo")
    resume = known.resume if known.resume is not None else values.get("resume")
    output_dir = known.output_dir or values.get("output_dir")
    if algo is None and str(resume).lower() in ("true", "1", "yes") and output_dir:
        algo = (load_run_config(Path(str(output_dir))) or {}).get("algo")
    algo = str(algo or default)
    if algo not in ALGOS:
        raise ConfigError(f"--algo must be one of {', '.join(ALGOS)}, got {algo!r}")
    return algo
