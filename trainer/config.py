"""Training configuration: TRL's own `GRPOConfig` and `ModelConfig`, plus `RefereeArgs` for what referee adds.

    args, grpo, model = parse_train_args(["--config", "cfg.yaml", "--beta", "0"])

Parsed by `referee.trainer.parser` (TRL's `TrlParser`, with one-line errors, grouped help and the saved run
configuration that `--resume` reloads): every field of the three dataclasses is a flag (`--max_steps` or
`--max-steps`); `--config file.yaml` sets values first, flags on the command line override them. Our
defaults differ from TRL's where a small CPU run needs it (`TRAIN_DEFAULTS`); the important one:

- `beta` (the KL coefficient) is 0.04, not TRL's 0. A small KL penalty towards the starting policy keeps
  drift limited and makes it visible (`kl` in the metrics). Turn it off with `--beta 0` (TRL then also
  skips the reference model, saving a forward pass and its memory).

Importing this module is cheap; `parse_train_args` imports trl.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError, parse_source

from .parser import ALGOS, parse_config

if TYPE_CHECKING:
    from trl import GRPOConfig, ModelConfig

__all__ = ["EMBEDDED", "TRAIN_DEFAULTS", "RefereeArgs", "parse_train_args"]

EMBEDDED = "embedded"

# Our defaults for TRL's GRPOConfig (TRL's own in comments). A YAML file and flags override them.
TRAIN_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/grpo",
    "beta": 0.04,  # 0: a small KL penalty on by default, see the module docstring
    "learning_rate": 1e-5,  # 1e-6: too small to move a 135M model in a few dozen steps
    "num_generations": 4,  # 8: group size; 4 keeps a CPU step short
    "per_device_train_batch_size": 16,  # completions per step (prompts x num_generations)
    "max_completion_length": 128,  # 512
    "max_steps": 100,
    "logging_steps": 1,  # 10: the metrics are logged every step
    "save_steps": 10,
    "save_total_limit": 2,
    "report_to": "none",  # our MetricsWriter writes TensorBoard and JSONL itself
    "activation_checkpointing": False,  # TRL: True; recomputation costs more than it saves for small models
}


@dataclass
class RefereeArgs:
    """What referee adds to TRL's configs: where rewards come from, the data, held-out evaluation, the run folder."""

    algo: str = field(default="grpo", metadata={
        "help": "Training algorithm: grpo (TRL's GRPOTrainer), ppo (value head, GAE, KL penalty; trainer/ppo.py), "
                "dpo or kto (TRL's trainers on labelled rows, --data), online_dpo (rounds of sample, label through the "
                "service, DPO)."})
    source: str = field(default="math", metadata={
        "help": "Reward source name (see `referee sources`), or a weighted mix written 'math:1.0,judge:0.2'."})
    source_options: dict[str, Any] | str | None = field(default=None, metadata={
        "help": "JSON object of options: the source's options, or for a mix {name: options, ..., 'on_unscored': "
                "'skip'}."})
    service_url: str | None = field(default=None, metadata={
        "help": "URL of a running reward service; if unset, one is started on loopback and stopped afterwards."})
    service_settings: str | None = field(default=None, metadata={
        "help": "Settings file (YAML) for the service started on loopback, e.g. source_options: {reward_model: "
                "{model: DIR}} to serve a reward model; ignored with --service_url."})
    api_key: str | None = field(default=None, metadata={
        "help": "Bearer key for the service (default: the REFEREE_API_KEY environment variable); never saved."})
    service_deadline: float = field(default=300.0, metadata={
        "help": "Seconds to keep retrying an unreachable service before saving a checkpoint and stopping."})
    dataset: str = field(default="arithmetic", metadata={
        "help": "Built-in set (arithmetic, arithmetic-multistep, code, open), or a local .jsonl/.json/.parquet file "
                "or saved dataset."})
    dataset_split: str = field(default="train", metadata={
        "help": "Split to read from a saved DatasetDict."})
    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the prompt."})
    reference_column: str | None = field(default="reference", metadata={
        "help": "Column holding the gold answer (math, exact) or the tests (code) the source checks against; "
                "none if the source needs no reference (judge)."})
    metadata_column: str | None = field(default="metadata", metadata={
        "help": "Column of per-row dicts passed as each sample's metadata (e.g. entry_point for code)."})
    system_prompt: str | None = field(default=None, metadata={
        "help": "System message put before every prompt."})
    max_examples: int | None = field(default=None, metadata={
        "help": "Use at most this many training rows (for `arithmetic`: how many to generate, default 2000)."})
    heldout_dataset: str | None = field(default=None, metadata={
        "help": "Held-out prompts (same forms as --dataset); default: the built-in set's held-out split, or "
                "--heldout_size rows split off a file dataset."})
    heldout_size: int = field(default=64, metadata={"help": "Number of held-out prompts evaluated."})
    heldout_steps: int = field(default=10, metadata={
        "help": "Evaluate the held-out prompts (greedy) every this many steps and at the start; 0 turns it off."})
    heldout_source: str | None = field(default=None, metadata={
        "help": "Source that scores the held-out prompts (default: --source)."})
    max_unscored_steps: int = field(default=3, metadata={
        "help": "Stop the run when every reward of this many consecutive steps is unscored (e.g. a dataset without "
                "its reference column): it would train on nothing. 0 never stops."})
    resume: bool = field(default=False, metadata={
        "help": "Continue the run in --output_dir from its newest complete checkpoint, with the configuration "
                "saved in its run_config.yaml; flags given now override the saved ones."})
    overwrite: bool = field(default=False, metadata={
        "help": "Start afresh in an --output_dir that holds checkpoints of an earlier run, deleting them."})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "Where the embedded model is materialised as safetensors (model_name_or_path 'embedded'); "
                "default: $REFEREE_CACHE or ~/.cache/referee."})
    run_config: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    """What the command line and --config file gave (not the defaults): saved with the run for --resume."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if isinstance(self.source_options, str):
            try:
                self.source_options = json.loads(self.source_options)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"source_options must be a JSON object, got {self.source_options!r}: {exc}") from exc
        if self.source_options is not None and not isinstance(self.source_options, dict):
            raise ConfigError(f"source_options must be a JSON object, got {self.source_options!r}")
        self.reward_spec()  # fail fast on a malformed mix or options naming no component
        if self.heldout_source is not None:
            parse_source(self.heldout_source)
        if self.service_deadline <= 0:
            raise ConfigError(f"service_deadline must be > 0 seconds, got {self.service_deadline}")
        if self.heldout_steps < 0 or self.heldout_size < 0 or self.max_unscored_steps < 0:
            raise ConfigError(f"heldout_steps, heldout_size and max_unscored_steps must be >= 0, got "
                              f"{self.heldout_steps}, {self.heldout_size} and {self.max_unscored_steps}; 0 turns "
                              "held-out evaluation, or the unscored stop, off")
        if self.api_key is None:
            self.api_key = os.environ.get("REFEREE_API_KEY") or None

    def reward_spec(self) -> tuple[str | list[dict[str, Any]], dict[str, Any]]:
        """The `source` and request `options` to send to the service."""
        return parse_source(self.source).request(self.source_options if isinstance(self.source_options, dict)
                                                 else None)

    def heldout_spec(self) -> tuple[str | list[dict[str, Any]], dict[str, Any]]:
        """What scores the held-out answers: `--heldout_source` (no options), or the training reward."""
        if self.heldout_source is None or self.heldout_source == self.source:
            return self.reward_spec()
        return parse_source(self.heldout_source).request()

    def source_names(self) -> list[str]:
        names = parse_source(self.source).names
        if self.heldout_source:
            names += [name for name in parse_source(self.heldout_source).names if name not in names]
        return names


def parse_train_args(argv: Sequence[str] | None = None) -> tuple[RefereeArgs, GRPOConfig, ModelConfig]:
    """Parse `--config file.yaml` and flags into (RefereeArgs, GRPOConfig, ModelConfig), with our defaults."""
    import torch
    from trl import GRPOConfig, ModelConfig

    cuda = torch.cuda.is_available()
    defaults = dict(TRAIN_DEFAULTS)
    if "activation_checkpointing" not in {f.name for f in dataclasses.fields(GRPOConfig)}:  # transformers < 5.20
        defaults["gradient_checkpointing"] = defaults.pop("activation_checkpointing")
    # bf16 and pinned memory only where there is a GPU: on CPU, bf16 autocast is slow and pinning warns.
    defaults.update(algo="grpo", bf16=cuda, dataloader_pin_memory=cuda, model_name_or_path=EMBEDDED)
    args, grpo, model = parse_config((RefereeArgs, GRPOConfig, ModelConfig), defaults, argv, prog="referee train",
                                     description="GRPO (or --algo ppo) against a reward source of the referee "
                                     "service. Flags take underscores or hyphens.")
    return args, grpo, model
