"""`referee sft`: real TRL SFTTrainer steps on a tiny model (`tiny_model`), metrics, resume, bad rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from referee.trainer.metrics import read_metrics
from referee.trainer.rows import DataError
from referee.trainer.run import TrainingError
from referee.trainer.sft import parse_sft_args, sft_dataset, train

pytestmark = pytest.mark.slow


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _demos(tmp_path: Path, n: int = 16) -> Path:
    return _write(tmp_path / "sft.jsonl", [{"prompt": f"What is {i} + 1?", "completion": f"The answer is {i + 1}.",
                                            "score": 1.0} for i in range(n)])


def _argv(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--data", str(data), "--output_dir", str(out),
            "--per_device_train_batch_size", "4", "--learning_rate", "1e-3", "--save_steps", "1",
            "--disable_tqdm", "true", *extra]


def test_steps_change_the_model_and_write_metrics(tiny_model: Path, tmp_path: Path) -> None:
    out = train(*parse_sft_args(_argv(tiny_model, _demos(tmp_path), tmp_path / "sft", "--max_steps", "3",
                                      "--eval_fraction", "0.25", "--eval_steps", "3")))
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(not torch.equal(before[k], after[k]) for k in before)
    records = read_metrics(out)
    steps = [r for r in records if "loss" in r and "train_loss" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all("mean_token_accuracy" in r and "learning_rate" in r for r in steps)
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert any("eval_loss" in r and r["step"] == 3 for r in records)
    assert (out / "tensorboard").is_dir() and (out / "tokenizer.json").is_file()


def test_resume_continues_the_same_run(tiny_model: Path, tmp_path: Path) -> None:
    data = _demos(tmp_path)
    out = tmp_path / "sft"
    train(*parse_sft_args(_argv(tiny_model, data, out, "--max_steps", "2")))
    with pytest.raises(TrainingError, match="--resume"):
        train(*parse_sft_args(_argv(tiny_model, data, out, "--max_steps", "2")))
    args, cfg, model = parse_sft_args(["--output_dir", str(out), "--resume", "true", "--max_steps", "3"])
    assert (args.data, model.model_name_or_path) == (str(data), str(tiny_model))  # from the saved run_config.yaml
    train(args, cfg, model)
    assert [r["step"] for r in read_metrics(out) if "loss" in r and "train_loss" not in r] == [1, 2, 3]

    # Resuming a run that reached its last step (cut off while saving) only saves: no step past the end.
    (out / "model.safetensors").unlink()
    train(*parse_sft_args(["--output_dir", str(out), "--resume", "true"]))
    final, checkpoint = load_file(str(out / "model.safetensors")), load_file(str(out / "checkpoint-3" /
                                                                                  "model.safetensors"))
    assert all(torch.equal(final[k], checkpoint[k]) for k in final)
    assert max(r["step"] for r in read_metrics(out)) == 3


def test_text_rows_become_chat_turns_and_chats_stay_chats() -> None:
    from referee.trainer.rows import SFTRow

    rows = [SFTRow("Hi", "Hello", None, 1)]
    assert sft_dataset(rows, chat=True) == [{"prompt": [{"role": "user", "content": "Hi"}],
                                             "completion": [{"role": "assistant", "content": "Hello"}]}]
    assert sft_dataset(rows, chat=False) == [{"prompt": "Hi", "completion": "Hello"}]
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert sft_dataset([SFTRow(None, None, chat, 1)], chat=True) == [{"messages": chat}]


@pytest.mark.parametrize(("row", "problem"), [
    ({"prompt": "p"}, "line 2: missing field 'completion'"),
    ({"prompt": "p", "completion": ""}, "line 2: 'completion' is empty text"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "line 2: 'messages' has no assistant turn"),
    ({"text": "hi"}, r"line 2: expected \{prompt, completion\} or \{messages\}"),
])
def test_a_bad_row_names_its_line_and_nothing_is_written(row: dict[str, Any], problem: str, tiny_model: Path,
                                                         tmp_path: Path) -> None:
    data = _write(tmp_path / "sft.jsonl", [{"prompt": "p", "completion": "c"}, row])
    with pytest.raises(DataError, match=problem):
        train(*parse_sft_args(_argv(tiny_model, data, tmp_path / "sft", "--max_steps", "1")))
    assert not (tmp_path / "sft").exists()
