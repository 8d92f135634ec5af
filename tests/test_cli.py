"""The `referee` command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from referee.service.local import LocalService


def referee(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referee", *args], capture_output=True, text=True, check=check,
                          timeout=120)


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"id": 1, "completion": "The answer is 4", "reference": "4"},
            {"id": 2, "completion": "5", "reference": "4"}, {"id": 3, "completion": "7"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _values(path: Path) -> list[object]:
    return [(json.loads(line)["id"], json.loads(line)["score"]["value"]) for line in path.read_text().splitlines()]


def test_score_in_process_and_through_service_agree(tmp_path: Path, service: LocalService) -> None:
    src = _input(tmp_path)
    referee("score", str(src), "--source", "exact", "-o", str(tmp_path / "a.jsonl"))
    referee("score", str(src), "--source", "exact", "--url", service.url, "-o", str(tmp_path / "b.jsonl"))
    assert _values(tmp_path / "a.jsonl") == _values(tmp_path / "b.jsonl") == [(1, 1.0), (2, 0.0), (3, None)]
    row = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[2])
    assert row["score"]["reason"] == "no_reference"


def test_score_with_a_mix(tmp_path: Path) -> None:
    out = referee("score", str(_input(tmp_path)), "--source", "exact:2").stdout
    assert [json.loads(line)["score"]["value"] for line in out.splitlines()] == [2.0, 0.0, None]


def test_bad_input_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"completion": "1"}\n{"completion": 3}\n')
    result = referee("score", str(bad), "--source", "exact", check=False)
    assert result.returncode == 2 and "bad.jsonl:2" in result.stderr


def test_sources_lists_builtin_and_plugin() -> None:
    out = referee("sources").stdout
    assert "exact" in out and "wordcount" in out
    names = {s["name"] for s in json.loads(referee("sources", "--json").stdout)}
    assert {"exact", "wordcount"} <= names


def test_serve_refuses_public_bind_without_key() -> None:
    result = referee("serve", "--host", "0.0.0.0", "--port", "0", check=False)
    assert result.returncode == 2
    assert "not a loopback address and no api_key" in result.stderr and "--allow-insecure-bind" in result.stderr


def test_serve_refuses_unknown_source() -> None:
    result = referee("serve", "--port", "0", "--sources", "exact,nope", check=False)
    assert result.returncode == 2 and "'nope' is not registered" in result.stderr
