"""PPO's configuration: `PPOConfig` (transformers' `TrainingArguments` plus PPO's own fields), parsed like GRPO's.

    args, ppo, model = parse_ppo_args(["--config", "cfg.yaml", "--beta", "0.02"])

The same three-part style as `referee.trainer.config`: `RefereeArgs` (reward source, data, held-out set,
resume), a trainer config, and TRL's `ModelConfig`, parsed by `referee.trainer.parser` (`--config file.yaml`
first, flags override it; `--resume` reloads the run's saved configuration). The flags shared with GRPO
mean the same thing (`--learning_rate`, `--max_steps`, `--save_steps`, `--beta`, `--max_completion_length`,
`--temperature`, `--use_vllm`, ...), with one difference of unit: `--per_device_train_batch_size` counts
rollouts per step (prompts, one completion each).

Defaults that differ from TrainingArguments' are in `PPO_DEFAULTS`. The PPO ones follow the RLHF
literature: clip ε = 0.2 for ratio and value, value-loss weight 0.1 on a shared trunk, 4 epochs over each
batch, and a KL penalty β = 0.04 (the same default as our GRPO; `--beta 0` turns it off and skips the
reference model). `--target_kl` turns on the adaptive controller of Ziegler et al. (2019).

γ = 1 and λ = 1, not the λ = 0.95 of Ziegler et al.: the score arrives only at the last token and the value
head starts knowing nothing, so with λ < 1 the credit of a token t steps before the end shrinks as
(γλ)^t (0.95^60 ≈ 0.05: the opening of a 64-token answer learns almost nothing) and the critic's own
targets inherit that bias (Yuan et al. 2025, "What's behind PPO's collapse in long-CoT?", use λ = 1 for the
critic for this reason). With λ = 1 the advantage is the return minus the learned baseline. Set `--lam 0.95`
for the classic recipe once the value head is trained.

Importing this module is cheap; `parse_ppo_args` imports trl.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transformers import TrainingArguments

from referee.verifiers import ConfigError

from .config import EMBEDDED, RefereeArgs
from .parser import parse_config

if TYPE_CHECKING:
    from trl import ModelConfig

__all__ = ["PPO_DEFAULTS", "PPOConfig", "parse_ppo_args"]

# Our defaults for TrainingArguments' fields (theirs in comments). A YAML file and flags override them.
PPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/ppo",
    "learning_rate": 1e-5,  # 5e-5
    "per_device_train_batch_size": 16,  # 8: rollouts per step
    "max_steps": 100,  # -1
    "logging_steps": 1,  # 500: the metrics are logged every step
    "save_steps": 10,  # 500
    "save_total_limit": 2,  # None
    "report_to": "none",  # our MetricsWriter writes TensorBoard and JSONL itself
}


@dataclass
class PPOConfig(TrainingArguments):
    """TrainingArguments (optimiser, schedule, steps, checkpoints, seed) plus PPO's own fields.

    One step: `per_device_train_batch_size` rollouts, then `ppo_epochs` passes over them in
    `num_mini_batches` minibatches, each one optimiser update (its gradient accumulated over
    `gradient_accumulation_steps` micro-batches). So a step makes `ppo_epochs * num_mini_batches` updates.
    """

    max_completion_length: int = field(default=128, metadata={
        "help": "Most tokens generated per completion; a completion cut off here still gets its score."})
    temperature: float = field(default=1.0, metadata={
        "help": "Sampling temperature of the rollouts; the log-probabilities are taken at the same temperature."})
    beta: float = field(default=0.04, metadata={
        "help": "KL coefficient: each token's reward loses beta * (log pi - log pi_ref); 0 turns the penalty off."})
    target_kl: float | None = field(default=None, metadata={
        "help": "Target KL per completion (nats) for the adaptive controller (Ziegler et al.); unset: fixed beta."})
    kl_horizon: int = field(default=10_000, metadata={
        "help": "Episodes over which the adaptive controller closes the gap to --target_kl."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor of the return (GAE gamma)."})
    lam: float = field(default=1.0, metadata={
        "help": "GAE lambda: 1 is the Monte-Carlo return minus the value baseline, 0 is the one-step TD error."})
    ppo_epochs: int = field(default=4, metadata={"help": "Passes of updates over each batch of rollouts."})
    num_mini_batches: int = field(default=1, metadata={
        "help": "Minibatches per pass; each is one optimiser update."})
    epsilon: float = field(default=0.2, metadata={
        "help": "Clip range of the probability ratio in the surrogate objective."})
    epsilon_value: float = field(default=0.2, metadata={
        "help": "Clip range of the value prediction around its rollout-time value (value-loss clipping)."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss in the total loss."})
    ent_coef: float = field(default=0.0, metadata={
        "help": "Weight of the entropy bonus (0: none; the entropy is still logged)."})
    use_vllm: bool = field(default=False, metadata={
        "help": "Generate the rollouts with vLLM (installed separately) instead of transformers."})
    vllm_mode: str = field(default="colocate", metadata={
        "help": "'colocate': vLLM in this process; 'server': a `trl vllm-serve` server (GPU weight sync)."})
    vllm_server_base_url: str | None = field(default=None, metadata={
        "help": "URL of the vLLM server in server mode (default http://0.0.0.0:8000)."})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={
        "help": "Share of GPU memory vLLM may take in colocate mode."})
    vllm_max_model_length: int | None = field(default=None, metadata={
        "help": "vLLM's context length (prompt + completion); default: the model's."})

    def __post_init__(self) -> None:
        super().__post_init__()
        batch = self.per_device_train_batch_size
        parts = self.num_mini_batches * self.gradient_accumulation_steps
        if self.num_mini_batches < 1 or self.ppo_epochs < 1 or batch % parts:
            raise ConfigError(
                f"per_device_train_batch_size ({batch}) must split into num_mini_batches ({self.num_mini_batches}) "
                f"x gradient_accumulation_steps ({self.gradient_accumulation_steps}) equal parts, with "
                f"ppo_epochs ({self.ppo_epochs}) >= 1; e.g. set --per_device_train_batch_size {max(parts, 1) * 8}")
        if self.max_steps <= 0:
            raise ConfigError(f"max_steps must be > 0 (PPO counts steps, not epochs), got {self.max_steps}")
        for name in ("epsilon", "epsilon_value", "temperature"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.beta < 0 or self.vf_coef < 0 or self.ent_coef < 0:
            raise ConfigError(f"beta, vf_coef and ent_coef must be >= 0, got {self.beta}, {self.vf_coef}, "
                              f"{self.ent_coef}")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ConfigError(f"gamma and lam must lie in [0, 1], got {self.gamma} and {self.lam}")
        if self.target_kl is not None and (self.target_kl <= 0 or self.beta == 0):
            raise ConfigError(f"target_kl ({self.target_kl}) needs a positive target and a starting beta > 0 "
                              f"(got {self.beta}); unset --target_kl for a fixed beta")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError(f"vllm_mode must be 'colocate' or 'server', got {self.vllm_mode!r}")
        if self.max_completion_length < 1:
            raise ConfigError(f"max_completion_length must be >= 1, got {self.max_completion_length}")

    @property
    def updates_per_step(self) -> int:
        return self.ppo_epochs * self.num_mini_batches


def parse_ppo_args(argv: Sequence[str] | None = None) -> tuple[RefereeArgs, PPOConfig, ModelConfig]:
    """Parse `--config file.yaml` and flags into (RefereeArgs, PPOConfig, ModelConfig), with our defaults."""
    import torch
    from trl import ModelConfig

    defaults = {**PPO_DEFAULTS, "algo": "ppo", "bf16": torch.cuda.is_available(), "model_name_or_path": EMBEDDED}
    args, ppo, model = parse_config((RefereeArgs, PPOConfig, ModelConfig), defaults, argv,
                                    prog="referee train --algo ppo",
                                    description="PPO against a reward source of the referee service. Flags take "
                                    "underscores or hyphens.")
    return args, ppo, model
