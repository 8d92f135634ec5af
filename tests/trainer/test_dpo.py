"""DPO and KTO on the embedded SmolLM2-135M-Instruct: real TRL steps, real checkpoints, the real service for the
held-out verifier, resume, report; and bad input stopped before anything loads, in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from referee.cli import main as referee
from referee.judges import cache_dir, embedded_model_path
from referee.service.local import LocalService
from referee.trainer.dpo import train
from referee.trainer.metrics import read_metrics
from referee.trainer.pref_config import parse_preference_args
from referee.trainer.report import summarize, write_report


def _pairs(tmp_path: Path, n: int = 4) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({
        "prompt": f"What is {i} + {i + 2}?", "chosen": f"{i} + {i + 2} = {2 * i + 2}. The answer is {2 * i + 2}.",
        "rejected": f"The answer is {2 * i + 5}.", "score_chosen": 1.0, "score_rejected": 0.0}) + "\n"
        for i in range(n)))
    return path


def _common(out: Path, *extra: str) -> list[str]:
    return ["--output_dir", str(out), "--per_device_train_batch_size", "2", "--save_steps", "1",
            "--disable_tqdm", "true", "--learning_rate", "1e-5", "--seed", "0", "--lr_scheduler_type", "constant",
            *extra]


def _changed(out: Path) -> tuple[int, int]:
    before = load_file(str(embedded_model_path(cache_dir()) / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    return sum(not torch.equal(before[k], after[k]) for k in before), len(before)


def _steps(out: Path, key: str) -> list[int]:
    return [r["step"] for r in read_metrics(out) if key in r]


@pytest.mark.slow
def test_dpo_steps_change_the_policy_log_every_metric_evaluate_and_resume(tmp_path: Path,
                                                                          service: LocalService) -> None:
    out = tmp_path / "dpo"
    argv = ["--algo", "dpo", "--data", str(_pairs(tmp_path)), *_common(out), "--max_steps", "2",
            "--service_url", service.url, "--heldout_source", "math", "--dataset", "arithmetic", "--heldout_size",
            "2", "--heldout_steps", "2", "--max_completion_length", "12"]
    train(*parse_preference_args(argv, "dpo"))

    changed, total = _changed(out)
    assert changed == total, f"{total - changed} of {total} tensors unchanged"
    records = [r for r in read_metrics(out) if "loss" in r]
    assert [r["step"] for r in records] == [1, 2]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                "logps/rejected", "entropy", "learning_rate"):
        assert key in records[1], key
    assert records[0]["rewards/margins"] == 0.0 != records[1]["rewards/margins"]  # the policy is the reference at 1
    assert _steps(out, "heldout/accuracy") == [0, 2]  # through the service, before training and at the end
    heldout = [json.loads(line) for line in (out / "heldout" / "step_00002.jsonl").read_text().splitlines()]
    assert len(heldout) == 2 and all(h["reward"] in (0.0, 1.0) for h in heldout)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    # --resume continues the same run (its saved configuration) from checkpoint-2 to step 3.
    code = referee(["train", "--output_dir", str(out), "--resume", "true", "--max_steps", "3", "--service_url",
                    service.url])
    assert code == 0
    assert [r["step"] for r in read_metrics(out) if "loss" in r] == [1, 2, 3]
    assert _steps(out, "heldout/accuracy") == [0, 2, 3]
    pngs = write_report(out)
    assert all(p.stat().st_size > 10_000 for p in pngs)
    summary = summarize(read_metrics(out))
    assert summary["steps"] == 3 and "rewards/margins" in summary and "heldout/accuracy" in summary


@pytest.mark.slow
def test_kto_on_scored_rows_changes_the_policy_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "samples.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for i in range(4) for r in (
        {"prompt": f"{i} + 1?", "completion": f"The answer is {i + 1}.", "score": 1.0},
        {"prompt": f"{i} + 1?", "completion": f"The answer is {i + 3}.", "score": 0.0},
        {"prompt": f"{i} + 1?", "completion": "(timed out)", "score": None})))
    out = tmp_path / "kto"
    argv = ["--algo", "kto", "--data", str(rows), "--label_threshold", "1.0", *_common(out), "--max_steps", "1"]
    train(*parse_preference_args(argv, "kto"))
    assert "8 KTO rows: 4 desirable, 4 undesirable; dropped 4 unscored" in capsys.readouterr().err
    changed, total = _changed(out)
    assert changed == total
    assert referee(["train", "--output_dir", str(out), "--resume", "true", "--max_steps", "2"]) == 0
    records = [r for r in read_metrics(out) if "loss" in r]
    assert [r["step"] for r in records] == [1, 2]
    for key in ("kl", "entropy", "loss"):
        assert all(key in r for r in records), key
    # A batch holds desirable or undesirable completions or both: whichever it holds, the implicit reward is 0 at
    # step 1 (the policy is the reference) and not after the resumed step.
    for record, moved in zip(records, (False, True), strict=True):
        implicit = [record[k] for k in ("rewards/chosen", "rewards/rejected") if k in record]
        assert implicit and any(v != 0.0 for v in implicit) == moved, record


def _err(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = referee(["train", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    return err


def test_bad_input_stops_before_anything_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    assert f"{bad}:2: missing 'rejected'" in _err(capsys, "--algo", "dpo", "--data", str(bad), "--output_dir", out)
    assert "give --data FILE" in _err(capsys, "--algo", "dpo", "--output_dir", out)
    scored = tmp_path / "scored.jsonl"
    scored.write_text('{"prompt": "p", "completion": "a", "score": 1.0}\n')
    assert "give --label_threshold T" in _err(capsys, "--algo", "kto", "--data", str(scored), "--output_dir", out)
    assert "--per_device_train_batch_size 2 or more" in _err(
        capsys, "--algo", "kto", "--data", str(scored), "--per_device_train_batch_size", "1", "--output_dir", out)
    assert "unknown flag '--label_treshold'" in _err(capsys, "--algo", "kto", "--label_treshold", "1")
    assert not Path(out).exists()  # nothing was written


def test_help_lists_the_preference_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_preference_args(["--algo", "kto", "--help"], "kto")
    text: Any = capsys.readouterr().out
    assert "--label_threshold" in text and "--desirable_weight" in text and "referee: the labelled rows" in text
