"""The `referee` command, run as a user runs it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from referee.cli import build_parser
from referee.service.local import LocalService, free_port


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


# --- Errors: one line on stderr, exit code 2, never a traceback ----------------------------------------------------

def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The error line of a refused command, after checking it is the only line and the exit code is 2."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"referee {command}: error: "), result.stderr[-3000:]
    return lines[0]


def test_missing_input_files_are_one_line(tmp_path: Path) -> None:
    line = one_line_error(referee("score", str(tmp_path / "nope.jsonl"), "--source", "exact", check=False), "score")
    assert "nope.jsonl does not exist" in line
    line = one_line_error(referee("prefs", str(tmp_path / "pairs.jsonl"), check=False), "prefs")
    assert "pairs.jsonl does not exist" in line
    line = one_line_error(referee("rescore", str(tmp_path / "audit.db"), check=False), "rescore")
    assert "audit.db does not exist" in line
    line = one_line_error(referee("report", str(tmp_path), check=False), "report")
    assert "has no metrics.jsonl" in line


def test_a_service_that_is_down_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(referee("score", str(_input(tmp_path)), "--source", "exact", "--url", url, check=False),
                          "score")
    assert f"the reward service at {url} is not reachable" in line and "referee serve" in line
    line = one_line_error(referee("sources", "--url", url, check=False), "sources")
    assert "is not reachable" in line


def test_a_busy_port_is_one_line_before_the_slow_start() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_line_error(referee("serve", "--port", str(port), check=False), "serve")
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_a_malformed_source_is_one_line_naming_the_grammar(tmp_path: Path) -> None:
    line = one_line_error(referee("score", str(_input(tmp_path)), "--source", "exact:heavy", check=False), "score")
    assert "weight 'heavy' of 'exact' is not a finite number" in line and "name:weight,name:weight" in line


# --- One --source grammar, progress and a summary --------------------------------------------------------------

def test_score_takes_the_train_and_url_grammar_and_summarises_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = referee("score", str(_input(tmp_path)), "--source", "exact:1,wordcount:0.5", "--options",
                     '{"wordcount": {"target": 3}, "on_unscored": "skip"}', "-o", str(out))
    scores = [json.loads(line)["score"] for line in out.read_text().splitlines()]
    assert [s["source"] for s in scores] == ["mix"] * 3
    assert [c["source"] for c in scores[0]["components"]] == ["exact", "wordcount"]
    assert scores[2]["value"] is not None  # on_unscored skip: exact has no reference there, wordcount scores it
    assert "scored 3/3" in result.stderr  # progress, also when stderr is not a terminal
    assert result.stderr.splitlines()[-1] == "exact:1,wordcount:0.5: scored 3 of 3 samples (mean value " + \
        f"{sum(s['value'] for s in scores) / 3:.4f}); unscored 0"
    plain = referee("score", str(_input(tmp_path)), "--source", "exact")
    assert plain.stderr.splitlines()[-1] == ("exact: scored 2 of 3 samples (mean value 0.5000); unscored 1: "
                                             "no_reference 1")


# --- One flag convention: underscores, hyphens accepted everywhere ---------------------------------------------

@pytest.mark.parametrize("argv", [
    ["score", "x.jsonl", "--source", "exact", "--batch_size", "3", "--api_key", "k"],
    ["serve", "--log_level", "debug", "--audit_db", "a.db", "--http_workers", "2", "--allow_insecure_bind"],
    ["sources", "--api_key", "k"],
    ["constitution", "list", "--constitution_dir", "d"],
    ["constitution", "diff", "a@1", "a@2", "--constitution_dir", "d"],
    ["prefs", "p.jsonl", "--min_confidence", "0.7", "--keep_inconsistent", "--cache_dir", "c", "--batch_size", "2",
     "--api_key", "k"],
    ["audit", "a.db", "--request_id", "r"],
    ["rescore", "a.db", "--request_id", "r", "--api_key", "k"],
    ["demo", "--train_steps", "0", "--train_dir", "d"],
])
def test_every_flag_takes_underscores_or_hyphens(argv: list[str]) -> None:
    hyphens = [a.replace("_", "-") if a.startswith("--") else a for a in argv]
    assert hyphens != argv
    parser = build_parser()
    underscored, hyphenated = vars(parser.parse_args(argv)), vars(parser.parse_args(hyphens))
    assert underscored == hyphenated


def test_help_shows_the_underscore_spelling_once() -> None:
    text = referee("score", "--help").stdout
    assert "--batch_size BATCH_SIZE" in text and "--batch-size" not in text


# --- referee report labels its figures -------------------------------------------------------------------------

def test_report_labels_what_first_and_last_mean(tmp_path: Path) -> None:
    records = [{"step": 0, "heldout/accuracy": 0.2}]
    records += [{"step": s, "reward": s / 10, "time/step": 1.0} for s in range(1, 13)]
    records += [{"step": 12, "heldout/accuracy": 0.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = referee("report", str(tmp_path)).stdout
    summary = json.loads(out[out.index("\n{") :])  # after the "wrote PATH" lines
    assert summary["reward"] == {"mean over steps 1-5": pytest.approx(0.3), "mean over steps 8-12": pytest.approx(1.0)}
    assert summary["heldout/accuracy"] == {"at step 0 (before training)": 0.2, "at step 12": 0.5,
                                           "best, at step 12": 0.5}
    assert summary["time/step"] == {"mean over all steps": 1.0}
