"""The preference trainers' configuration: DPO and KTO on labelled rows, and online DPO, parsed like GRPO's.

    args, prefs, dpo, model = parse_preference_args(["--algo", "dpo", "--data", "prefs.jsonl"])
    args, online, dpo, model = parse_online_args(["--algo", "online_dpo", "--source", "math", "--rounds", "4"])

The same style as `referee.trainer.config`: `RefereeArgs` (service, held-out set, resume), what this
algorithm adds (`PreferenceArgs` or `OnlineArgs`), TRL's own trainer config (`DPOConfig` or `KTOConfig`) and
`ModelConfig`, parsed by `referee.trainer.parser` (`--config file.yaml` first, flags override it; `--resume`
reloads the run's saved configuration). Our defaults for TRL's fields are in `DPO_DEFAULTS` (and KTO's,
online DPO's), each difference with its reason. TRL's own: `beta` 0.1, `loss_type` sigmoid (DPO) or kto.

Importing this module is cheap; the parse functions import trl.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError

from .config import EMBEDDED, RefereeArgs
from .parser import parse_config

if TYPE_CHECKING:
    from trl import DPOConfig, KTOConfig, ModelConfig

__all__ = ["DPO_DEFAULTS", "KTO_DEFAULTS", "ONLINE_DEFAULTS", "OnlineArgs", "PreferenceArgs", "parse_online_args",
           "parse_preference_args"]

# Our defaults for TRL's DPOConfig / KTOConfig fields (TRL's in comments). A YAML file and flags override them.
DPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/dpo",
    "learning_rate": 5e-6,  # 1e-6: measured too small to move the 135M model in a CPU-sized run (docs/training.md)
    "per_device_train_batch_size": 8,
    "num_train_epochs": 1,  # 3: one pass over the pairs; raise it for a small data set
    "max_length": 512,  # 1024: prompts and completions here are short; halves the worst-case memory
    "logging_steps": 1,  # 10: the metrics are logged every step
    "save_steps": 10,
    "save_total_limit": 2,
    "report_to": "none",  # our MetricsWriter writes TensorBoard and JSONL itself
    "activation_checkpointing": False,  # TRL: True; recomputation costs more than it saves for small models
}
KTO_DEFAULTS: dict[str, Any] = {**DPO_DEFAULTS, "output_dir": "runs/kto"}
ONLINE_DEFAULTS: dict[str, Any] = {**DPO_DEFAULTS, "output_dir": "runs/online_dpo"}


@dataclass
class PreferenceArgs:
    """What DPO and KTO train on: labelled rows from a file."""

    data: str | None = field(default=None, metadata={
        "help": "Labelled rows (.jsonl/.json/.parquet or a saved dataset): {prompt, chosen, rejected} as `referee "
                "prefs` and `referee best-of-n` write them (or TRL's conversational form); for kto also {prompt, "
                "completion, label} or scored {prompt, completion, score} rows (see --label_threshold)."})
    label_threshold: float | None = field(default=None, metadata={
        "help": "KTO on scored rows: a completion scoring >= this is desirable, below it undesirable (e.g. 1.0 for "
                "a verifier's pass); rows with a score of null (unscored) are dropped, never labelled bad."})
    max_completion_length: int = field(default=128, metadata={
        "help": "Most tokens of a greedy held-out answer (with --heldout_source)."})

    def __post_init__(self) -> None:
        if self.max_completion_length < 1:
            raise ConfigError(f"max_completion_length must be >= 1, got {self.max_completion_length}")


@dataclass
class OnlineArgs:
    """Online (iterative) DPO: each round samples completions of the current policy, labels pairs of them through
    the service, and trains a round of DPO on the pairs kept."""

    rounds: int = field(default=4, metadata={"help": "Rounds of sample -> label -> DPO."})
    prompts_per_round: int = field(default=32, metadata={
        "help": "Prompts sampled each round (taken in order from --dataset, shuffled with --seed)."})
    generations_per_prompt: int = field(default=2, metadata={
        "help": "Completions sampled per prompt; with --label_with score the best and the worst make the pair."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of the completions."})
    max_completion_length: int = field(default=64, metadata={
        "help": "Most tokens per sampled completion (and per greedy held-out answer)."})
    label_with: str = field(default="score", metadata={
        "help": "'score': --source (a name or a weighted mix) scores each completion, the higher score wins, ties "
                "and unscored completions are dropped; 'compare': /v1/compare with --source judge (against "
                "--constitution, both presentation orders) or reward_model."})
    constitution: str = field(default="hhh", metadata={
        "help": "The judge's constitution, NAME or NAME@VERSION (--label_with compare --source judge)."})
    min_confidence: float = field(default=0.6, metadata={
        "help": "--label_with compare: drop pairs whose confidence max(p, 1-p) is below this; 0 keeps them."})
    keep_inconsistent: bool = field(default=False, metadata={
        "help": "--label_with compare: keep pairs whose two presentation orders disagree (dropped by default)."})

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.prompts_per_round < 1 or self.generations_per_prompt < 2:
            raise ConfigError(f"rounds and prompts_per_round must be >= 1 and generations_per_prompt >= 2, got "
                              f"{self.rounds}, {self.prompts_per_round} and {self.generations_per_prompt}")
        if self.label_with not in ("score", "compare"):
            raise ConfigError(f"label_with must be 'score' or 'compare', got {self.label_with!r}")
        if self.label_with == "compare" and self.generations_per_prompt != 2:
            raise ConfigError(f"--label_with compare judges one pair per prompt: set --generations_per_prompt 2 (got "
                              f"{self.generations_per_prompt}), or label with --label_with score")
        if self.temperature <= 0 or self.max_completion_length < 1:
            raise ConfigError(f"temperature must be > 0 and max_completion_length >= 1, got {self.temperature} and "
                              f"{self.max_completion_length}")
        if not 0 <= self.min_confidence <= 1:
            raise ConfigError(f"min_confidence must lie in [0, 1], got {self.min_confidence}")


def _defaults(base: dict[str, Any], config: type, algo: str) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    defaults = dict(base)
    if "activation_checkpointing" not in {f.name for f in dataclasses.fields(config)}:  # transformers < 5.20
        defaults["gradient_checkpointing"] = defaults.pop("activation_checkpointing")
    # bf16 and pinned memory only where there is a GPU: on CPU, bf16 autocast is slow and pinning warns.
    defaults.update(algo=algo, bf16=cuda, dataloader_pin_memory=cuda, model_name_or_path=EMBEDDED)
    return defaults


def parse_preference_args(argv: Sequence[str] | None = None, algo: str = "dpo") -> tuple[
        RefereeArgs, PreferenceArgs, DPOConfig | KTOConfig, ModelConfig]:
    """Parse `--config file.yaml` and flags into (RefereeArgs, PreferenceArgs, DPOConfig or KTOConfig, ModelConfig)."""
    from trl import DPOConfig, KTOConfig, ModelConfig

    config: type = KTOConfig if algo == "kto" else DPOConfig
    defaults = _defaults(KTO_DEFAULTS if algo == "kto" else DPO_DEFAULTS, config, algo)
    args, prefs, cfg, model = parse_config((RefereeArgs, PreferenceArgs, config, ModelConfig), defaults, argv,
                                           prog=f"referee train --algo {algo}",
                                           description=f"{algo.upper()} on labelled rows (--data). Flags take "
                                           "underscores or hyphens.")
    return args, prefs, cfg, model


def parse_online_args(argv: Sequence[str] | None = None) -> tuple[RefereeArgs, OnlineArgs, DPOConfig, ModelConfig]:
    """Parse `--config file.yaml` and flags into (RefereeArgs, OnlineArgs, DPOConfig, ModelConfig)."""
    from trl import DPOConfig, ModelConfig

    defaults = _defaults(ONLINE_DEFAULTS, DPOConfig, "online_dpo")
    args, online, cfg, model = parse_config((RefereeArgs, OnlineArgs, DPOConfig, ModelConfig), defaults, argv,
                                            prog="referee train --algo online_dpo",
                                            description="Online DPO: sample, label through the reward service, "
                                            "train a round of DPO, repeat. Flags take underscores or hyphens.")
    return args, online, cfg, model
