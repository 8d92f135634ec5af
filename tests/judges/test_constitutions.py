"""Constitution files: released versions are immutable, the library finds them, the linter catches mistakes."""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path

import pytest

from referee.judges import (
    ConstitutionError,
    ConstitutionLibrary,
    ConstitutionNotFound,
    InvalidConstitution,
    diff,
    inline_constitution,
    lint_bytes,
    lint_path,
    parse,
    released_manifest,
)
from referee.judges import lint as lint_module
from referee.judges.scaffold import render, skeleton

SHIPPED = Path(str(files("referee.constitutions")))

GOOD = """---
name: demo
version: 1
description: A demo.
---

Judge carefully.

# Principles

## first
weight: 2
Do the first thing.

## second
weight: 0.5
Do the second thing,
over two lines.
"""


def test_released_files_are_unchanged() -> None:
    """A released constitution is immutable: change it as a new version (`referee constitution new NAME`)."""
    manifest = released_manifest()
    assert manifest, "RELEASED.json lists no constitution"
    for ref, sha in manifest.items():
        name, version = ref.split("@")
        path = SHIPPED / name / f"v{version}.md"
        assert path.is_file(), f"{ref} is listed in RELEASED.json but {path} is missing"
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        assert actual == sha, (f"released constitution {ref} ({path}) was edited; revert it and write the change "
                               f"as a new version")


def test_every_shipped_file_is_released_and_clean() -> None:
    manifest = released_manifest()
    shipped = sorted(SHIPPED.glob("*/v*.md"))
    assert {f"{p.parent.name}@{p.stem[1:]}" for p in shipped} == set(manifest), (
        "every shipped constitution file must be listed in constitutions/RELEASED.json with its sha256")
    for p in shipped:
        assert lint_path(p) == [], f"{p} has lint issues"


def test_shipped_constitutions() -> None:
    lib = ConstitutionLibrary()
    assert {"hhh", "concise"} <= set(lib.names())
    hhh = lib.get("hhh@1")
    assert [p.id for p in hhh.principles] == ["helpful", "honest", "harmless", "clear"]
    assert hhh.ref == "hhh@1" and lib.is_released(hhh)
    assert lib.get("hhh") == lib.get("hhh@v1") == hhh  # latest, and the v-prefixed spelling


def test_library_lookup_errors_list_what_exists(tmp_path: Path) -> None:
    lib = ConstitutionLibrary()
    with pytest.raises(ConstitutionNotFound, match=r"available: .*concise.*hhh"):
        lib.get("hhj")
    with pytest.raises(ConstitutionNotFound, match=r"no version 9; available: hhh@1"):
        lib.get("hhh@9")
    with pytest.raises(ConstitutionNotFound, match="NAME or NAME@VERSION"):
        lib.get("hhh@latest")
    with pytest.raises(ConstitutionError, match="does not exist"):
        ConstitutionLibrary([tmp_path / "missing"])


def test_extra_directories_add_versions_and_refuse_duplicates(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "v1.md").write_text(GOOD)
    (tmp_path / "demo" / "v2.md").write_text(GOOD.replace("version: 1", "version: 2").replace("weight: 2", "weight: 3"))
    lib = ConstitutionLibrary([tmp_path])
    assert lib.versions("demo") == [1, 2]
    latest = lib.get("demo")
    assert latest.ref == "demo@2" and latest.principles[0].weight == 3
    assert not lib.is_released(latest)

    (tmp_path / "hhh").mkdir()
    (tmp_path / "hhh" / "v1.md").write_text(GOOD.replace("name: demo", "name: hhh"))
    with pytest.raises(ConstitutionError, match="hhh@1 exists twice"):
        ConstitutionLibrary([tmp_path])


def test_invalid_file_in_library_names_its_lines(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    text = GOOD.replace("name: demo", "name: broken").replace("weight: 2", "weight: -1")
    (tmp_path / "broken" / "v1.md").write_text(text)
    with pytest.raises(InvalidConstitution, match=r"line 12: weight must be a finite number > 0"):
        ConstitutionLibrary([tmp_path]).get("broken")


def test_parse_good_file() -> None:
    result = parse(GOOD, "demo/v1.md")
    c = result.constitution
    assert result.issues == () and c is not None
    assert (c.name, c.version, c.description, c.preamble) == ("demo", 1, "A demo.", "Judge carefully.")
    assert [(p.id, p.weight, p.text) for p in c.principles] == [
        ("first", 2.0, "Do the first thing."), ("second", 0.5, "Do the second thing,\nover two lines.")]
    assert c.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    assert c.weighted({"first": 1.0, "second": 0.0}) == pytest.approx(0.8)


# (what to do to GOOD, path, expected (line, code)); each row is a mistake someone will make.
LINT_TABLE = [
    (lambda t: t.replace("---\nname", "name", 1), None, (1, "front-matter")),
    (lambda t: t.replace("description: A demo.\n---", "description: A demo."), None, (1, "front-matter")),
    (lambda t: t.replace("name: demo\n", ""), None, (4, "missing-field")),
    (lambda t: t.replace("description: A demo.\n", ""), None, (4, "missing-field")),
    (lambda t: t.replace("version: 1", "version: one"), None, (3, "bad-version")),
    (lambda t: t.replace("version: 1", "version: 1\nauthor: me"), None, (4, "unknown-key")),
    (lambda t: t.replace("version: 1", "version: 1\nversion: 2"), None, (4, "duplicate-key")),
    (lambda t: t.replace("name: demo", "name: Demo Two"), None, (2, "bad-name")),
    (lambda t: t.replace("## second", "## first"), None, (15, "duplicate-id")),
    (lambda t: t.replace("## second", "## Second Thing"), None, (15, "bad-id")),
    (lambda t: t.replace("weight: 2", "weight: heavy"), None, (12, "bad-weight")),
    (lambda t: t.replace("weight: 2", "weight: 0"), None, (12, "bad-weight")),
    (lambda t: t.replace("weight: 2", "weight: -3"), None, (12, "bad-weight")),
    (lambda t: t.replace("weight: 2", "weight: inf"), None, (12, "bad-weight")),
    (lambda t: t.replace("weight: 2", "weight: nan"), None, (12, "bad-weight")),
    (lambda t: t.replace("weight: 2\n", ""), None, (11, "missing-field")),
    (lambda t: t.replace("Do the first thing.\n", ""), None, (11, "empty-principle")),
    (lambda t: t.split("## first")[0], None, (9, "no-principles")),
    (lambda t: t.replace("# Principles", "# Rules"), None, (18, "missing-field")),
    (lambda t: t.replace("# Principles\n", "# Principles\nSome loose text.\n"), None, (10, "stray-text")),
    (lambda t: t + "\n# Appendix\n", None, (20, "unexpected-heading")),
    (lambda t: t, "other/v1.md", (2, "name-mismatch")),
    (lambda t: t, "demo/v2.md", (3, "version-mismatch")),
]


@pytest.mark.parametrize(("edit", "path", "expected"), LINT_TABLE)
def test_lint_reports_line_and_code(edit, path, expected) -> None:
    text = edit(GOOD)
    issues = lint_bytes(text.encode(), path)
    errors = [(i.line, i.code) for i in issues if i.severity == "error"]
    assert expected in errors, f"expected {expected} in {errors}\n{text}"
    assert parse(text, path).constitution is None


def test_lint_warnings_do_not_block() -> None:
    text = GOOD.replace("Judge carefully.", "").replace("Do the second thing,\nover two lines.", "Do the first thing.")
    issues = lint_bytes(text.encode(), "demo/v1.md")
    assert {(i.code, i.severity) for i in issues} == {("empty-preamble", "warning"), ("same-text", "warning")}
    assert parse(text).constitution is not None


def test_lint_undecodable_and_unreadable(tmp_path: Path) -> None:
    assert [i.code for i in lint_bytes(b"---\nname: \xff\n")] == ["encoding"]
    assert [i.code for i in lint_path(tmp_path / "nope.md")] == ["unreadable"]


def test_lint_flags_an_edited_released_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one seam: pretend the manifest recorded other bytes for hhh@1, as it would after an edit.
    monkeypatch.setattr(lint_module, "released_manifest", lambda: {"hhh@1": "0" * 64})
    issues = lint_path(SHIPPED / "hhh" / "v1.md")
    assert issues[0].code == "released-edited" and "new version" in issues[0].message


def test_inline_constitution_hash_is_canonical() -> None:
    a = inline_constitution({"principles": [{"id": "p1", "text": "Be kind.", "weight": 1}]})
    b = inline_constitution({"principles": [{"weight": 1.0, "text": "Be kind.", "id": "p1"}]})
    c = inline_constitution({"principles": [{"id": "p1", "text": "Be kinder.", "weight": 1}]})
    assert a.ref == "inline" and a.sha256 == b.sha256 != c.sha256
    with pytest.raises(ValueError, match="duplicate principle id"):
        inline_constitution({"principles": [{"id": "p1", "text": "x"}, {"id": "p1", "text": "y"}]})


def test_diff_between_versions() -> None:
    old = parse(GOOD).constitution
    new_text = (GOOD.replace("version: 1", "version: 2").replace("weight: 0.5", "weight: 1")
                .replace("Do the first thing.", "Do the first thing well.") + "\n## third\nweight: 1\nNew.\n")
    new = parse(new_text).constitution
    assert old is not None and new is not None
    d = diff(old, new)
    assert d.added == ["third"] and d.removed == [] and d.reweighted == {"second": (0.5, 1.0)}
    assert list(d.reworded) == ["first"]
    text = d.format()
    assert "+ principle third" in text and "weight 0.5 -> 1" in text and "+Do the first thing well." in text
    assert diff(old, old).empty


def test_scaffold_round_trips() -> None:
    c = ConstitutionLibrary().get("hhh@1")
    again = parse(render(c, version=2), "hhh/v2.md").constitution
    assert again is not None and again.version == 2
    assert again.principles == c.principles and again.preamble == c.preamble
    assert [i for i in lint_bytes(skeleton("mine").encode(), "mine/v1.md") if i.severity == "error"] == []
