"""Online DPO through the real service on loopback: sample, label, train a round, checkpoint, resume.

The policy is the tiny model of `tests/conftest.py` (random weights: it writes gibberish fast), so the labels come
from sources that vary on gibberish: the `wordcount` test plugin (by score), and a tiny reward model (by
comparison, Bradley-Terry). That the loop learns arithmetic from verifier labels is docs/training.md's proof.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from referee.cli import main as referee
from referee.service import RewardServiceError
from referee.service.local import LocalService
from referee.trainer.metrics import read_metrics
from referee.trainer.online_dpo import train
from referee.trainer.pref_config import parse_online_args
from referee.trainer.run import TrainingError

pytestmark = pytest.mark.slow


def _argv(model: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["--algo", "online_dpo", "--model_name_or_path", str(model), "--output_dir", str(out), "--service_url",
            url, "--dataset", "arithmetic", "--max_examples", "16", "--prompts_per_round", "4",
            "--generations_per_prompt", "3", "--max_completion_length", "12", "--temperature", "1.0",
            "--per_device_train_batch_size", "2", "--learning_rate", "1e-3", "--heldout_size", "2", "--seed", "0",
            "--disable_tqdm", "true", *extra]


def _changed(before: Path, after: Path) -> bool:
    a, b = load_file(str(before / "model.safetensors")), load_file(str(after / "model.safetensors"))
    return all(not torch.equal(a[k], b[k]) for k in a)


def test_a_round_labels_by_score_trains_checkpoints_and_resumes(tiny_model: Path, tmp_path: Path,
                                                                 service: LocalService) -> None:
    out = tmp_path / "online"
    train(*parse_online_args(_argv(tiny_model, out, service.url, "--rounds", "1", "--source", "wordcount",
                                   "--source_options", '{"target": 5}')))
    assert _changed(tiny_model, out)
    records = read_metrics(out)
    labels = [r for r in records if "online/round" in r]
    assert [r["online/round"] for r in labels] == [1.0]
    kept = labels[0]["online/pairs_kept"]
    assert kept >= 1 and kept + sum(v for k, v in labels[0].items() if k.startswith("online/pairs_dropped/")) == 4
    assert labels[0]["online/chosen_score"] > labels[0]["online/rejected_score"]
    steps = [r for r in records if "loss" in r]
    assert steps and all("rewards/margins" in r and "rewards/accuracies" in r for r in steps)
    assert "online/pairs_kept" in steps[0]  # the round's labels go on its first DPO step
    last = steps[-1]["step"]
    assert [r["step"] for r in records if "heldout/accuracy" in r] == [0, last]  # before, and after the round
    pairs = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(pairs) == kept and all(p["score_chosen"] > p["score_rejected"] and p["round"] == 1 for p in pairs)
    state = json.loads((out / f"checkpoint-{last}" / "trainer_state.json").read_text())
    assert state["round"] == 1 and state["global_step"] == last

    # The same run, one round further: it starts from round 1's policy and numbers its steps after it.
    assert referee(["train", "--output_dir", str(out), "--resume", "true", "--rounds", "2"]) == 0
    records = read_metrics(out)
    assert [r["online/round"] for r in records if "online/round" in r] == [1.0, 2.0]
    newest = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((newest / "trainer_state.json").read_text())
    assert state["round"] == 2 and state["global_step"] >= last
    with pytest.raises(TrainingError, match="already made its 2 rounds"):
        train(*parse_online_args(["--output_dir", str(out), "--resume", "true", "--algo", "online_dpo"]))


def test_resuming_after_rounds_that_kept_no_pair_keeps_their_records(tiny_model: Path, tmp_path: Path,
                                                                     service: LocalService) -> None:
    # `exact` scores the gibberish 0.0 against every reference: all ties, no pair, no DPO step (still step 0).
    out = tmp_path / "online"
    train(*parse_online_args(_argv(tiny_model, out, service.url, "--rounds", "1", "--source", "exact")))
    assert (out / "checkpoint-0").is_dir()
    assert referee(["train", "--output_dir", str(out), "--resume", "true", "--rounds", "2"]) == 0
    records = read_metrics(out)
    assert [r["online/round"] for r in records if "online/round" in r] == [1.0, 2.0]
    assert [r["step"] for r in records if "heldout/accuracy" in r] == [0, 0, 0]  # before; after rounds 1 and 2


@pytest.fixture(scope="module")
def rm_service(tiny_reward_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    settings = tmp_path_factory.mktemp("settings") / "settings.yaml"
    settings.write_text(f"source_options:\n  reward_model: {{model: {tiny_reward_model}}}\n")
    with LocalService(sources=["reward_model", "math"], extra_args=["--settings", str(settings)]) as svc:
        yield svc


def test_a_round_labelled_by_compare(tiny_model: Path, tmp_path: Path, rm_service: LocalService) -> None:
    out = tmp_path / "compare"
    train(*parse_online_args(_argv(tiny_model, out, rm_service.url, "--rounds", "1", "--label_with", "compare",
                                   "--source", "reward_model", "--generations_per_prompt", "2", "--min_confidence",
                                   "0", "--heldout_source", "math")))
    [labels] = [r for r in read_metrics(out) if "online/round" in r]
    pairs = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert labels["online/pairs_kept"] == len(pairs) >= 1
    assert all(p["p_chosen_better"] >= 0.5 for p in pairs)
    assert labels["online/chosen_score"] >= 0.5 >= labels["online/rejected_score"]
    assert _changed(tiny_model, out)


def test_a_source_that_cannot_score_stops_the_run(tiny_model: Path, tmp_path: Path, service: LocalService) -> None:
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Say {i}."}) + "\n" for i in range(8)))
    with pytest.raises(TrainingError, match=r"every reward of the last 1 round\(s\) was unscored \(no_reference: 12\)"
                       r".*--reference_column"):
        train(*parse_online_args(_argv(tiny_model, tmp_path / "run", service.url, "--rounds", "2", "--source",
                                       "exact", "--dataset", str(data), "--heldout_size", "0")))
    assert not list((tmp_path / "run").glob("checkpoint-*"))  # nothing was trained on


def test_a_constitution_that_does_not_exist_is_named(tiny_model: Path, tmp_path: Path, service: LocalService) -> None:
    with pytest.raises(RewardServiceError, match="no constitution named 'nope'; available: concise, hhh"):
        train(*parse_online_args(_argv(tiny_model, tmp_path / "run", service.url, "--rounds", "1", "--label_with",
                                       "compare", "--source", "judge", "--constitution", "nope@2",
                                       "--generations_per_prompt", "2", "--heldout_size", "0")))


@pytest.mark.parametrize(("extra", "message"), [
    (["--label_with", "compare", "--source", "math"], "takes one comparing source: --source judge or reward_model"),
    (["--use_peft", "true"], "--use_peft is not offered"),
    (["--max_steps", "5"], "online DPO counts rounds, not steps"),
    (["--label_with", "compare", "--generations_per_prompt", "3", "--source", "judge"], "--generations_per_prompt 2"),
])
def test_bad_configs_are_named(extra: list[str], message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = referee(["train", "--algo", "online_dpo", "--output_dir", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
