"""Find constitutions: the released ones shipped in `referee.constitutions`, plus directories given explicitly
(the edges build the search path with `referee.judges.environment.constitution_dirs`).

    lib = ConstitutionLibrary(extra_dirs=[Path("my_constitutions")])
    lib.get("hhh")        # the latest version
    lib.get("hhh@1")      # a pinned version ("hhh@v1" works too)
    lib.resolve({"principles": [{"id": "p1", "text": "...", "weight": 1}]})   # inline

Each directory holds `<name>/v<N>.md` files. The same name and version in two places is an error (which
one would a score's provenance mean?). Shipped versions listed in `RELEASED.json` are immutable: the
manifest maps `name@version` to the file's sha256 and a test fails when a released file changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .constitution import Constitution, InlineConstitution, inline_constitution
from .errors import ConstitutionError, ConstitutionNotFound, InvalidConstitution
from .parser import parse

__all__ = ["PACKAGE", "ConstitutionLibrary", "Entry", "parse_ref", "released_manifest"]

PACKAGE = "referee.constitutions"
MANIFEST = "RELEASED.json"
_REF = re.compile(r"^([a-z0-9][a-z0-9_-]*)(?:@v?([1-9]\d*))?$")
_FILE = re.compile(r"^v([1-9]\d*)\.md$")


@dataclass(frozen=True)
class Entry:
    """One constitution file: where it lives and whether it ships with referee."""

    name: str
    version: int
    location: Traversable
    packaged: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`"hhh"` -> ("hhh", None) meaning the latest; `"hhh@2"` or `"hhh@v2"` -> ("hhh", 2)."""
    m = _REF.match(ref.strip())
    if m is None:
        raise ConstitutionNotFound(f"constitution reference {ref!r} is not NAME or NAME@VERSION (e.g. 'hhh@1')")
    return m.group(1), int(m.group(2)) if m.group(2) else None


def released_manifest() -> dict[str, str]:
    """The shipped `RELEASED.json`: {"name@version": sha256}."""
    data: dict[str, str] = json.loads(files(PACKAGE).joinpath(MANIFEST).read_text("utf-8"))
    return data


class ConstitutionLibrary:
    """The constitutions available to judges: shipped ones plus `extra_dirs`, scanned once."""

    def __init__(self, extra_dirs: Sequence[str | Path] = ()) -> None:
        self._entries: dict[str, dict[int, Entry]] = {}
        self._parsed: dict[str, Constitution] = {}
        self._released = released_manifest()
        shipped = files(PACKAGE)
        self._add_root(shipped, packaged=True)
        seen = {Path(str(shipped)).resolve()}  # inside the checkout, ./constitutions is the shipped folder
        for d in extra_dirs:
            path = Path(d).expanduser()
            if not path.is_dir():
                raise ConstitutionError(f"constitution directory {str(path)!r} does not exist or is not a folder")
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            self._add_root(path, packaged=False)

    def _add_root(self, root: Traversable, *, packaged: bool) -> None:
        for folder in sorted(root.iterdir(), key=lambda t: t.name):
            if not folder.is_dir() or folder.name.startswith(("_", ".")):
                continue
            for f in folder.iterdir():
                m = _FILE.match(f.name)
                if not (m and f.is_file()):
                    continue
                entry = Entry(folder.name, int(m.group(1)), f, packaged)
                versions = self._entries.setdefault(entry.name, {})
                if entry.version in versions:
                    raise ConstitutionError(
                        f"constitution {entry.ref} exists twice: {versions[entry.version].location} and {f}; "
                        "rename one (a changed constitution is a new version)"
                    )
                versions[entry.version] = entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def versions(self, name: str) -> list[int]:
        if name not in self._entries:
            available = ", ".join(self.names()) or "(none)"
            raise ConstitutionNotFound(f"no constitution named {name!r}; available: {available}")
        return sorted(self._entries[name])

    def entry(self, ref: str) -> Entry:
        name, version = parse_ref(ref)
        versions = self.versions(name)
        if version is None:
            version = versions[-1]
        if version not in versions:
            raise ConstitutionNotFound(f"constitution {name!r} has no version {version}; "
                                       f"available: {', '.join(f'{name}@{v}' for v in versions)}")
        return self._entries[name][version]

    def get(self, ref: str) -> Constitution:
        """The parsed constitution `NAME` (latest) or `NAME@VERSION`; raises `InvalidConstitution` on lint errors."""
        entry = self.entry(ref)
        if entry.ref not in self._parsed:
            result = parse(entry.location.read_bytes(), f"{entry.name}/{entry.location.name}")
            if result.constitution is None:
                raise InvalidConstitution(entry.ref, result.issues)
            self._parsed[entry.ref] = result.constitution
        return self._parsed[entry.ref]

    def resolve(self, spec: str | InlineConstitution | Mapping[str, Any]) -> Constitution:
        """A name reference, an `InlineConstitution`, or its dict form, as a `Constitution`."""
        if isinstance(spec, str):
            return self.get(spec)
        return inline_constitution(spec if isinstance(spec, InlineConstitution) else dict(spec))

    def entries(self) -> list[Entry]:
        return [e for name in self.names() for _, e in sorted(self._entries[name].items())]

    def is_released(self, constitution: Constitution) -> bool:
        """True when `constitution` is a shipped version whose content matches `RELEASED.json`."""
        return self._released.get(constitution.ref) == constitution.sha256
