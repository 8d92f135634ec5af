"""Read a constitution file, reporting every problem with its line number.

The file format (`constitutions/<name>/v<N>.md`):

    ---
    name: concise
    version: 1
    description: Short, direct answers.
    ---

    Free-text preamble: what the judge should keep in mind for every principle.

    # Principles

    ## direct
    weight: 2
    The response answers the question in its first sentence.

    ## no-padding
    weight: 1
    The response has no filler, repetition or restated question.

Everything before `# Principles` (after the front matter) is the preamble. Each `## <id>` heading starts
a principle; its first non-blank line is `weight: <number>` and the rest is its text. `parse` never raises
on a bad file: it returns the issues (the linter's findings) and a `Constitution` only if none is an error.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from pydantic import ValidationError

from .constitution import ID_PATTERN, Constitution, Principle

__all__ = ["Issue", "ParseResult", "parse"]

FRONT_MATTER_KEYS = ("name", "version", "description")
_KEY_VALUE = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_PRINCIPLES = re.compile(r"^#\s+principles\s*$", re.IGNORECASE)
_H1 = re.compile(r"^#\s")
_H2 = re.compile(r"^##\s+(.*?)\s*$")
_WEIGHT = re.compile(r"^weight\s*:\s*(.*?)\s*$", re.IGNORECASE)
_FILE_VERSION = re.compile(r"^v([1-9]\d*)\.md$")


@dataclass(frozen=True)
class Issue:
    """One finding: `line` is 1-based; errors make the file unusable, warnings do not."""

    line: int
    code: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def format(self, path: str = "<text>") -> str:
        return f"{path}:{self.line}: {self.severity} [{self.code}] {self.message}"


@dataclass(frozen=True)
class ParseResult:
    constitution: Constitution | None
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


@dataclass
class _Draft:
    id: str
    line: int
    weight: float | None = None
    weight_line: int | None = None
    text_lines: list[str] | None = None


def parse(data: bytes | str, path: str | PurePath | None = None) -> ParseResult:
    """Parse a constitution file's content; with `path`, also check it against `<name>/v<N>.md`."""
    raw = data.encode() if isinstance(data, str) else data
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParseResult(None, (Issue(1, "encoding", f"the file is not UTF-8 ({exc.reason} at byte {exc.start})"),))
    issues: list[Issue] = []
    lines = text.splitlines()

    meta, body_start = _front_matter(lines, issues)
    preamble_lines: list[str] = []
    principles_at: int | None = None
    for i in range(body_start, len(lines)):
        if _PRINCIPLES.match(lines[i]):
            principles_at = i
            break
        preamble_lines.append(lines[i])
    if principles_at is None:
        issues.append(Issue(len(lines) or 1, "missing-field",
                            "no '# Principles' heading; add one before the principles"))
        drafts: list[_Draft] = []
    else:
        drafts = _principles(lines, principles_at + 1, issues)

    preamble = "\n".join(preamble_lines).strip()
    if principles_at is not None and not preamble:
        issues.append(Issue(principles_at + 1, "empty-preamble",
                            "the preamble is empty; say what the judge should keep in mind", "warning"))
    if path is not None:
        _check_path(PurePath(path), meta, issues)

    if any(i.severity == "error" for i in issues):
        return ParseResult(None, tuple(sorted(issues, key=lambda i: i.line)))
    try:
        constitution = Constitution(
            name=meta["name"][0], version=int(meta["version"][0]), description=meta["description"][0],
            preamble=preamble,
            principles=tuple(Principle(id=d.id, text="\n".join(d.text_lines or []).strip(), weight=d.weight or 1.0)
                             for d in drafts),
            sha256=sha,
        )
    except ValidationError as exc:  # every rule is checked above with a line number; this is a backstop
        issues.append(Issue(1, "invalid", str(exc)))
        return ParseResult(None, tuple(issues))
    return ParseResult(constitution, tuple(sorted(issues, key=lambda i: i.line)))


def _front_matter(lines: list[str], issues: list[Issue]) -> tuple[dict[str, tuple[str, int]], int]:
    """The `key: value` header as {key: (value, line)}, and the index of the first body line."""
    meta: dict[str, tuple[str, int]] = {}
    if not lines or lines[0].strip() != "---":
        issues.append(Issue(1, "front-matter", "the file must start with a '---' line opening the front matter "
                                               "(name, version, description)"))
        return meta, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        issues.append(Issue(1, "front-matter", "the front matter opened on line 1 is never closed with '---'"))
        return meta, len(lines)
    for i in range(1, end):
        line = lines[i]
        if not line.strip():
            continue
        m = _KEY_VALUE.match(line)
        if m is None:
            issues.append(Issue(i + 1, "front-matter", f"expected 'key: value', got {line.strip()!r}"))
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key not in FRONT_MATTER_KEYS:
            issues.append(Issue(i + 1, "unknown-key",
                                f"unknown front-matter key {key!r}; allowed: {', '.join(FRONT_MATTER_KEYS)}"))
        elif key in meta:
            issues.append(Issue(i + 1, "duplicate-key", f"{key!r} is already set on line {meta[key][1]}"))
        else:
            meta[key] = (value, i + 1)
    for key in FRONT_MATTER_KEYS:
        if key not in meta or not meta[key][0]:
            issues.append(Issue(end + 1, "missing-field", f"the front matter has no {key!r}; add '{key}: ...'"))
    if "name" in meta and meta["name"][0] and not ID_PATTERN.match(meta["name"][0]):
        issues.append(Issue(meta["name"][1], "bad-name",
                            f"name {meta['name'][0]!r} must match {ID_PATTERN.pattern} (it is also the folder name)"))
    if "version" in meta and meta["version"][0]:
        v = meta["version"][0]
        if not (v.isdigit() and int(v) >= 1):
            issues.append(Issue(meta["version"][1], "bad-version", f"version must be an integer >= 1, got {v!r}"))
    return meta, end + 1


def _principles(lines: list[str], start: int, issues: list[Issue]) -> list[_Draft]:
    drafts: list[_Draft] = []
    seen: dict[str, int] = {}
    for i in range(start, len(lines)):
        line, lineno = lines[i], i + 1
        h2 = _H2.match(line)
        if h2:
            pid = h2.group(1)
            if not ID_PATTERN.match(pid):
                issues.append(Issue(lineno, "bad-id", f"principle id {pid!r} must match {ID_PATTERN.pattern}"))
            elif pid in seen:
                issues.append(Issue(lineno, "duplicate-id",
                                    f"principle id {pid!r} is already used on line {seen[pid]}"))
            else:
                seen[pid] = lineno
            drafts.append(_Draft(pid, lineno))
            continue
        if _H1.match(line):
            issues.append(Issue(lineno, "unexpected-heading",
                                f"{line.strip()!r}: only '## <id>' headings may follow '# Principles'"))
            continue
        if not drafts:
            if line.strip():
                issues.append(Issue(lineno, "stray-text", "text after '# Principles' before the first '## <id>' "
                                                          "heading; move it into the preamble"))
            continue
        d = drafts[-1]
        w = _WEIGHT.match(line.strip())
        if d.text_lines is None and w:
            d.weight_line = lineno
            d.weight = _weight(w.group(1), lineno, issues)
            d.text_lines = []
            continue
        if d.text_lines is None:
            if not line.strip():
                continue
            d.text_lines = []
        d.text_lines.append(line)
    for d in drafts:
        if d.weight_line is None:
            issues.append(Issue(d.line, "missing-field", f"principle {d.id!r} has no 'weight: <number>' line "
                                                         "right after its heading"))
        if not "\n".join(d.text_lines or []).strip():
            issues.append(Issue(d.line, "empty-principle", f"principle {d.id!r} has no text"))
    if not drafts:
        issues.append(Issue(start, "no-principles", "'# Principles' has no '## <id>' principle under it"))
    return drafts


def _weight(value: str, lineno: int, issues: list[Issue]) -> float | None:
    try:
        w = float(value)
    except ValueError:
        issues.append(Issue(lineno, "bad-weight", f"weight {value!r} is not a number"))
        return None
    if not math.isfinite(w) or w <= 0:
        issues.append(Issue(lineno, "bad-weight", f"weight must be a finite number > 0, got {value}"))
        return None
    return w


def _check_path(path: PurePath, meta: dict[str, tuple[str, int]], issues: list[Issue]) -> None:
    m = _FILE_VERSION.match(path.name)
    if m is None:
        issues.append(Issue(1, "file-name", f"file name {path.name!r} should be 'v<N>.md' (e.g. v1.md)", "warning"))
        return  # not laid out as <name>/v<N>.md: the folder says nothing
    if "version" in meta and meta["version"][0] != m.group(1):
        issues.append(Issue(meta["version"][1], "version-mismatch",
                            f"version {meta['version'][0]} does not match the file name {path.name}"))
    folder = path.parent.name
    if folder and "name" in meta and meta["name"][0] != folder:
        issues.append(Issue(meta["name"][1], "name-mismatch",
                            f"name {meta['name'][0]!r} does not match its folder {folder!r}"))
