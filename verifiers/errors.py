"""The exception tree. Everything referee raises on purpose is a `RefereeError`:

    RefereeError
    ├── ConfigError              bad options or settings: fail fast (HTTP 422, or an error at start-up)
    ├── RegistryError
    │   ├── UnknownSourceError   no source by that name; the message lists the available ones (HTTP 404)
    │   ├── DuplicateSourceError two installed packages register the same name
    │   └── PluginLoadError      an entry point failed to import or is not a source factory
    └── UnscoredError            raised inside scoring code for one item; becomes an unscored Score

A failure of one item is data (an unscored `Score`), never an exception out of a batch. Plugins may raise
anything; `score_batch` turns it into `source_error` results at one boundary.
"""

from __future__ import annotations

from .contract import UnscoredReason

__all__ = [
    "ConfigError",
    "DuplicateSourceError",
    "PluginLoadError",
    "RefereeError",
    "RegistryError",
    "UnknownSourceError",
    "UnscoredError",
]


class RefereeError(Exception):
    """Base of every error referee raises on purpose."""


class ConfigError(RefereeError, ValueError):
    """Options or settings that cannot work; the message names the field, the value and the fix."""


class RegistryError(RefereeError):
    """A problem finding or loading a reward source."""


class UnknownSourceError(RegistryError, KeyError):
    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        names = ", ".join(available) or "(none installed)"
        super().__init__(f"source {name!r} is not registered; available: {names}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateSourceError(RegistryError):
    """Two entry points in the `referee.sources` group share a name."""


class PluginLoadError(RegistryError):
    """An entry point could not be imported, or what it names is not a source factory."""


class UnscoredError(RefereeError):
    """Raise from per-item scoring code to return an unscored Score with this reason."""

    def __init__(self, reason: UnscoredReason, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        # It must survive the trip out of a worker process; the default pickling would call
        # `cls(message)` and fail, and pebble would report the whole pool broken.
        return _rebuild_unscored, (type(self), self.reason, str(self))


def _rebuild_unscored(cls: type[UnscoredError], reason: UnscoredReason, message: str) -> UnscoredError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.reason = reason
    return exc
