"""The one registry of reward sources: the `referee.sources` entry-point group.

Built-in sources register through referee's own `[project.entry-points."referee.sources"]` table, exactly
as a third-party package does:

    [project.entry-points."referee.sources"]
    mysource = "my_package.module:MySource"

Entry points are listed without importing them; a source is imported the first time it is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from .contract import RewardSource, SourceFactory
from .errors import ConfigError, DuplicateSourceError, PluginLoadError, UnknownSourceError
from .runtime import Runtime

__all__ = ["ENTRY_POINT_GROUP", "Registry", "SourceInfo", "format_validation_error"]

ENTRY_POINT_GROUP = "referee.sources"


class SourceInfo(BaseModel):
    name: str
    version: str
    description: str
    options_schema: dict[str, Any]
    provider: str


class Registry:
    """The installed reward sources, by name."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self._entry_points: dict[str, EntryPoint] = {}
        for ep in entry_points(group=group):
            if ep.name in self._entry_points:
                first = self._entry_points[ep.name]
                raise DuplicateSourceError(
                    f"source name {ep.name!r} is registered twice: by {_provider(first)} ({first.value}) and "
                    f"by {_provider(ep)} ({ep.value}); uninstall one of the packages or rename its entry point"
                )
            self._entry_points[ep.name] = ep
        self._loaded: dict[str, SourceFactory] = {}

    def names(self) -> list[str]:
        return sorted(self._entry_points)

    def get(self, name: str) -> SourceFactory:
        """The factory (usually a class) registered as `name`; imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        ep = self._entry_points.get(name)
        if ep is None:
            raise UnknownSourceError(name, self.names())
        try:
            factory = ep.load()
        except Exception as exc:
            raise PluginLoadError(
                f"source {name!r} ({ep.value}, from {_provider(ep)}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        missing = [a for a in ("name", "version", "description", "Config") if not hasattr(factory, a)]
        if missing or not callable(factory):
            raise PluginLoadError(
                f"source {name!r} ({ep.value}) is not a source factory: it lacks {', '.join(missing) or '__call__'}; "
                "see referee.verifiers.SourceFactory"
            )
        if not (inspect.isclass(factory.Config) and issubclass(factory.Config, BaseModel)):
            raise PluginLoadError(f"source {name!r} ({ep.value}): Config must be a pydantic BaseModel subclass")
        self._loaded[name] = factory
        return factory

    def config(self, name: str, options: Mapping[str, Any] | BaseModel | None = None) -> BaseModel:
        """Validate `options` against the source's `Config`; raises `ConfigError` naming each bad field."""
        factory = self.get(name)
        if isinstance(options, factory.Config):
            return options
        try:
            return factory.Config.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid options for source {name!r}: {format_validation_error(exc)}") from exc

    def create(self, name: str, options: Mapping[str, Any] | BaseModel | None, runtime: Runtime) -> RewardSource:
        """Build source `name` with validated `options` on `runtime`."""
        factory = self.get(name)
        return factory(self.config(name, options), runtime)

    def worker_preload(self, names: list[str]) -> list[str]:
        """Modules the named sources ask the worker pool to import up front (`worker_preload`)."""
        modules: list[str] = []
        for name in names:
            for module in getattr(self.get(name), "worker_preload", ()):
                if module not in modules:
                    modules.append(module)
        return modules

    def info(self, name: str) -> SourceInfo:
        factory = self.get(name)
        return SourceInfo(
            name=name,
            version=str(factory.version),
            description=str(factory.description),
            options_schema=factory.Config.model_json_schema(),
            provider=_provider(self._entry_points[name]),
        )


def format_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `field.path: message (got value)`, joined by '; '."""
    parts = []
    for err in exc.errors():
        if not err["loc"]:  # a whole-model check: its input is everything given, secrets included
            parts.append(err["msg"])
            continue
        loc = ".".join(str(p) for p in err["loc"])
        got = repr(err.get("input"))
        if len(got) > 60:
            got = got[:57] + "..."
        parts.append(f"{loc}: {err['msg']} (got {got})")
    return "; ".join(parts)


def _provider(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown package"
