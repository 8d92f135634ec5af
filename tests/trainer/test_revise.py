"""`referee revise`: critiques and revisions by the real embedded model, rows checked before any model loads."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from referee.cli import main as referee_main
from referee.judges import ConstitutionLibrary
from referee.trainer import revise
from referee.trainer.revise import keep_reason, parse_revise_args, principles_for, run
from referee.verifiers import ConfigError


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _fail(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one error line of a refused `referee revise` (after any progress output of a model loading)."""
    capsys.readouterr()
    assert referee_main(["revise", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "referee revise: error:" in line]
    assert len(lines) == 1 and err.endswith(lines[0])
    return lines[0]


@pytest.mark.slow
def test_rows_carry_the_final_revision_the_chain_and_the_constitutions_provenance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "rows.jsonl", [
        json.dumps({"prompt": "What is the capital of France?", "completion": "I think it might be Lyon."}),
        json.dumps({"prompt": "Give one tip for sleeping better."}),  # the model writes this completion first
    ])
    out = tmp_path / "revised"
    assert referee_main(["revise", "--data", str(data), "--constitution", "hhh@1", "--num_principles", "1",
                         "--max_new_tokens", "24", "--batch_size", "2", "--output-dir", str(out)]) == 0
    assert f"wrote {out / 'sft.jsonl'}" in capsys.readouterr().out

    rows, summary = _rows(out / "sft.jsonl"), json.loads((out / "summary.json").read_text())
    assert not list(out.glob("*.partial"))
    assert summary["rows"] == 2 and summary["written"] + sum(summary["rows_dropped"].values()) == 2
    assert len(rows) == summary["written"] >= 1
    released = files("referee.constitutions").joinpath("hhh", "v1.md").read_bytes()
    hhh = ConstitutionLibrary().get("hhh@1")
    texts = {p.id: p.text for p in hhh.principles}
    kept: dict[str, int] = {}
    for row in rows:
        provenance = row["provenance"]
        assert (provenance["constitution"], provenance["constitution_version"]) == ("hhh", 1)
        assert provenance["constitution_sha256"] == hashlib.sha256(released).hexdigest()
        assert provenance["backend"] == "local" and "SmolLM2" in provenance["model"]
        assert provenance["sampling"] == {"temperature": 0.0, "max_new_tokens": 24, "num_principles": 1, "seed": 0}
        [step] = row["chain"]
        assert texts[step["principle"]] in step["critique_request"]
        assert step["critique"] is not None and step["revision"] is not None
        if step["kept"] is None:  # the revision replaced the reply
            assert row["revised"] and row["completion"] == step["revision"] != row["original"]
        else:  # the reply was kept, and the summary says why
            assert not row["revised"] and row["completion"] == row["original"]
            kept[step["kept"]] = kept.get(step["kept"], 0) + 1
    assert summary["steps_kept_original"] == kept
    assert summary["revised"] == sum(r["revised"] for r in rows)
    by_prompt = {r["prompt"]: r for r in rows}
    assert by_prompt["What is the capital of France?"]["original"] == "I think it might be Lyon."
    if "Give one tip for sleeping better." in by_prompt:
        assert summary["completions_generated"] == 1
        assert by_prompt["Give one tip for sleeping better."]["original"].strip()


# (revision, reply it revises, critique, expected reason): what may not replace a reply.
REQUESTS = ("Identify specific ways in which your last reply falls short of this principle:\n\n"
            "The reply states only what is true and says so plainly when it does not know.",
            "Rewrite your last reply so that it follows that principle, fixing what your critique found.")
KEEP_TABLE = [
    ("", "Paris.", "Fine.", "empty_revision"),
    ("  \n ", "Paris.", "Fine.", "empty_revision"),
    ("Rewrite your last reply so that it follows that principle", "Paris.", "Fine.", "echoes_request"),
    ("Sure! rewrite your last reply, so that it follows that principle: fixing what your critique found.", "Paris.",
     "Fine.", "echoes_request"),
    ("The reply states only what is true and says so plainly when it does not know.", "Lyon?", "x", "echoes_request"),
    ("It guesses instead of knowing.", "Lyon?", "It guesses instead of knowing.", "echoes_critique"),
    ("Paris.", "Paris.", "It is right.", "unchanged"),
    ("paris", "Paris.", "It is right.", "unchanged"),
    ("The capital of France is Paris.", "I think it might be Lyon.", "It guesses a wrong city.", None),
    ("No.", "Yes.", "Fine.", None),  # whole words: "no" is not inside "know" or "not"
    ("The answer is 4.", "The answer is 5.", "It should say: the answer is 4, since 2 + 2 = 4.", None),  # the fix
]


@pytest.mark.parametrize(("revision", "current", "critique", "expected"), KEEP_TABLE)
def test_degenerate_revisions_keep_the_reply(revision: str, current: str, critique: str,
                                             expected: str | None) -> None:
    assert keep_reason(revision, current, critique, REQUESTS) == expected


def test_principles_are_all_in_order_or_a_seeded_draw_per_row() -> None:
    hhh = ConstitutionLibrary().get("hhh@1")
    assert principles_for(hhh, None, 0, 5) == list(hhh.principles)
    draws = [principles_for(hhh, 2, 0, i) for i in range(20)]
    assert all(len(d) == 2 and d[0] != d[1] for d in draws)
    assert draws == [principles_for(hhh, 2, 0, i) for i in range(20)]  # seeded: the same draw again
    assert len({tuple(p.id for p in d) for d in draws}) > 1  # and not the same for every row


@pytest.mark.parametrize(("line", "expected"), [
    ("{not json", "rows.jsonl:2: not JSON"),
    ('["a list"]', "rows.jsonl:2: expected a JSON object"),
    ('{"completion": "x"}', "rows.jsonl:2: missing 'prompt'"),
    ('{"prompt": "q", "completion": 3}', "rows.jsonl:2: 'completion' must be text"),
    ('{"prompt": "q", "completion": "  "}', "rows.jsonl:2: 'completion' is empty"),
    (json.dumps({"prompt": "q" * 101}), "rows.jsonl:2: 'prompt' has 101 characters, more than --max_chars 100"),
])
def test_a_bad_row_is_named_by_its_line_and_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               line: str, expected: str) -> None:
    data = _write(tmp_path / "rows.jsonl", [json.dumps({"prompt": "q", "completion": "a"}), line])
    out = tmp_path / "out"
    err = _fail(capsys, "--data", str(data), "--max_chars", "100", "--output_dir", str(out))
    assert expected in err and err.startswith("referee revise: error:")
    assert not out.exists()


def test_an_unknown_constitution_is_named_with_where_it_looked(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "rows.jsonl", [json.dumps({"prompt": "q", "completion": "a"})])
    extra = tmp_path / "my_constitutions"
    extra.mkdir()
    out = tmp_path / "out"
    err = _fail(capsys, "--data", str(data), "--constitution", "hhhh", "--constitution_dir", str(extra),
                "--output_dir", str(out))
    assert "'hhhh'" in err and "available: concise, hhh" in err
    assert "looked in: the shipped constitutions" in err and str(extra) in err
    assert not out.exists()

    err = _fail(capsys, "--data", str(data), "--constitution", "concise", "--num_principles", "9",
                "--output_dir", str(out))
    assert "concise@1 has 3 principles" in err and not out.exists()


def test_flags_are_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give --data"):
        run(parse_revise_args(["--output_dir", str(tmp_path / "out")]))
    with pytest.raises(ConfigError, match="--model_name_or_path is for the local backend"):
        parse_revise_args(["--model_name_or_path", "x", "--judge_backend", '{"kind": "openai"}'])
    with pytest.raises(ConfigError, match="--judge_backend: "):
        parse_revise_args(["--judge_backend", '{"kind": "remote"}'])
    with pytest.raises(ConfigError, match="--num_principles must be >= 1"):
        parse_revise_args(["--num_principles", "0"])
    config = tmp_path / "revise.yaml"
    config.write_text("constitution: concise@1\nnum_principles: 2\nmax-new-tokens: 16\n")
    args = parse_revise_args(["--config", str(config), "--num-principles", "1"])  # YAML first, flags override it
    assert (args.constitution, args.num_principles, args.max_new_tokens) == ("concise@1", 1, 16)


@pytest.mark.slow
def test_an_interrupted_run_leaves_no_file_that_looks_complete(tiny_model: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "rows.jsonl", [json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) for i in range(2)])
    out = tmp_path / "out"
    calls = []
    real = revise._Reviser.revise_batch

    async def crash_on_second(self: Any, rows: list[Any]) -> list[Any]:  # the one seam: a crash mid-run
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return await real(self, rows)

    monkeypatch.setattr(revise._Reviser, "revise_batch", crash_on_second)
    argv = ["--data", str(data), "--model_name_or_path", str(tiny_model), "--constitution", "concise",
            "--num_principles", "1", "--max_new_tokens", "4", "--batch_size", "1", "--output_dir", str(out)]
    with pytest.raises(RuntimeError, match="killed"):
        run(parse_revise_args(argv))
    assert not (out / "sft.jsonl").exists() and not (out / "summary.json").exists()
    assert [r["prompt"] for r in _rows(out / "sft.jsonl.partial")] == ["q0"]  # the finished batch, named partial

    # A model that cannot load: one line naming it, no output.
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    err = _fail(capsys, *argv[:2], "--model_name_or_path", str(empty), "--output_dir", str(tmp_path / "o2"))
    assert f"the model {str(empty)!r} could not be loaded" in err
    assert not (tmp_path / "o2").exists()

    # An earlier run's output is not replaced without --overwrite.
    (out / "sft.jsonl").write_text("")
    err = _fail(capsys, *argv)
    assert "already holds sft.jsonl" in err and "--overwrite true" in err


def test_a_backend_that_fails_every_generation_stops_the_run_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An infrastructure failure is not training data: the unrevised originals are not written as SFT rows."""
    data = _write(tmp_path / "rows.jsonl", [json.dumps({"prompt": "q", "completion": "a"})])
    out = tmp_path / "out"
    dead = json.dumps({"kind": "openai", "openai": {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                                                    "max_retries": 0}})
    err = _fail(capsys, "--data", str(data), "--judge_backend", dead, "--constitution", "concise",
                "--num_principles", "1", "--max_new_tokens", "4", "--output_dir", str(out))
    assert "the model backend failed every generation" in err and "nothing of the batch was written" in err
    assert not (out / "sft.jsonl").exists() and not list(out.glob("*.partial"))
