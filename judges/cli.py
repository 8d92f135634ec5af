"""`referee constitution ...`.

    referee constitution list                         # names, versions, released or not
    referee constitution show hhh                     # the latest version; hhh@1 pins one
    referee constitution new hhh --dir constitutions  # writes constitutions/hhh/v2.md from the latest
    referee constitution lint constitutions/hhh/v2.md # line-numbered errors; exit 1 if any
    referee constitution diff hhh@1 hhh@2

(`referee prefs`, which judges pairs into DPO rows in this process or through a running service, is
`referee.service.prefs_cli`: its `--url` needs the service's client.)

Constitutions are looked up along one search path, the same as the judge's in the service: the shipped
library, `./constitutions` (where `new` writes), the folders of $REFEREE_CONSTITUTION_DIRS, then each
`--constitution_dir` (`referee.judges.environment.constitution_dirs`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from referee.verifiers import ConfigError

from .diff import diff
from .environment import LOCAL_CONSTITUTIONS, constitution_dirs, env_constitution_dirs
from .library import ConstitutionLibrary, parse_ref
from .lint import lint_path
from .parser import parse

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("constitution", help="list, show, create, lint and diff constitutions")
    csub = c.add_subparsers(dest="constitution_command", required=True, metavar="ACTION")

    p = csub.add_parser("list", help="constitutions and their versions")
    _dirs(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_list)

    p = csub.add_parser("show", help="one constitution: NAME (latest) or NAME@VERSION")
    p.add_argument("ref", metavar="NAME[@VERSION]")
    _dirs(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_show)

    p = csub.add_parser("new", help="write the next version of NAME (a copy of the latest) or a new skeleton")
    p.add_argument("name")
    p.add_argument("--dir", type=Path, default=LOCAL_CONSTITUTIONS,
                   help="folder to write <name>/v<N>.md into (default: ./constitutions, which is on the search path)")
    p.set_defaults(func=_new)

    p = csub.add_parser("lint", help="check constitution files; exit 1 on errors")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_lint)

    p = csub.add_parser("diff", help="what changed between two versions (NAME@A NAME@B, or two files)")
    p.add_argument("old", metavar="NAME@A|FILE")
    p.add_argument("new", metavar="NAME@B|FILE")
    _dirs(p)
    p.set_defaults(func=_diff)


def _dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--constitution_dir", action="append", type=Path, default=[], metavar="DIR",
                   help="also look in DIR for <name>/v<N>.md, after ./constitutions and $REFEREE_CONSTITUTION_DIRS "
                   "(repeatable)")


def _search_path(args: argparse.Namespace) -> tuple[Path, ...]:
    return constitution_dirs([*env_constitution_dirs(), *getattr(args, "constitution_dir", [])])


def _library(args: argparse.Namespace) -> ConstitutionLibrary:
    return ConstitutionLibrary(_search_path(args))


def _list(args: argparse.Namespace) -> int:
    lib = _library(args)
    rows = []
    for entry in lib.entries():
        try:
            c = lib.get(entry.ref)
            rows.append({"ref": entry.ref, "description": c.description, "principles": len(c.principles),
                         "sha256": c.sha256, "released": lib.is_released(c), "location": str(entry.location)})
        except ConfigError as exc:
            rows.append({"ref": entry.ref, "error": str(exc), "location": str(entry.location)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        status = "invalid" if "error" in r else "released" if r["released"] else "draft"
        print(f"{r['ref']:<20} {status:<9} {r.get('description') or r.get('error')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    lib = _library(args)
    c = lib.get(args.ref)
    if args.json:
        print(json.dumps({**c.model_dump(mode="json"), "ref": c.ref, "released": lib.is_released(c),
                          "versions": lib.versions(c.name)}, indent=2))
        return 0
    print(f"{c.ref}  ({'released' if lib.is_released(c) else 'not released'}; versions: "
          f"{', '.join(map(str, lib.versions(c.name)))})")
    print(f"sha256: {c.sha256}")
    print(f"{c.description}\n\n{c.preamble}\n")
    for p in c.principles:
        print(f"[{p.id}] weight {p.weight:g}\n  " + "\n  ".join(p.text.splitlines()))
    return 0


def _new(args: argparse.Namespace) -> int:
    from .scaffold import render, skeleton

    name, version = parse_ref(args.name)
    if version is not None:
        raise ConfigError(f"`new` takes a name, not {args.name!r}; it picks the next version itself")
    # The next version follows the newest anywhere on the search path, so the new file never clashes with one.
    lib = ConstitutionLibrary([*_search_path(args), *([args.dir] if args.dir.is_dir() else [])])
    if name in lib.names():
        latest = lib.get(name)
        next_version = lib.versions(name)[-1] + 1
        text = render(latest, version=next_version)
        origin = f"a copy of {latest.ref}"
    else:
        next_version, text, origin = 1, skeleton(name), "a skeleton"
    path = args.dir / name / f"v{next_version}.md"
    if path.exists():
        raise ConfigError(f"{path} already exists; a released version is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path} ({origin}); edit it, then `referee constitution lint {path}`")
    return 0


def _lint(args: argparse.Namespace) -> int:
    errors = 0
    for path in args.paths:
        issues = lint_path(path)
        for issue in issues:
            print(issue.format(str(path)))
        errors += sum(i.severity == "error" for i in issues)
        if not issues:
            print(f"{path}: ok")
    return 1 if errors else 0


def _diff(args: argparse.Namespace) -> int:
    lib = _library(args)

    def load(spec: str) -> Any:
        path = Path(spec)
        if spec.endswith(".md") and path.is_file():
            result = parse(path.read_bytes(), path)
            if result.constitution is None:
                raise ConfigError(f"{path} has lint errors; run `referee constitution lint {path}`")
            return result.constitution
        return lib.get(spec)

    print(diff(load(args.old), load(args.new)).format())
    return 0
