"""The exception tree: the one drawing of every error referee raises on purpose. All are `RefereeError`s;
the ones defined in a higher layer are named with their module (a layer cannot import the ones above it).

    RefereeError                         the CLI prints one as a single line and exits 2, never a traceback
    ├── ConfigError                      bad options, settings, flags or input files: fail fast (HTTP 422)
    │   ├── ConstitutionError            judges.errors: a constitution cannot be used
    │   │   ├── ConstitutionNotFound     no such name or version; the message lists what exists (HTTP 404)
    │   │   └── InvalidConstitution      the file has lint errors; `.issues` has them with line numbers
    │   ├── SandboxUnavailable           verifiers.code.sandbox: this host cannot run the code sandbox
    │   └── DataError                    trainer.rows: a training file's row cannot be trained on (names the line)
    ├── RegistryError
    │   ├── UnknownSourceError           no source by that name; the message lists the available ones (HTTP 404)
    │   ├── DuplicateSourceError         two installed packages register the same name
    │   └── PluginLoadError              an entry point failed to import or is not a source factory
    ├── UnscoredError                    raised inside scoring code for one item; becomes an unscored Score
    │   ├── BackendError                 judges.errors: a judge backend failed (unscored `backend_error`)
    │   └── ReplicasFailed               service.scale.proxy: on Ray, every replica tried for a source's call
    │                                    died or was unreachable (unscored `worker_error`)
    ├── DeadlineExceeded                 verifiers.workers: a call ran past its deadline; its worker was killed
    ├── WorkerDied                       verifiers.workers: the worker process died mid-call (crash, memory)
    ├── ApiError                         service.errors: an HTTP error answer (status, detail), never a bare 500
    ├── RewardServiceError               service.client: the service refused a request (4xx), or stayed
    │   │                                unreachable past the client's retries or deadline
    │   └── ServiceStartError            service.local: a service started for a run or a test did not start
    └── TrainingError                    trainer.errors: a run stopped: the service was lost (a checkpoint was
                                         saved first), every reward stayed unscored, or it cannot resume

A failure of one item is data (an unscored `Score`), never an exception out of a batch. Plugins may raise
anything; `score_batch` turns it into `source_error` results at one boundary.

Not in the tree, on purpose: signals private to one module, raised and caught inside it, that never reach a
caller (the math parser's `ParseError`, `TooExpensive` and `Undefined`; the code sandbox's `InvalidReference`,
`SandboxFailure` and `ForkServerError`; the OpenAI graders' `SpecError`, `FormulaError`, `TemplateError`,
`VariableError`, `SampleParseError` and `RenderTooLong`; admission's `Overloaded`; the sandbox run queue's
`QueueFull`; the audit log's `DuplicateRequestId`, answered under a fresh id). Each becomes an unscored Score,
an `ApiError` or a retry at its module's edge. `tests/test_errors.py` checks this drawing against the code.
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
