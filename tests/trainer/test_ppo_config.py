"""PPO's configuration: YAML then flags, our defaults, and cross-field errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from referee.trainer.ppo_config import PPO_DEFAULTS, parse_ppo_args
from referee.verifiers import ConfigError


def test_yaml_first_then_flags_with_our_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text("source: math\nbeta: 0.02\nppo_epochs: 2\nnum_mini_batches: 4\nper_device_train_batch_size: 32\n"
                   f"output_dir: {tmp_path / 'run'}\n")
    args, ppo, model = parse_ppo_args(["--config", str(cfg), "--beta", "0.05", "--target_kl", "6"])
    assert args.source == "math" and model.model_name_or_path == "embedded"
    assert ppo.beta == 0.05 and ppo.target_kl == 6.0  # the flag wins over the file
    assert (ppo.ppo_epochs, ppo.num_mini_batches, ppo.updates_per_step) == (2, 4, 8)
    assert ppo.per_device_train_batch_size == 32
    assert ppo.learning_rate == PPO_DEFAULTS["learning_rate"] and ppo.save_steps == PPO_DEFAULTS["save_steps"]
    assert (ppo.epsilon, ppo.epsilon_value, ppo.gamma, ppo.lam, ppo.vf_coef, ppo.ent_coef) == (
        0.2, 0.2, 1.0, 1.0, 0.1, 0.0)


@pytest.mark.parametrize(("flags", "message"), [
    (["--per_device_train_batch_size", "10", "--num_mini_batches", "4"], r"must split into num_mini_batches \(4\)"),
    (["--epsilon", "0"], "epsilon must be > 0"),
    (["--lam", "1.5"], r"gamma and lam must lie in \[0, 1\]"),
    (["--target_kl", "6", "--beta", "0"], "unset --target_kl for a fixed beta"),
    (["--vllm_mode", "remote"], "vllm_mode must be 'colocate' or 'server'"),
    (["--max_steps", "-1"], "PPO counts steps"),
])
def test_bad_combinations_fail_fast_naming_the_fix(flags: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_ppo_args(["--output_dir", str(tmp_path), *flags])


def test_referee_train_algo_switch() -> None:
    import subprocess
    import sys

    bad = subprocess.run([sys.executable, "-m", "referee", "train", "--algo", "sac"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert bad.stderr == "referee train: error: --algo must be one of grpo, ppo, dpo, kto, online_dpo, got 'sac'\n"
    help_text = subprocess.run([sys.executable, "-m", "referee", "train", "--algo", "ppo", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert "gae_lambda" in help_text or "lam" in help_text  # PPO's own parser answered
