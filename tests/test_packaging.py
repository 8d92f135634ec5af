"""The package map in pyproject.toml matches the tree: every folder with an `__init__.py` under a mapped
top-level folder is a listed package (else an installed wheel silently lacks it), and nothing is a symlink."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed() -> None:
    expected = set()
    for package, folder in SETUPTOOLS["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            expected.add(".".join([*package.split("."), *rel]))
    assert set(SETUPTOOLS["packages"]) == expected


def test_the_user_folders_are_the_packages() -> None:
    for name in ("verifiers", "judges", "service", "trainer", "constitutions"):
        assert SETUPTOOLS["package-dir"][f"referee.{name}"] == name


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_symlinks_are_tracked() -> None:
    listing = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t", 1)[1] for line in listing.splitlines() if line.startswith("120000")]
    assert not links, f"tracked symlinks: {links}"


def test_imports_come_from_the_real_folders() -> None:
    import referee.judges
    import referee.verifiers

    assert Path(referee.verifiers.__file__).parent == ROOT / "verifiers"
    assert Path(referee.judges.__file__).parent == ROOT / "judges"
