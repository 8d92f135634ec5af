"""mypy over the `referee.*` packages at their real paths.

    .venv/bin/python .ci/typecheck.py          # what `make check` runs

The packages map onto the top-level folders through setuptools' `package-dir` (see pyproject.toml), and
an editable install reaches them through an import hook, which static tools do not run: plain `mypy -p
referee` would not find `referee.verifiers` at all. So this script names every module itself, with the
module name the package map gives and the file where it really lives, and hands that list to mypy's
build with the options from pyproject.toml. Errors then point at `verifiers/...`, not at a copy.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from mypy import build
from mypy.main import process_options
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parent.parent


def sources() -> list[BuildSource]:
    package_dir: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    found = []
    for package, folder in package_dir.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            # A nested folder is a subpackage only when it has its own __init__.py (the others hold data).
            if any(not (base.joinpath(*rel[:i]) / "__init__.py").exists() for i in range(1, len(rel))):
                continue
            parts = [*package.split("."), *(p for p in rel if p != "__init__")]
            found.append(BuildSource(str(path.relative_to(ROOT)), ".".join(parts)))
    return found


def main() -> int:
    _, options = process_options(["--config-file", str(ROOT / "pyproject.toml")], require_targets=False)
    try:
        result = build.build(sources(), options)
        messages = result.errors
    except build.CompileError as exc:
        messages = exc.messages
    for line in messages:
        print(line)
    if messages:
        print(f"typecheck: {sum(': error:' in m for m in messages)} error(s)", file=sys.stderr)
        return 1
    print(f"typecheck: no issues in {len(sources())} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
