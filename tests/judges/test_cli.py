"""`referee constitution ...`, run in-process through the real entry point (`referee prefs`: tests/service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from referee.cli import main
from referee.service.local import LocalService


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "constitution", "list")
    assert code == 0 and "hhh@1" in out and "concise@1" in out and "released" in out
    code, out, _ = run(capsys, "constitution", "show", "hhh", "--json")
    shown = json.loads(out)
    assert shown["ref"] == "hhh@1" and shown["released"] is True and len(shown["principles"]) == 4
    code, _, err = run(capsys, "constitution", "show", "hhh@7")
    assert code == 2 and "no version 7; available: hhh@1" in err


def test_new_lint_diff_cycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "constitution", "new", "hhh", "--dir", str(tmp_path))
    v2 = tmp_path / "hhh" / "v2.md"
    assert code == 0 and v2.is_file() and "a copy of hhh@1" in out
    assert run(capsys, "constitution", "lint", str(v2))[0] == 0

    v2.write_text(v2.read_text().replace("weight: 1\n", "weight: zero\n"))
    code, out, _ = run(capsys, "constitution", "lint", str(v2))
    assert code == 1 and f"{v2}:29: error [bad-weight]" in out

    v2.write_text(v2.read_text().replace("weight: zero\n", "weight: 1.5\n"))
    code, out, _ = run(capsys, "constitution", "diff", "hhh@1", "hhh@2", "--constitution-dir", str(tmp_path))
    assert code == 0 and "~ principle clear: weight 1 -> 1.5" in out

    code, _, err = run(capsys, "constitution", "new", "hhh@2", "--dir", str(tmp_path))
    assert code == 2 and "takes a name" in err
    code, out, _ = run(capsys, "constitution", "new", "fresh", "--dir", str(tmp_path))
    assert code == 0 and (tmp_path / "fresh" / "v1.md").is_file() and "skeleton" in out


def _referee(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referee", *argv], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_new_diff_rescore_from_a_folder_outside_the_checkout(tmp_path: Path, cache_dir: Path, model_dir: Path) -> None:
    """The README's sequence, run where a user works: record judge scores, write hhh@2, diff it, rescore with it."""
    work = tmp_path / "work"
    work.mkdir()
    assert not work.resolve().is_relative_to(Path(__file__).resolve().parents[2])  # outside the checkout
    db = work / "audit.db"
    judge = {"constitution": "hhh", "method": "likelihood"}
    env = {"REFEREE_CACHE": str(cache_dir)}
    with LocalService(sources=["judge"], extra_args=["--audit_db", str(db), "--audit_texts"], env=env) as svc:
        answer = httpx.post(f"{svc.url}/v1/score", timeout=300, json={"source": "judge", "options": judge, "samples": [
            {"prompt": "Capital of France?", "completion": "Paris."},
            {"prompt": "2 + 2?", "completion": "Great question! I think it might be 5."}]})
        assert answer.status_code == 200, answer.text

    new = _referee(work, "constitution", "new", "hhh", env=env)
    v2 = work / "constitutions" / "hhh" / "v2.md"
    assert new.returncode == 0 and v2.is_file(), new.stderr
    v2.write_text(v2.read_text().replace("weight: 1\n", "weight: 1.5\n"))
    diff = _referee(work, "constitution", "diff", "hhh@1", "hhh@2", env=env)
    assert diff.returncode == 0 and "~ principle clear: weight 1 -> 1.5" in diff.stdout, diff.stderr
    rescore = _referee(work, "rescore", str(db), "--source", "judge", "--options",
                       json.dumps({**judge, "constitution": "hhh@2"}), env=env)
    assert rescore.returncode == 0, rescore.stderr
    assert "rescored 2 items" in rescore.stdout and "constitution hhh@1 -> hhh@2" in rescore.stdout

    # Elsewhere, the same folder found through $REFEREE_CONSTITUTION_DIRS (folders separated by ':').
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = _referee(elsewhere, "constitution", "show", "hhh@2", "--json",
                     env={**env, "REFEREE_CONSTITUTION_DIRS": f"{tmp_path / 'none-yet'}:{work / 'constitutions'}"})
    assert shown.returncode == 2 and "none-yet' does not exist" in shown.stderr  # a wrong folder is named
    shown = _referee(elsewhere, "constitution", "show", "hhh@2", "--json",
                     env={**env, "REFEREE_CONSTITUTION_DIRS": str(work / "constitutions")})
    assert shown.returncode == 0 and json.loads(shown.stdout)["ref"] == "hhh@2", shown.stderr


def test_the_service_reads_the_same_constitution_dirs_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from referee.service.settings import load_settings

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("REFEREE_CONSTITUTION_DIRS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    monkeypatch.chdir(tmp_path)  # no ./constitutions here
    assert load_settings().judge_environment().constitution_dirs == (tmp_path / "a", tmp_path / "b")
    monkeypatch.setenv("REFEREE_CONSTITUTION_DIRS", json.dumps([str(tmp_path / "b")]))
    (tmp_path / "constitutions").mkdir()
    assert load_settings().judge_environment().constitution_dirs == (Path("constitutions"), tmp_path / "b")
