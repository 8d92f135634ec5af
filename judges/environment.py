"""What the edges (service, CLI, trainer) tell the judges about the machine, once per `Runtime`.

Judges never read environment variables: the service's settings or the CLI's flags decide the cache
folder (where the embedded model is materialised) and extra constitution folders, and hand them over:

    configure_judges(runtime, JudgeEnvironment(cache_dir=Path(...), constitution_dirs=(Path(...),)))

before the first judge runs. Without that, judges use `~/.cache/referee` and the shipped constitutions.

The edges find both the same way, through the functions here (the one place that names them):

- the cache folder: `cache_dir()`: a flag or setting if given, else `$REFEREE_CACHE`, else `~/.cache/referee`;
- the constitution search path: the shipped library, then `./constitutions` (where `referee constitution new`
  writes) when it exists, then the folders of `$REFEREE_CONSTITUTION_DIRS` (or the service setting
  `constitution_dirs`), then folders given with `--constitution_dir`: `constitution_dirs()`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from referee.verifiers import ConfigError, Runtime

from .library import ConstitutionLibrary

__all__ = ["CACHE_ENV", "CONSTITUTION_DIRS_ENV", "LOCAL_CONSTITUTIONS", "JudgeEnvironment", "cache_dir",
           "configure_judges", "constitution_dirs", "constitution_library", "default_cache_dir",
           "env_constitution_dirs", "judge_environment", "split_dirs"]

CACHE_ENV = "REFEREE_CACHE"
CONSTITUTION_DIRS_ENV = "REFEREE_CONSTITUTION_DIRS"
LOCAL_CONSTITUTIONS = Path("constitutions")
"""Relative to the working directory: where `referee constitution new` writes by default."""

_ENV_KEY = "judges.environment"
_LIBRARY_KEY = "judges.library"


def default_cache_dir() -> Path:
    """`~/.cache/referee`, expanded: the cache folder when nothing names another."""
    return Path.home() / ".cache" / "referee"


def cache_dir(explicit: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The cache folder, for the edges: `explicit` (a flag or setting) if given, else `$REFEREE_CACHE`, else
    `~/.cache/referee`; expanded."""
    chosen = explicit if explicit not in (None, "") else environ.get(CACHE_ENV) or default_cache_dir()
    return Path(chosen).expanduser()


def split_dirs(text: str) -> list[Path]:
    """A folder list as an environment variable holds it: a JSON list, or paths separated by `os.pathsep`."""
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONSTITUTION_DIRS_ENV}: not a JSON list of folders ({exc.msg}); give a JSON list "
                              f"or folders separated by {os.pathsep!r}") from exc
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{CONSTITUTION_DIRS_ENV}: expected a JSON list of folder names, got {text!r}")
        return [Path(i) for i in items]
    return [Path(p) for p in text.split(os.pathsep) if p.strip()]


def env_constitution_dirs(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """The folders named by `$REFEREE_CONSTITUTION_DIRS` (none if unset)."""
    return split_dirs(environ.get(CONSTITUTION_DIRS_ENV, ""))


def constitution_dirs(configured: Sequence[str | Path] = ()) -> tuple[Path, ...]:
    """The user folders searched after the shipped library, in order: `./constitutions` when it exists, then
    `configured` (the setting or `$REFEREE_CONSTITUTION_DIRS`, then `--constitution_dir` flags). A folder named
    twice is searched once."""
    candidates = ([LOCAL_CONSTITUTIONS] if LOCAL_CONSTITUTIONS.is_dir() else []) + [Path(d) for d in configured]
    out: list[Path] = []
    seen: set[Path] = set()
    for d in candidates:
        path = d.expanduser()
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return tuple(out)


@dataclass(frozen=True)
class JudgeEnvironment:
    cache_dir: Path = field(default_factory=default_cache_dir)
    """Where the embedded model is materialised (`<cache_dir>/models/...`)."""
    constitution_dirs: tuple[Path, ...] = ()
    """Folders of `<name>/v<N>.md` constitutions, besides the shipped ones."""


def configure_judges(runtime: Runtime, env: JudgeEnvironment) -> None:
    """Set the judges' environment for `runtime`; an error if judges already run with a different one."""
    current = runtime.resource(_ENV_KEY, lambda: env)
    if current != env:
        raise ConfigError(f"judges on this runtime already use {current}; configure them before the first judge runs")


def judge_environment(runtime: Runtime) -> JudgeEnvironment:
    return runtime.resource(_ENV_KEY, JudgeEnvironment)


def constitution_library(runtime: Runtime) -> ConstitutionLibrary:
    """The runtime's constitution library (shipped plus configured folders), scanned once."""
    env = judge_environment(runtime)
    return runtime.resource(_LIBRARY_KEY, lambda: ConstitutionLibrary(env.constitution_dirs))
