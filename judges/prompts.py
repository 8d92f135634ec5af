"""Judge prompt templates: text files beside this module, `templates/<name>.v<N>.txt`.

A template has sections, each opened by a `[section]` line (`[system]`, `[user]`, ...), with
`{{placeholder}}` slots. `render` fills every slot in one pass with `re.sub`: a value is never scanned
again, so a response containing `{{principle}}` or `{}` stays literal (`str.format` breaks on braces, and
chained `replace` would substitute inside earlier values). A slot without a value is an error, never a
silent blank. The template's name, version and sha256 go into every score's provenance.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

__all__ = ["Template", "load_template", "substitute"]

_SLOT = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^\[([a-z_]+)\]\s*$")
_FILE = re.compile(r"^([a-z_]+)\.v([1-9]\d*)\.txt$")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Fill `{{name}}` slots from `values` in one pass; a slot with no value raises `KeyError`."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(f"template slot {{{{{name}}}}} has no value; given: {', '.join(sorted(values))}")
        return values[name]

    return _SLOT.sub(fill, text)


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    sections: dict[str, str]
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.name}.v{self.version}"

    @property
    def slots(self) -> set[str]:
        return {m.group(1) for text in self.sections.values() for m in _SLOT.finditer(text)}

    def render(self, section: str, values: Mapping[str, str]) -> str:
        return substitute(self.sections[section], values).strip()


@cache
def load_template(ref: str) -> Template:
    """The template `name.vN` shipped in `referee.judges/templates`."""
    m = _FILE.match(f"{ref}.txt")
    if m is None:
        raise ValueError(f"template reference {ref!r} is not NAME.vN (e.g. 'pointwise.v1')")
    raw = files("referee.judges").joinpath("templates", f"{ref}.txt").read_bytes()
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in raw.decode("utf-8").splitlines():
        sec = _SECTION.match(line)
        if sec:
            current = sections.setdefault(sec.group(1), [])
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise ValueError(f"template {ref}: text before the first [section] line: {line!r}")
    return Template(m.group(1), int(m.group(2)), {k: "\n".join(v) for k, v in sections.items()},
                    hashlib.sha256(raw).hexdigest())
