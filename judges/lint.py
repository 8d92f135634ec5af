"""Lint a constitution file: the parser's findings plus advice, each with a line number.

    referee constitution lint constitutions/hhh/v2.md

Errors (the file cannot be used): missing front-matter fields, no principles, duplicate principle ids,
bad ids, missing or bad weights (not a number, <= 0), empty principles, a name or version that does not
match `<name>/v<N>.md`, and an edited released file. Warnings: an empty preamble, very long principles
(a small judge loses track), principles with the same text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .library import PACKAGE, released_manifest
from .parser import Issue, parse

__all__ = ["lint_bytes", "lint_path"]

LONG_PRINCIPLE_CHARS = 600


def lint_path(path: str | Path) -> list[Issue]:
    """Every issue in the file at `path`, sorted by line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [Issue(1, "unreadable", f"cannot read {path}: {exc.strerror or exc}")]
    issues = lint_bytes(data, path)
    released = _released_ref(path)
    if released is not None:
        ref, sha = released
        if hashlib.sha256(data).hexdigest() != sha:
            name = ref.split("@")[0]
            issues.insert(0, Issue(1, "released-edited",
                                   f"{ref} is released (RELEASED.json) and must not change; revert the edit and "
                                   f"write the change as a new version: `referee constitution new {name}`"))
    return issues


def lint_bytes(data: bytes, path: str | Path | None = None) -> list[Issue]:
    result = parse(data, path)
    issues = list(result.issues)
    c = result.constitution
    if c is not None:
        texts: dict[str, str] = {}
        for p in c.principles:
            if len(p.text) > LONG_PRINCIPLE_CHARS:
                issues.append(Issue(_line_of(data, f"## {p.id}"), "long-principle",
                                    f"principle {p.id!r} is {len(p.text)} characters; a small judge follows "
                                    f"short principles better (under {LONG_PRINCIPLE_CHARS})", "warning"))
            key = " ".join(p.text.lower().split())
            if key in texts:
                issues.append(Issue(_line_of(data, f"## {p.id}"), "same-text",
                                    f"principle {p.id!r} has the same text as {texts[key]!r}", "warning"))
            texts[key] = p.id
    return sorted(issues, key=lambda i: i.line)


def _line_of(data: bytes, heading: str) -> int:
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if line.rstrip() == heading:
            return n
    return 1


def _released_ref(path: Path) -> tuple[str, str] | None:
    """(`name@version`, sha256) when `path` is a shipped file listed in RELEASED.json."""
    from importlib.resources import files

    root = Path(str(files(PACKAGE))).resolve()
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        return None
    if len(rel.parts) != 2 or not rel.parts[1].startswith("v") or not rel.parts[1].endswith(".md"):
        return None
    ref = f"{rel.parts[0]}@{rel.parts[1][1:-3]}"
    sha = released_manifest().get(ref)
    return (ref, sha) if sha else None
