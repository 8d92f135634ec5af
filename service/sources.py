"""The service's view of the registry: which sources are enabled, and built source instances by options.

Building a source validates its options; instances are kept (least recently used first out) so a
trainer sending the same source and options every step pays that once.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from referee.verifiers import (
    Component,
    ConfigError,
    Registry,
    RewardSource,
    Runtime,
    SourceInfo,
    UnknownSourceError,
    WeightedMix,
    format_validation_error,
)

from .schemas import ComponentSpec, MixOptions

__all__ = ["EnabledSources"]

_MAX_INSTANCES = 256


class EnabledSources:
    def __init__(self, registry: Registry, runtime: Runtime, enabled: Sequence[str] | None) -> None:
        self.registry = registry
        self.runtime = runtime
        installed = registry.names()
        names = list(enabled) if enabled is not None else installed
        for name in names:
            registry.get(name)  # fail at start-up, not on the first request: unknown or broken plugin
        self._names = sorted(set(names))
        self._instances: OrderedDict[str, RewardSource] = OrderedDict()

    def names(self) -> list[str]:
        return list(self._names)

    def info(self) -> list[SourceInfo]:
        return [self.registry.info(n) for n in self._names]

    def build(self, name: str, options: Mapping[str, Any]) -> RewardSource:
        if name not in self._names:
            raise UnknownSourceError(name, self._names)
        key = name + "\0" + json.dumps(options, sort_keys=True, default=str)
        source = self._instances.get(key)
        if source is None:
            source = self.registry.create(name, options, self.runtime)
            self._instances[key] = source
            if len(self._instances) > _MAX_INSTANCES:
                self._instances.popitem(last=False)
        else:
            self._instances.move_to_end(key)
        return source

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
