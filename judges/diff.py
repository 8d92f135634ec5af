"""What changed between two constitutions: metadata, preamble, and principles added, removed or changed.

    referee constitution diff hhh@1 hhh@2
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .constitution import Constitution

__all__ = ["ConstitutionDiff", "diff"]


@dataclass
class ConstitutionDiff:
    old: str
    new: str
    metadata: dict[str, tuple[str, str]] = field(default_factory=dict)
    preamble: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reweighted: dict[str, tuple[float, float]] = field(default_factory=dict)
    reworded: dict[str, list[str]] = field(default_factory=dict)
    reordered: bool = False

    @property
    def empty(self) -> bool:
        return not (self.metadata or self.preamble or self.added or self.removed or self.reweighted
                    or self.reworded or self.reordered)

    def format(self) -> str:
        out = [f"--- {self.old}", f"+++ {self.new}"]
        if self.empty:
            return "\n".join([*out, "(no differences in content)"])
        for key, (a, b) in self.metadata.items():
            out.append(f"{key}: {a!r} -> {b!r}")
        if self.preamble:
            out += ["preamble:", *(f"  {line}" for line in self.preamble)]
        out += [f"+ principle {pid}" for pid in self.added]
        out += [f"- principle {pid}" for pid in self.removed]
        out += [f"~ principle {pid}: weight {a:g} -> {b:g}" for pid, (a, b) in self.reweighted.items()]
        for pid, lines in self.reworded.items():
            out += [f"~ principle {pid}: text", *(f"  {line}" for line in lines)]
        if self.reordered:
            out.append("~ principles reordered")
        return "\n".join(out)


def _text_diff(a: str, b: str) -> list[str]:
    return [line for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=1)
            if not line.startswith(("---", "+++"))]


def diff(old: Constitution, new: Constitution) -> ConstitutionDiff:
    d = ConstitutionDiff(old.ref, new.ref)
    if old.description != new.description:
        d.metadata["description"] = (old.description, new.description)
    if old.name != new.name:
        d.metadata["name"] = (old.name, new.name)
    if old.preamble != new.preamble:
        d.preamble = _text_diff(old.preamble, new.preamble)
    a = {p.id: p for p in old.principles}
    b = {p.id: p for p in new.principles}
    d.added = [pid for pid in b if pid not in a]
    d.removed = [pid for pid in a if pid not in b]
    for pid in a.keys() & b.keys():
        if a[pid].weight != b[pid].weight:
            d.reweighted[pid] = (a[pid].weight, b[pid].weight)
        if a[pid].text != b[pid].text:
            d.reworded[pid] = _text_diff(a[pid].text, b[pid].text)
    common_old = [pid for pid in a if pid in b]
    common_new = [pid for pid in b if pid in a]
    d.reordered = common_old != common_new
    d.reweighted = dict(sorted(d.reweighted.items()))
    d.reworded = dict(sorted(d.reworded.items()))
    return d
