"""The exception tree is closed: every exception a package exports is a `RefereeError` drawn in the one docstring
(`referee.verifiers.errors`), or one of the module-private signals that docstring names as never leaving their
module."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import referee.verifiers.errors as errors_module
from referee.verifiers import RefereeError

_PACKAGES = ("referee.verifiers", "referee.judges", "referee.service", "referee.trainer")
# Runs inside the sandbox only (the host sends it; the fork server reads its parameters at import); and the Ray
# deployments, which import Ray (an optional extra) at import and export no exception.
_SKIP = ("referee.verifiers.code.inside.", "referee.service.scale.replica")


def _exported_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in _PACKAGES:
        root = importlib.import_module(package)
        names = [package, *(m.name for m in pkgutil.walk_packages(root.__path__, package + "."))]
        for name in names:
            if name.startswith(_SKIP):
                continue
            module = importlib.import_module(name)
            for attr in getattr(module, "__all__", ()):
                obj = getattr(module, attr, None)
                if inspect.isclass(obj) and issubclass(obj, BaseException):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def _drawing() -> tuple[set[str], set[str]]:
    """(names in the tree drawing, names listed as module-private signals)."""
    doc = errors_module.__doc__ or ""
    tree, _, rest = doc.partition("A failure of one item")
    drawn = set(re.findall(r"[├└]── (\w+)", tree)) | {"RefereeError"}
    private = set(re.findall(r"`(\w+)`", rest.partition("Not in the tree")[2]))
    return drawn, private


def test_every_exported_exception_is_drawn_or_named_private() -> None:
    drawn, private = _drawing()
    exported = _exported_exceptions()
    assert {"ApiError", "RewardServiceError", "TrainingError", "ConstitutionError"} <= {c.__name__ for c in
                                                                                     exported.values()}
    missing = []
    for where, cls in sorted(exported.items()):
        if cls.__name__ in drawn:
            if not issubclass(cls, RefereeError):
                missing.append(f"{where} is drawn in the tree but is not a RefereeError")
        elif cls.__name__ not in private:
            missing.append(f"{where} is neither drawn in referee.verifiers.errors nor named a module-private signal")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("name", ["ApiError", "RewardServiceError", "ServiceStartError", "TrainingError",
                                  "DeadlineExceeded", "WorkerDied", "BackendError", "InvalidConstitution"])
def test_the_drawing_names_the_errors_of_every_layer(name: str) -> None:
    drawn, _ = _drawing()
    assert name in drawn
