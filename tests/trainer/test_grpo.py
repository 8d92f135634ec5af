"""GRPO end to end: a tiny policy built from a config, the real service on loopback, real TRL steps.

The tiny model writes gibberish, so most runs use the `wordcount` test plugin (a reward that varies with
the length of any text) to give GRPO a spread of rewards; the arithmetic run that learns with `math` is
in docs/training.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from referee.service.local import LocalService
from referee.trainer.config import parse_train_args
from referee.trainer.grpo import train
from referee.trainer.metrics import read_metrics
from referee.trainer.parser import RUN_CONFIG_FILE
from referee.trainer.report import summarize, write_report
from referee.trainer.run import COMPLETIONS_FILE, TrainingError, latest_checkpoint

pytestmark = pytest.mark.slow


def _argv(model: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--output_dir", str(out), "--service_url", url,
            "--source", "wordcount", "--source_options", '{"target": 5}', "--max_examples", "32",
            "--max_completion_length", "12", "--per_device_train_batch_size", "8", "--num_generations", "4",
            "--learning_rate", "1e-3", "--save_steps", "1", "--disable_tqdm", "true", "--heldout_size", "4",
            "--seed", "0", *extra]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _train_records(out: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics(out) if "reward" in r]


def test_two_steps_change_the_policy_and_write_every_metric(tiny_model: Path, tmp_path: Path,
                                                            service: LocalService) -> None:
    args, grpo, model = parse_train_args(_argv(tiny_model, tmp_path / "run", service.url, "--max_steps", "2",
                                               "--heldout_steps", "1"))
    assert grpo.beta == 0.04  # our default: a small KL penalty, on
    out = train(args, grpo, model)

    before, after = _weights(tiny_model), _weights(out)
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) == len(before), f"unchanged: {set(before) - set(changed)}"

    records = _train_records(out)
    assert [r["step"] for r in records] == [1, 2]
    for key in ("reward", "reward_std", "rewards/wordcount/mean", "rewards/wordcount/std", "wordcount/unscored_frac",
                "kl", "entropy", "clip_ratio/region_mean", "frac_reward_zero_std", "completions/mean_length",
                "completions/min_length", "completions/max_length", "completions/std_length", "time/step",
                "time/generation", "time/reward", "time/update", "time/reward_share",
                "throughput/generated_tokens_per_s", "heldout/accuracy", "heldout/reward", "learning_rate"):
        assert key in records[1], key
    first, second = records
    assert first["kl"] == 0.0 < second["kl"]  # the policy is the reference until the first update
    assert 0 < second["time/reward"] < second["time/step"]
    assert second["time/generation"] + second["time/reward"] + second["time/update"] == pytest.approx(
        second["time/step"])
    heldout = [r["step"] for r in read_metrics(out) if "heldout/accuracy" in r]
    assert heldout == [0, 1, 2]  # before training, then every step

    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    completions = [json.loads(line) for line in (out / COMPLETIONS_FILE).read_text().splitlines()]
    assert len(completions) == 16 and {c["step"] for c in completions} == {1, 2}
    assert all(isinstance(c["reward"], float) for c in completions)
    assert (out / "heldout" / "step_00002.jsonl").is_file()

    pngs = write_report(out)
    assert all(p.stat().st_size > 10_000 for p in pngs)
    assert summarize(read_metrics(out))["steps"] == 2


def test_unscored_completions_are_masked_not_scored_zero(tiny_model: Path, tmp_path: Path,
                                                         service: LocalService) -> None:
    # Half the prompts have no reference: `exact` cannot score them, so the mix is unscored there.
    data = tmp_path / "data.jsonl"
    rows = [{"question": f"say {i}", "gold": str(i) if i % 2 else None} for i in range(16)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = train(*parse_train_args(_argv(
        tiny_model, tmp_path / "run", service.url, "--max_steps", "2", "--heldout_steps", "0",
        "--dataset", str(data), "--prompt_column", "question", "--reference_column", "gold",
        "--source", "wordcount:1.0,exact:1.0", "--source_options", '{"wordcount": {"target": 5}}')))

    completions = [json.loads(line) for line in (out / COMPLETIONS_FILE).read_text().splitlines()]
    unscored = [c for c in completions if c["reference"] is None]
    assert unscored and all(c["reward"] is None and c["reason"] == "component_unscored" for c in unscored)
    for record in _train_records(out):
        step = [c for c in completions if c["step"] == record["step"]]
        scored = [c["reward"] for c in step if c["reward"] is not None]
        # The logged reward is the mean over scored completions only: an unscored one counted as 0 would
        # pull it down (wordcount rewards are > 0).
        assert record["reward"] == pytest.approx(sum(scored) / len(scored), rel=1e-5)
        assert record["mix/unscored_frac"] == pytest.approx(1 - len(scored) / len(step))
        assert record["mix/unscored/component_unscored"] == record["mix/unscored_frac"]
        assert "mix/wordcount/mean" in record and "mix/exact/mean" in record


class _StopServiceAfterStep(TrainerCallback):
    def __init__(self, service: LocalService, step: int) -> None:
        self.service, self.step = service, step

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if state.global_step == self.step:
            self.service.stop()


def test_unreachable_service_saves_a_checkpoint_and_stops_with_a_clear_error(tiny_model: Path,
                                                                             tmp_path: Path) -> None:
    with LocalService(sources=["wordcount"]) as own:
        args, grpo, model = parse_train_args(_argv(
            tiny_model, tmp_path / "run", own.url, "--max_steps", "5", "--save_steps", "100",
            "--heldout_steps", "0", "--service_deadline", "2"))
        with pytest.raises(TrainingError, match=r"stopped at step 1: .*did not answer.*--resume") as info:
            train(args, grpo, model, callbacks=[_StopServiceAfterStep(own, 1)])
    assert "checkpoint-1" in str(info.value)
    assert latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoint-1"


def _run_cli(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "referee.trainer.grpo", *argv], env=env, **kwargs)


def test_resume_after_kill_9_continues_from_the_last_checkpoint(tiny_model: Path, tmp_path: Path,
                                                                 service: LocalService) -> None:
    common = ("--max_steps", "4", "--save_steps", "2", "--heldout_steps", "0", "--lr_scheduler_type", "constant")
    # Reference: four steps without interruption.
    straight = train(*parse_train_args(_argv(tiny_model, tmp_path / "straight", service.url, *common)))

    out = tmp_path / "crashed"
    log = open(tmp_path / "crashed.log", "wb")
    proc = _run_cli(_argv(tiny_model, out, service.url, *common), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while latest_checkpoint(out) != out / "checkpoint-2" and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # no clean-up of any kind, as in a crash
        proc.wait()
    finally:
        log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "crashed.log").read_text()[-3000:]
    assert latest_checkpoint(out) == out / "checkpoint-2"

    with pytest.raises(TrainingError, match="--resume"):  # a plain rerun refuses to overwrite the run
        train(*parse_train_args(_argv(tiny_model, out, service.url, *common)))
    resumed = train(*parse_train_args(_argv(tiny_model, out, service.url, *common, "--resume", "true")))

    steps = [r["step"] for r in _train_records(resumed)]
    assert steps == [1, 2, 3, 4]  # steps the crash cut off (if any) are not in the curve twice
    state = json.loads((resumed / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # Same data order, same sampling RNG, same optimizer state: the same weights as the uninterrupted run.
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), "resumed run diverged from the straight one"


def test_resume_true_continues_the_same_run_with_its_saved_configuration(tiny_model: Path, tmp_path: Path,
                                                                         service: LocalService) -> None:
    out = tmp_path / "run"
    train(*parse_train_args(_argv(tiny_model, out, service.url, "--max_steps", "2", "--heldout_steps", "0")))
    saved = yaml.safe_load((out / RUN_CONFIG_FILE).read_text())
    assert saved["algo"] == "grpo" and saved["source"] == "wordcount" and saved["max_steps"] == 2
    assert "resume" not in saved and "api_key" not in saved

    # Only the folder, --resume and what changes: the rest (model, source, data, batch) comes from the saved run.
    args, grpo, model = parse_train_args(["--output_dir", str(out), "--resume", "true", "--max_steps", "3"])
    assert (args.source, args.source_options, args.max_examples, model.model_name_or_path, grpo.max_steps,
            grpo.per_device_train_batch_size) == ("wordcount", {"target": 5}, 32, str(tiny_model), 3, 8)
    run = subprocess.run([sys.executable, "-m", "referee", "train", "--output-dir", str(out), "--resume", "true",
                          "--max_steps", "3"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith(f"done: model, metrics.jsonl and checkpoints in {out}")
    records = _train_records(out)
    assert [r["step"] for r in records] == [1, 2, 3] and "wordcount/unscored_frac" in records[-1]
    assert yaml.safe_load((out / RUN_CONFIG_FILE).read_text())["max_steps"] == 3  # saved in turn
    # A finished run resumed as it is has nothing to do (transformers would train one step past the end).
    with pytest.raises(TrainingError, match=r"has already reached its 3 steps \(checkpoint-3\).*--max_steps N"):
        train(*parse_train_args(["--output_dir", str(out), "--resume", "true"]))


def test_a_run_whose_rewards_stay_unscored_stops_naming_the_reason_and_the_column(tiny_model: Path, tmp_path: Path,
                                                                                  service: LocalService) -> None:
    data = tmp_path / "data.jsonl"  # the gold answers are in `answer`, but the run reads `reference`
    data.write_text("".join(json.dumps({"question": f"say {i}", "answer": str(i)}) + "\n" for i in range(16)))
    argv = _argv(tiny_model, tmp_path / "run", service.url, "--max_steps", "5", "--heldout_steps", "0",
                 "--dataset", str(data), "--prompt_column", "question", "--source", "exact", "--source_options", "{}",
                 "--max_unscored_steps", "2")
    stop = r"every reward of the last 2 steps was unscored \(no_reference: 16\)"
    with pytest.raises(TrainingError, match=stop) as info:
        train(*parse_train_args(argv))
    assert "--reference_column NAME" in str(info.value) and "column 'reference'" in str(info.value)
    assert [r["step"] for r in _train_records(tmp_path / "run")] == [1]  # stopped in step 2, not at step 5
