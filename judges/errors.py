"""The judges' part of the exception tree (the root is `referee.verifiers.RefereeError`):

    ConfigError                     (referee.verifiers) bad options: fail fast
    └── ConstitutionError           a constitution cannot be used
        ├── ConstitutionNotFound    no such name or version; the message lists what exists (HTTP 404)
        └── InvalidConstitution     the file has lint errors; `.issues` carries them with line numbers
    UnscoredError                   (referee.verifiers) one item could not be scored
    └── BackendError                a judge backend failed (unreachable, HTTP error, malformed reply)

A backend failure is data: the judge turns `BackendError` into an unscored `backend_error` score for the
items it concerns, never into a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from referee.verifiers import ConfigError, UnscoredError, UnscoredReason

if TYPE_CHECKING:
    from .parser import Issue

__all__ = ["BackendError", "ConstitutionError", "ConstitutionNotFound", "InvalidConstitution"]


class ConstitutionError(ConfigError):
    """A constitution cannot be used."""


class ConstitutionNotFound(ConstitutionError, LookupError):
    """No constitution by that name, or no such version of it."""


class InvalidConstitution(ConstitutionError):
    def __init__(self, where: str, issues: Sequence[Issue]) -> None:
        self.where = where
        self.issues = list(issues)
        errors = [i for i in issues if i.severity == "error"]
        shown = "; ".join(f"line {i.line}: {i.message}" for i in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"constitution {where} is invalid: {shown}{more}; run `referee constitution lint {where}`")


class BackendError(UnscoredError):
    """A judge backend call failed; becomes an unscored `backend_error` score."""

    def __init__(self, message: str) -> None:
        super().__init__(UnscoredReason.BACKEND_ERROR, message)
