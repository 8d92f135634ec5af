"""The cache folder is one setting: `referee.judges.cache_dir()` ($REFEREE_CACHE, else ~/.cache/referee), read by
every edge: the service's settings, the CLI, the trainer, the benchmarks and the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from referee.judges import cache_dir

ROOT = Path(__file__).resolve().parent.parent
# A path to the cache or the variable spelled out in code, rather than asked of `cache_dir()`.
_SPELLED_OUT = re.compile(r"""["']~/\.cache/referee["']|["']\.cache["']|environ(?:\.get)?\(\s*["']REFEREE_CACHE""")


def test_the_cache_folder_is_named_in_one_place() -> None:
    found = []
    allowed = {Path("judges/environment.py"), Path(__file__).relative_to(ROOT)}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in ("build", "runs") or rel in allowed:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _SPELLED_OUT.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "use referee.judges.cache_dir() instead:\n" + "\n".join(found)


def test_every_edge_reads_referee_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from referee.cli import build_parser
    from referee.service.settings import load_settings
    from referee.trainer.run import resolve_model

    monkeypatch.delenv("REFEREE_CACHE", raising=False)
    assert cache_dir() == Path.home() / ".cache" / "referee"
    monkeypatch.setenv("REFEREE_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path and cache_dir("~/elsewhere") == Path.home() / "elsewhere"
    assert load_settings().cache == tmp_path and load_settings().judge_environment().cache_dir == tmp_path
    assert build_parser().parse_args(["prefs", "p.jsonl"]).cache_dir is None  # None: cache_dir() decides
    # The trainer's embedded model: the one seam is where it would be materialised.
    monkeypatch.setattr("referee.judges.embedded.embedded_model_path", lambda folder: folder)
    assert resolve_model("embedded", None) == str(tmp_path)
    assert resolve_model(None, str(tmp_path / "mine")) == str(tmp_path / "mine")
