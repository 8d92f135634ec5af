"""PPO against a learned reward model through the service: the service the run starts is given the reward
model's folder by a settings file (`--service_settings`), and held-out answers are scored by a verifier (the
gold), so the run logs proxy and gold side by side with the proxy-versus-gold monitor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referee.judges.reward_model import RewardModel, RewardModelConfig
from referee.trainer.metrics import read_metrics
from referee.trainer.ppo import train
from referee.trainer.ppo_config import parse_ppo_args
from referee.trainer.report import write_report
from referee.trainer.run import COMPLETIONS_FILE
from referee.verifiers import Runtime, Sample

pytestmark = pytest.mark.slow


async def test_a_ppo_step_scores_rollouts_with_the_reward_model_and_evaluates_with_the_verifier(
        tiny_model: Path, tiny_reward_model: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"source_options:\n  reward_model: {{model: {tiny_reward_model}}}\n")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"What is {i} + 1?", "reference": str(i + 1)}) + "\n"
                            for i in range(24)))
    out = train(*parse_ppo_args([
        "--model_name_or_path", str(tiny_model), "--output_dir", str(tmp_path / "run"), "--dataset", str(data),
        "--source", "reward_model", "--service_settings", str(settings), "--heldout_source", "exact",
        "--heldout_size", "4", "--heldout_steps", "1", "--max_steps", "2", "--max_completion_length", "8",
        "--per_device_train_batch_size", "4", "--ppo_epochs", "1", "--learning_rate", "1e-3", "--save_steps", "10",
        "--disable_tqdm", "true"]))

    records = read_metrics(out)
    trained = [r for r in records if "reward" in r]
    assert [r["step"] for r in trained] == [1, 2]
    assert all(r["reward_model/unscored_frac"] == 0.0 for r in trained)
    assert [r["step"] for r in records if "heldout/accuracy" in r] == [0, 1, 2]
    assert [r["step"] for r in records if "monitor/proxy_up_gold_down" in r] == [1, 2]
    heldout = [json.loads(line) for line in (out / "heldout" / "step_00002.jsonl").read_text().splitlines()]
    assert all(h["reward"] in (0.0, 1.0) for h in heldout)  # the gold: `exact`, not the reward model

    # The rollouts' rewards are the reward model's own scores of (prompt, completion), through the service.
    rollouts = [json.loads(line) for line in (out / COMPLETIONS_FILE).read_text().splitlines()]
    async with Runtime(workers=1, preload=()) as rt:
        direct = await RewardModel(RewardModelConfig(model=str(tiny_reward_model)), rt).score(
            [Sample(prompt=r["prompt"], completion=r["completion"]) for r in rollouts])
    for rollout, score in zip(rollouts, direct, strict=True):
        assert rollout["reward"] == pytest.approx(score.value, abs=1e-4)
    assert len({round(r["reward"], 6) for r in rollouts}) > 1

    plots = write_report(out)
    assert (out / "plots" / "proxy_gold.png") in plots
