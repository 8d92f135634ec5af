"""`referee constitution ...` and `referee prefs`, run in-process through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referee.cli import main


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


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_prefs_writes_dpo_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path, model_dir: Path,
                               fmt: str) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Capital of France?", "a": "Paris.", "b": "Berlin, I think."}) + "\n"
                     + json.dumps({"prompt": "2 + 2?", "a": "5", "b": "4"}) + "\n\n")
    out_path = tmp_path / "dpo.jsonl"
    options = {"backend": {"local": {"model": str(model_dir)}},
               "constitution": {"principles": [{"id": "correct", "text": "The reply is correct."}]}}
    code, _, err = run(capsys, "prefs", str(pairs), "-o", str(out_path), "--method", "likelihood",
                       "--options", json.dumps(options), "--format", fmt)
    assert code == 0 and "kept 2 of 2 pairs" in err
    rows = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert len(rows) == 2
    for row, (a, b) in zip(rows, [("Paris.", "Berlin, I think."), ("5", "4")], strict=True):
        chosen = row["chosen"] if fmt == "standard" else row["chosen"][0]["content"]
        rejected = row["rejected"] if fmt == "standard" else row["rejected"][0]["content"]
        assert {chosen, rejected} == {a, b}
        assert 0.5 <= row["confidence"] <= 1 and (chosen == a) == (row["p_a_better"] >= 0.5)
        assert row["judge"]["constitution"] == "inline" and row["judge"]["method"] == "likelihood"
    code, _, err = run(capsys, "prefs", str(pairs), "-o", str(out_path), "--method", "likelihood",
                       "--options", json.dumps(options), "--min-confidence", "1.0")
    assert code == 0 and "kept 0 of 2 pairs" in err and "'low_confidence': 2" in err


def test_prefs_rejects_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "a": "y"}\n')
    code, _, err = run(capsys, "prefs", str(bad))
    assert code == 2 and "bad.jsonl:1: expected a JSON object with prompt, a, b" in err
    good = tmp_path / "good.jsonl"
    good.write_text('{"a": "y", "b": "z"}\n')
    code, _, err = run(capsys, "prefs", str(good), "--options", '{"methd": "x"}')
    assert code == 2 and "methd" in err
