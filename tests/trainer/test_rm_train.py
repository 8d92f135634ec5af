"""`referee rm train`: real TRL RewardTrainer steps on a tiny model, the folder served by the real service.

The tiny model is a 2-layer causal LM with the embedded model's tokenizer (`tiny_model`); TRL loads it as a
sequence classifier with a fresh one-output head, as it loads the embedded model by default.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from safetensors.torch import load_file

from referee.cli import main as referee_main
from referee.judges.reward_model import read_manifest, reward_input_ids, weights_sha256
from referee.service.local import LocalService
from referee.trainer.metrics import read_metrics
from referee.trainer.rm import parse_rm_args, train
from referee.trainer.rows import DataError, read_preference_rows

pytestmark = pytest.mark.slow

_THINGS = ("apples", "cats", "rain", "music", "tea", "maps", "snow", "bread", "trains", "books", "clocks", "stars")


def _pairs(n: int, seed: int) -> list[dict[str, str]]:
    """A trivially learnable set: the chosen reply praises, the rejected one complains."""
    r = random.Random(seed)
    rows = []
    for i in range(n):
        thing = r.choice(_THINGS)
        rows.append({"prompt": f"What do you think of {thing}, question {seed}-{i}?",
                     "chosen": f"{thing} are wonderful, great and good.",
                     "rejected": f"{thing} are awful, terrible and bad."})
    return rows


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _argv(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--data", str(data), "--output_dir", str(out), "--max_steps", "8",
            "--per_device_train_batch_size", "4", "--eval_fraction", "0.25", "--eval_steps", "4",
            "--learning_rate", "1e-3", "--disable_tqdm", "true", *extra]


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("rm")
    data = _write(tmp / "pairs.jsonl", _pairs(40, seed=0))
    return train(*parse_rm_args(_argv(tiny_model, data, tmp / "rm"))), data


def test_a_few_steps_train_and_write_a_complete_manifest(trained: tuple[Path, Path], tiny_model: Path) -> None:
    out, data = trained
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    shared = [k for k in before if k in after]
    assert shared and all(not torch.equal(before[k], after[k]) for k in shared)
    assert "score.weight" in after

    manifest = read_manifest(out)
    assert manifest is not None
    assert manifest.weights_sha256 == weights_sha256(out)
    assert (manifest.data.rows, manifest.data.train_rows, manifest.data.eval_rows) == (40, 30, 10)
    assert manifest.data.path == str(data)
    assert manifest.training.steps == 8 and manifest.training.lora is False
    assert manifest.eval is not None and manifest.eval.pairs == 10 and manifest.eval.accuracy >= 0.9
    assert manifest.normalization is not None and manifest.normalization.count == 60
    assert not list(out.glob(".saving-*"))

    records = read_metrics(out)
    steps = [r for r in records if "loss" in r and "eval_loss" not in r and "train_loss" not in r]
    assert [r["step"] for r in steps] == list(range(1, 9))
    for key in ("loss", "accuracy", "margin", "chosen_reward", "rejected_reward"):
        assert all(key in r for r in steps), key
    evals = [r for r in records if "eval_accuracy" in r]
    assert [r["step"] for r in evals] == [4, 8]
    assert all(k in evals[-1] for k in ("eval_loss", "eval_margin", "eval_chosen_reward", "eval_rejected_reward"))
    assert (out / "tensorboard").is_dir()


def test_the_folder_serves_and_ranks_unseen_pairs(trained: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = trained
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"source_options:\n  reward_model: {{model: {out}}}\n")
    unseen = _pairs(12, seed=1)  # prompts never trained on
    samples = [{"prompt": p["prompt"], "completion": p[side]} for p in unseen for side in ("chosen", "rejected")]
    with LocalService(sources=["reward_model"], extra_args=["--settings", str(settings)]) as svc:
        raw = httpx.post(svc.url + "/v1/score", json={"source": "reward_model", "samples": samples},
                         timeout=120).json()["scores"]
        z = httpx.post(svc.url + "/v1/score", json={"source": "reward_model", "options": {"normalize": True},
                                                    "samples": samples}, timeout=120).json()["scores"]
    values = [s["value"] for s in raw]
    assert all(values[2 * i] > values[2 * i + 1] for i in range(len(unseen)))
    norm = read_manifest(out).normalization  # type: ignore[union-attr]
    assert norm is not None
    for r, s in zip(raw, z, strict=True):
        assert s["details"]["value"] == "zscore"
        assert s["value"] == pytest.approx((r["value"] - norm.mean) / norm.std, abs=1e-5)
    assert raw[0]["details"]["reward_model"]["weights_sha256"] == weights_sha256(out)


def test_lora_is_merged_into_a_folder_that_serves(tiny_model: Path, tmp_path: Path) -> None:
    data = _write(tmp_path / "pairs.jsonl", _pairs(16, seed=2))
    out = train(*parse_rm_args(_argv(tiny_model, data, tmp_path / "rm", "--max_steps", "2", "--use_peft", "true",
                                     "--lora_target_modules", "q_proj", "v_proj", "--eval_fraction", "0")))
    assert not (out / "adapter_config.json").exists()
    weights = load_file(str(out / "model.safetensors"))
    assert "score.weight" in weights and not any("lora" in k for k in weights)
    manifest = read_manifest(out)
    assert manifest is not None and manifest.training.lora is True and manifest.eval is None

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([reward_input_ids(tokenizer, "Hi", "Hello")])
    assert model(input_ids=ids).logits.shape == (1, 1)


def test_a_run_cut_off_after_its_last_step_is_finished_by_resume(tiny_model: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from referee.trainer import rm

    data = _write(tmp_path / "pairs.jsonl", _pairs(16, seed=5))
    out = tmp_path / "rm"
    argv = _argv(tiny_model, data, out, "--max_steps", "2", "--save_steps", "2", "--eval_steps", "2")

    def crash(*_: Any) -> None:  # the one seam: the final scoring dies after the last checkpoint was saved
        raise RuntimeError("killed")

    real = rm._score_saved
    monkeypatch.setattr(rm, "_score_saved", crash)
    with pytest.raises(RuntimeError, match="killed"):
        train(*parse_rm_args(argv))
    assert (out / "checkpoint-2").is_dir() and read_manifest(out) is None
    monkeypatch.setattr(rm, "_score_saved", real)

    train(*parse_rm_args(["--output_dir", str(out), "--resume", "true"]))  # no step past the end: only the save
    manifest = read_manifest(out)
    assert manifest is not None and manifest.training.steps == 2 and manifest.weights_sha256 == weights_sha256(out)
    checkpoint = load_file(str(out / "checkpoint-2" / "model.safetensors"))
    final = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(checkpoint[k], final[k]) for k in final)
    assert not list(out.glob(".saving-*"))


@pytest.mark.parametrize(("line", "problem"), [
    ('{"prompt": "p", "chosen": "a"}', "missing field 'rejected'"),
    ('{"prompt": "p", "chosen": "  ", "rejected": "b"}', "'chosen' is empty text"),
    ('{"prompt": "p", "chosen": "same", "rejected": "same"}', "'chosen' equals 'rejected'"),
    ('{"prompt": "p", "chosen": 3, "rejected": "b"}', "'chosen' must be text or a list of {role, content} messages, "
                                                     "got int"),
    ('{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}',
     "'chosen' and 'rejected' must both be text or both be messages"),
    ('{"prompt": "p", "chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "b"}]}',
     r"chosen\[0\] must be a message"),
    ('["p", "a", "b"]', "expected a JSON object, got list"),
    ('{"prompt": "p", "chosen": "a", ', "not JSON"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
])
def test_a_bad_row_is_one_error_naming_its_line_and_nothing_is_written(line: str, problem: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps(_pairs(1, seed=3)[0])
    data = _write(tmp_path / "pairs.jsonl", [good, good, line, good])
    with pytest.raises(DataError, match=rf"pairs.jsonl, line 3: {problem}"):
        read_preference_rows(data)
    out = tmp_path / "rm"
    assert referee_main(["rm", "train", "--data", str(data), "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("referee rm: error:") and "line 3" in err
    assert not out.exists()


def test_text_that_is_not_utf8_or_holds_u2028_is_read_as_jsonl(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    row = {"prompt": "p\u2028q", "chosen": "a\u2028b", "rejected": "c"}  # raw U+2028 is valid inside JSON text
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [r.chosen for r in read_preference_rows(data)] == ["a\u2028b"]
    data.write_bytes(b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n')  # Latin-1, not UTF-8
    assert referee_main(["rm", "train", "--data", str(data), "--output_dir", str(tmp_path / "rm")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not UTF-8 text (byte 15)" in err and "Traceback" not in err


def test_every_bad_line_is_counted(tmp_path: Path) -> None:
    data = _write(tmp_path / "pairs.jsonl", ['{"prompt": "p"}', json.dumps(_pairs(1, 4)[0]), '{"chosen": "a"}'])
    with pytest.raises(DataError, match=r"line 1: missing field 'chosen' \(1 more bad line\(s\), the next: line 3"):
        read_preference_rows(data)


def test_the_forms_referee_and_trl_write_are_read(tmp_path: Path) -> None:
    rows = [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5", "score_chosen": 1.0, "score_rejected": 0.0,
         "provenance": {"chosen": {"source": "math"}}},  # referee best-of-n
        {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
         "rejected": [{"role": "assistant", "content": "5"}], "confidence": 0.9},  # referee prefs, conversational
        {"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
         "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]},  # implicit prompt
    ]
    read = read_preference_rows(_write(tmp_path / "pairs.jsonl", rows))
    assert [r.line for r in read] == [1, 2, 3]
    assert read[0].prompt == "2+2?" and read[1].chosen == [{"role": "assistant", "content": "4"}]
    assert read[2].prompt == []
