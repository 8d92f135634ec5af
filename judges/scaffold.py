"""The text of a new constitution version: a copy of the latest one with the version bumped, or a skeleton.

    referee constitution new hhh --dir constitutions     # writes constitutions/hhh/v2.md from hhh@1
"""

from __future__ import annotations

from .constitution import Constitution

__all__ = ["render", "skeleton"]


def render(c: Constitution, *, version: int) -> str:
    """`c` as a file, at `version`. Parsing the result gives back the same principles and preamble."""
    lines = ["---", f"name: {c.name}", f"version: {version}", f"description: {c.description}", "---", "",
             c.preamble, "", "# Principles", ""]
    for p in c.principles:
        lines += [f"## {p.id}", f"weight: {p.weight:g}", p.text, ""]
    return "\n".join(lines)


def skeleton(name: str, *, version: int = 1) -> str:
    return f"""---
name: {name}
version: {version}
description: One line saying what this constitution judges.
---

What the judge should keep in mind for every principle (who wrote the reply, what matters, what does not).

# Principles

## first-principle
weight: 1
What a good reply does, in one or two sentences.
"""
