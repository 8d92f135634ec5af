"""What the edges (service, CLI, trainer) tell the judges about the machine, once per `Runtime`.

Judges never read environment variables: the service's settings or the CLI's flags decide the cache
folder (where the embedded model is materialised) and extra constitution folders, and hand them over:

    configure_judges(runtime, JudgeEnvironment(cache_dir=Path(...), constitution_dirs=(Path(...),)))

before the first judge runs. Without that, judges use `~/.cache/referee` and the shipped constitutions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from referee.verifiers import ConfigError, Runtime

from .library import ConstitutionLibrary

__all__ = ["JudgeEnvironment", "configure_judges", "constitution_library", "default_cache_dir", "judge_environment"]

_ENV_KEY = "judges.environment"
_LIBRARY_KEY = "judges.library"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "referee"


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
