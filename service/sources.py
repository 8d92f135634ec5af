"""The service's view of the registry: which sources are enabled, and built source instances by options.

Building a source validates its options; instances are kept (least recently used first out) so a
trainer sending the same source and options every step pays that once.

Options come from two places: the operator's `source_options` setting (defaults for every request)
and the request's `options`, which override them. A field a source marks `operator_only` in its
Config (e.g. the code sandbox's `isolation`) may be set only by the operator: an API client must not
be able to weaken isolation by asking.

At start-up (`start()`), every enabled source is built with the operator's options and, if it has an
async `start()`, started, so a host that cannot run it (no sandbox support, say) is found before the
first request. A source the operator named explicitly then stops the service; one enabled only because
it is installed is left out, with the reason shown by /readyz.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from referee.verifiers import (
    Component,
    ConfigError,
    Registry,
    RegistryError,
    RewardSource,
    Runtime,
    SourceInfo,
    UnknownSourceError,
    WeightedMix,
    format_validation_error,
)

from .schemas import ComponentSpec, MixOptions

__all__ = ["EnabledSources"]

log = logging.getLogger(__name__)

_MAX_INSTANCES = 256


class EnabledSources:
    def __init__(self, registry: Registry, runtime: Runtime, enabled: Sequence[str] | None,
                 operator_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.registry = registry
        self.runtime = runtime
        self.explicit = enabled is not None
        names = list(enabled) if enabled is not None else registry.names()
        for name in names:
            registry.get(name)  # fail at start-up, not on the first request: unknown or broken plugin
        self.operator_options = {k: dict(v) for k, v in (operator_options or {}).items()}
        unknown = sorted(set(self.operator_options) - set(names))
        if unknown:
            raise ConfigError(f"source_options names source(s) that are not enabled: {', '.join(unknown)}; "
                              f"enabled: {', '.join(sorted(names))}")
        self._names = sorted(set(names))
        self.unavailable: dict[str, str] = {}
        self._instances: OrderedDict[str, RewardSource] = OrderedDict()

    async def start(self) -> None:
        """Build and start every enabled source now; see the module docstring for what a failure does."""
        for name in list(self._names):
            try:
                source = self.build(name, {})
                start = getattr(source, "start", None)
                if start is not None:
                    await start()
            except Exception as exc:
                if self.explicit:
                    raise
                log.warning("source %r is installed but cannot run here, so it is disabled: %s", name, exc)
                self.unavailable[name] = f"{type(exc).__name__}: {exc}"
                self._names.remove(name)

    def names(self) -> list[str]:
        return list(self._names)

    def info(self) -> list[SourceInfo]:
        return [self.registry.info(n) for n in self._names]

    def build(self, name: str, options: Mapping[str, Any], *, operator: bool = False) -> RewardSource:
        """The enabled source `name` with the operator's options overridden by `options`. `operator=True`
        only where the service itself chooses `options` (never from a request): operator-only fields allowed."""
        if name in self.unavailable:
            raise RegistryError(f"source {name!r} is installed but cannot run on this host: {self.unavailable[name]}")
        if name not in self._names:
            raise UnknownSourceError(name, self._names)
        locked = _operator_only(self.registry.get(name).Config)
        asked = [] if operator else sorted(locked & set(options))
        if asked:
            raise ConfigError(f"option(s) {', '.join(asked)} of source {name!r} can only be set by the operator "
                              "(service setting source_options), not per request")
        options = {**self.operator_options.get(name, {}), **options}
        key = name + "\0" + json.dumps(options, sort_keys=True, default=str)
        source = self._instances.get(key)
        if source is None:
            source = self._create(name, options)
            self._instances[key] = source
            if len(self._instances) > _MAX_INSTANCES:
                self._instances.popitem(last=False)
        else:
            self._instances.move_to_end(key)
        return source

    def _create(self, name: str, options: dict[str, Any]) -> RewardSource:
        """Build source `name` from its checked, merged options (the Ray ingress overrides this)."""
        return self.registry.create(name, options, self.runtime)

    def resolve(self, spec: str | Sequence[ComponentSpec], options: Mapping[str, Any]) -> RewardSource:
        """The source a request names: one source with `options`, or a weighted mix of components."""
        if isinstance(spec, str):
            return self.build(spec, options)
        if not spec:
            raise ConfigError("source: an empty list is no mix; give at least one {source, weight}")
        try:
            mix_options = MixOptions.model_validate(dict(options))
        except ValidationError as exc:
            raise ConfigError(f"options of a weighted mix: {format_validation_error(exc)}") from exc
        names = [c.source for c in spec]
        if len(set(names)) != len(names):
            raise ConfigError(f"source: each source may appear once in a mix, got {names}")
        components = [Component(self.build(c.source, c.options), c.weight) for c in spec]
        return WeightedMix(components, on_unscored=mix_options.on_unscored)


def _operator_only(config: type[BaseModel]) -> set[str]:
    return {name for name, field in config.model_fields.items()
            if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("operator_only")}
