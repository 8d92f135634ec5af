"""Reward-model training with TRL's `RewardTrainer`, into a folder the `reward_model` source serves as it is.

    referee rm train --data pairs.jsonl --output_dir runs/rm               # the embedded model by default
    referee rm train --data pairs.jsonl --use_peft true --output_dir runs/rm-lora   # LoRA, merged when saved
    referee rm train --output_dir runs/rm --resume true                    # the same run, after a crash
    referee report runs/rm                                                 # loss, accuracy, margin, rewards

Flags: `referee rm train --help` (`RMArgs`, TRL's `RewardConfig` and `ModelConfig`); YAML first (`--config`),
then flags. What a run does, top to bottom:

1. The pairs: JSONL rows `{prompt, chosen, rejected}` (text or messages; TRL's conversational and
   implicit-prompt forms; the rows of `referee best-of-n` and `referee prefs`), checked row by row before
   anything is written (`referee.trainer.rows`: a missing field, a wrong type, an empty text or chosen equal
   to rejected is one error naming the line). `--eval_fraction` of them are held out, whole prompts at a time.
2. Tokens: every row through `referee.judges.reward_model.formatting.reward_input_ids`, the function the source
   serves with, into TRL's `chosen_ids` / `rejected_ids` (TRL then skips its own tokenization), so training and
   serving read identical tokens. Pairs longer than `--max_length` are dropped and counted aloud (TRL would
   drop them silently).
3. The model: `--model_name_or_path` (default `embedded`: SmolLM2-135M-Instruct) as an
   `AutoModelForSequenceClassification` with one output, the pad token set (TRL); LoRA with `--use_peft`.
4. Training: TRL's Bradley-Terry loss, -log sigmoid(r_chosen - r_rejected). Every step logs `loss`,
   `accuracy` (share of pairs with r_chosen > r_rejected), `margin` (mean r_chosen - r_rejected),
   `chosen_reward`, `rejected_reward` (and TRL's `mean_reward`, `min_reward`, `max_reward`); every
   `--eval_steps` the same on the held-out pairs as `eval_*`; to `metrics.jsonl` and TensorBoard.
5. The output folder, written last and servable as it is: the weights (LoRA merged: an adapter-only folder
   would not serve), tokenizer and config go into a hidden folder inside `--output_dir` first, are scored there
   by the source's own loading and batching code (`referee.judges.reward_model.local`): the exact held-out
   accuracy and mean margin, and the reward mean and std over the training completions (for
   `normalize: true`); then they are moved into `--output_dir` and the manifest (`referee_reward_model.json`)
   is written last. A folder without a manifest is a run that did not finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError, RefereeError

from .config import EMBEDDED
from .parser import parse_config

if TYPE_CHECKING:
    from trl import ModelConfig, RewardConfig

    from .rows import PreferenceRow

__all__ = ["RM_DEFAULTS", "RMArgs", "main", "parse_rm_args", "train"]

# Our defaults for TRL's RewardConfig (TRL's own in comments), sized for a small model on a CPU.
RM_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/rm",
    "learning_rate": 2e-5,  # 1e-4: TRL's suits LoRA; full fine-tuning of a small model wants less
    "per_device_train_batch_size": 8,  # pairs per step
    "per_device_eval_batch_size": 16,
    "num_train_epochs": 1.0,  # 3
    "max_length": 512,  # 1024
    "logging_steps": 1,  # 10: the metrics are logged every step
    "eval_steps": 10,
    "save_steps": 50,  # 500
    "save_total_limit": 2,
    "report_to": "none",  # our MetricsWriter writes TensorBoard and JSONL itself
    "gradient_checkpointing": False,  # TRL: True; recomputation costs more than it saves for small models
    "lora_task_type": "SEQ_CLS",  # LoRA then trains the score head too (PEFT's modules_to_save)
}
_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "added_tokens.json", "chat_template.jinja", "vocab.json", "merges.txt", "tokenizer.model")


@dataclass
class RMArgs:
    """What referee adds to TRL's RewardConfig: the pairs file, its held-out share, the run folder."""

    data: str = field(default="pairs.jsonl", metadata={
        "help": "JSONL file of {prompt, chosen, rejected} rows (text or messages), e.g. the pairs.jsonl of "
                "`referee best-of-n` or the output of `referee prefs`."})
    eval_fraction: float = field(default=0.1, metadata={
        "help": "Share of the pairs held out (whole prompts at a time) for eval_* metrics and the manifest's "
                "accuracy (0: none)."})
    resume: bool = field(default=False, metadata={
        "help": "Continue the run in --output_dir from its newest complete checkpoint, with its saved configuration."})
    overwrite: bool = field(default=False, metadata={
        "help": "Start afresh in an --output_dir that holds an earlier run or reward model, deleting it."})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "Where the embedded model is materialised; default: $REFEREE_CACHE or ~/.cache/referee."})
    algo: str = field(default="rm", init=False)
    run_config: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.eval_fraction < 1:
            raise ConfigError(f"eval_fraction must lie in [0, 1), got {self.eval_fraction}")


def parse_rm_args(argv: Sequence[str] | None = None) -> tuple[RMArgs, RewardConfig, ModelConfig]:
    import torch
    from trl import ModelConfig, RewardConfig

    cuda = torch.cuda.is_available()
    defaults = {**RM_DEFAULTS, "algo": "rm", "bf16": cuda, "dataloader_pin_memory": cuda,
                "model_name_or_path": EMBEDDED}
    if "activation_checkpointing" in {f.name for f in dataclasses.fields(RewardConfig)}:  # transformers >= 5.20
        defaults["activation_checkpointing"] = defaults.pop("gradient_checkpointing")
    args, cfg, model = parse_config((RMArgs, RewardConfig, ModelConfig), defaults, argv, prog="referee rm train",
                                    usage="referee rm train --data PAIRS.jsonl --output_dir DIR [--config FILE.yaml] "
                                    "[--FLAG VALUE ...]",
                                    description="Train a reward model (TRL RewardTrainer) on preference pairs, into a "
                                    "folder the reward_model source serves. Flags take underscores or hyphens.")
    return args, cfg, model


def _reward_trainer() -> type:
    """TRL's RewardTrainer, logging the mean chosen and rejected reward besides its own metrics."""
    import torch
    from trl import RewardTrainer

    class Trainer(RewardTrainer):
        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                                 num_items_in_batch=num_items_in_batch)
            mode = "train" if model.training else "eval"
            with torch.no_grad():
                chosen, rejected = torch.chunk(outputs.logits.detach().squeeze(-1), chunks=2)
                for key, values in (("chosen_reward", chosen), ("rejected_reward", rejected)):
                    self._metrics[mode][key].append(self.accelerator.gather_for_metrics(values.mean()).mean().item())
            return (loss, outputs) if return_outputs else loss

    return Trainer


def _tokenized(rows: Sequence[PreferenceRow], tokenizer: Any, max_length: int | None) -> tuple[list[dict[str, Any]],
                                                                                                   int]:
    from referee.judges.reward_model.formatting import reward_input_ids

    out, dropped = [], 0
    for r in rows:
        try:
            chosen = reward_input_ids(tokenizer, r.prompt, r.chosen)
            rejected = reward_input_ids(tokenizer, r.prompt, r.rejected)
        except ValueError as exc:  # messages for a tokenizer without a chat template
            raise ConfigError(f"line {r.line}: the tokenizer cannot format this row: {' '.join(str(exc).split())}; "
                              "give text rows, or a base model with a chat template") from exc
        if max_length is not None and max(len(chosen), len(rejected)) > max_length:
            dropped += 1
            continue
        out.append({"chosen_ids": chosen, "rejected_ids": rejected})
    return out, dropped


def _clear_model(out: Path) -> None:
    """Removes an earlier model from `out` (its manifest first: the folder stops claiming to be finished)."""
    from referee.judges.reward_model.manifest import MANIFEST_NAME

    (out / MANIFEST_NAME).unlink(missing_ok=True)
    for name in _MODEL_FILES:
        (out / name).unlink(missing_ok=True)


def _score_saved(folder: Path, tokenized: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """(r_chosen, r_rejected) of each pair, computed by the `reward_model` source's own loading and batching."""
    from referee.judges.reward_model.folder import open_folder
    from referee.judges.reward_model.local import LocalRewardModel, plan_batches

    model = LocalRewardModel(open_folder(folder), "auto")
    rows = [tuple(r[key]) for r in tokenized for key in ("chosen_ids", "rejected_ids")]
    # A policy's samples repeat (the same short answer to the same prompt): each distinct input is run once.
    unique = list(dict.fromkeys(rows))
    rewards: dict[tuple[int, ...], float] = {}
    for batch in plan_batches([len(r) for r in unique], 8192):
        for i, value in zip(batch, model.rewards([list(unique[i]) for i in batch]), strict=True):
            rewards[unique[i]] = value
    return [(rewards[rows[2 * i]], rewards[rows[2 * i + 1]]) for i in range(len(tokenized))]


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def train(args: RMArgs, cfg: RewardConfig, model_args: ModelConfig) -> Path:
    """Trains as configured; returns the output folder (a servable reward model, metrics, checkpoints)."""
    import trl
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerState
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import IntervalStrategy
    from trl import get_peft_config

    from referee.judges.embedded import embedded_model_id
    from referee.judges.reward_model.fingerprint import weights_sha256
    from referee.judges.reward_model.manifest import (
        MANIFEST_NAME,
        DataRecord,
        EvalRecord,
        Normalization,
        RewardModelManifest,
        TrainingRecord,
        write_manifest,
    )

    from .callbacks import Progress, StepClock
    from .metrics import MetricsWriter
    from .rows import read_preference_rows, split_by_prompt
    from .run import TrainingError, finished, prepare_output_dir, resolve_model

    # 1. The pairs, checked before anything is written; the held-out split.
    data = Path(args.data)
    rows = read_preference_rows(data)
    train_rows, eval_rows = split_by_prompt(rows, args.eval_fraction, cfg.seed)
    out = Path(cfg.output_dir or "runs/rm")
    if (out / MANIFEST_NAME).exists() and not (args.overwrite or args.resume):
        raise TrainingError(f"{out} already holds a trained reward model ({MANIFEST_NAME}); choose another "
                            "--output_dir, or replace it with --overwrite true")

    # 2. Tokens, as the source will read them.
    model_path = resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    train_ids, dropped = _tokenized(train_rows, tokenizer, cfg.max_length)
    eval_ids, eval_dropped = _tokenized(eval_rows, tokenizer, cfg.max_length)
    if dropped or eval_dropped:
        print(f"referee rm train: {dropped + eval_dropped} of {len(rows)} pairs are longer than max_length="
              f"{cfg.max_length} tokens and are left out (raise --max_length to keep them)", file=sys.stderr)
    if not train_ids:
        raise ConfigError(f"no training pair of {data} fits in max_length={cfg.max_length} tokens; raise --max_length")

    main_process = cfg.process_index == 0
    out, resume_from = prepare_output_dir(args, str(out), cfg.max_steps, main_process, finish=True)
    if main_process and not args.resume:
        _clear_model(out)

    # 3. The model, 4. training with the scaffold's callbacks.
    if model_args.dtype is not None:
        init = cfg.model_init_kwargs if isinstance(cfg.model_init_kwargs, dict) else {}
        cfg.model_init_kwargs = {**init, "dtype": model_args.dtype}
    if eval_ids and cfg.eval_strategy == IntervalStrategy.NO:
        cfg.eval_strategy = IntervalStrategy.STEPS
    writer = MetricsWriter(out, enabled=main_process)
    clock = StepClock(writer)
    bar = Progress(writer, enabled=main_process and not cfg.disable_tqdm, label="rm")
    trainer = _reward_trainer()(
        model=model_path, args=cfg, processing_class=tokenizer, train_dataset=Dataset.from_list(train_ids),
        eval_dataset=Dataset.from_list(eval_ids) if eval_ids else None, peft_config=get_peft_config(model_args),
        callbacks=[clock, writer, bar])
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    try:
        if finished(resume_from, cfg.max_steps) and resume_from is not None:
            # Cut off after its last step (while saving or scoring): the weights are the checkpoint's, and only
            # the servable folder is left to make. transformers would train a step past the end instead.
            trainer._load_from_checkpoint(str(resume_from))
            trainer.state = TrainerState.load_from_json(str(resume_from / "trainer_state.json"))
        else:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        writer.close()
    if not main_process:
        return out
    for stale in out.glob(".saving-*"):  # a crashed run's staging folder
        shutil.rmtree(stale, ignore_errors=True)

    # 5. The servable folder: saved in a hidden folder, scored there as the source scores, moved, manifest last.
    model: Any = trainer.model
    if model_args.use_peft:
        model = model.merge_and_unload()
    staging = out / f".saving-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        print(f"referee rm train: scoring {len(eval_ids)} held-out pairs and {len(train_ids)} training pairs with "
              "the saved model", file=sys.stderr)
        held = _score_saved(staging, eval_ids)
        seen = _score_saved(staging, train_ids)
        completions = [r for pair in seen for r in pair]
        evaluation = EvalRecord(accuracy=sum(c > r for c, r in held) / len(held),
                                mean_margin=statistics.fmean(c - r for c, r in held), pairs=len(held)) if held else None
        std = statistics.pstdev(completions) if len(completions) >= 2 else 0.0
        normalization = Normalization(mean=statistics.fmean(completions), std=std, count=len(completions),
                                      split="train") if std > 0 else None
        manifest = RewardModelManifest(
            base_model=embedded_model_id() if model_args.model_name_or_path in (None, EMBEDDED)
            else str(model_args.model_name_or_path),
            weights_sha256=weights_sha256(staging),
            data=DataRecord(path=str(data), sha256=_sha256(data), rows=len(rows), train_rows=len(train_ids),
                            eval_rows=len(eval_ids)),
            training=TrainingRecord(steps=trainer.state.global_step, max_length=cfg.max_length,
                                    lora=bool(model_args.use_peft), seed=cfg.seed, trl_version=trl.__version__),
            eval=evaluation, normalization=normalization)
        for item in sorted(staging.iterdir(), key=lambda p: p.suffix in (".safetensors", ".bin")):  # weights last
            os.replace(item, out / item.name)
        write_manifest(out, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if evaluation is not None:
        print(f"referee rm train: held-out pairwise accuracy {evaluation.accuracy:.3f} on {evaluation.pairs} pairs, "
              f"mean margin {evaluation.mean_margin:.3f}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m referee.trainer.rm`: train, say where the model is; one line on error (exit code 2)."""
    try:
        out = train(*parse_rm_args(argv))
    except RefereeError as exc:
        print("referee rm train: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(f"done: a servable reward model in {out}; plot its curves with `referee report {out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
