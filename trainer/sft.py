"""Supervised fine-tuning with TRL's `SFTTrainer`: stage 1 of the RLHF pipeline, top to bottom.

    referee sft --data sft.jsonl --output_dir runs/sft                   # the embedded model by default
    referee sft --data chats.jsonl --use_peft true --max_steps 200       # LoRA (merged into the saved model)
    referee sft --output_dir runs/sft --resume true                      # the same run, after a crash
    referee report runs/sft                                              # loss curves

Flags: `referee sft --help` (`SFTArgs`, TRL's `SFTConfig` and `ModelConfig`); YAML first (`--config`), then
flags, as for `referee train`. What a run does:

1. The data: JSONL rows `{prompt, completion}` (text or messages) or `{messages}` (a whole chat), checked row by
   row (`referee.trainer.rows`; a bad row is one error naming its line); `referee best-of-n` writes such rows.
   Text rows become a user turn and an assistant turn when the tokenizer has a chat template, so the policy
   learns the format it is prompted in; the loss covers the completion only (TRL's default for prompt-completion
   rows; a `messages` row trains on the whole chat). `--eval_fraction` holds rows out for an eval loss.
2. The model: `--model_name_or_path` (default `embedded`: SmolLM2-135M-Instruct); LoRA with `--use_peft`.
3. The trainer: TRL's `SFTTrainer` with the scaffold's callbacks (metrics.jsonl + TensorBoard every step,
   step clock, progress bar); checkpoints every `--save_steps`; `--resume` continues the run in
   `--output_dir` from its saved configuration (`referee.trainer.run`'s folder rules).
4. The output folder holds the final model (LoRA merged) and tokenizer, ready for `referee best-of-n` or
   `referee train --model_name_or_path`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError, RefereeError

from .config import EMBEDDED
from .parser import parse_config

if TYPE_CHECKING:
    from trl import ModelConfig, SFTConfig

    from .rows import SFTRow

__all__ = ["SFT_DEFAULTS", "SFTArgs", "main", "parse_sft_args", "sft_dataset", "train"]

# Our defaults for TRL's SFTConfig (TRL's own in comments), sized for a small model on a CPU.
SFT_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/sft",
    "per_device_train_batch_size": 8,
    "num_train_epochs": 1.0,  # 3
    "max_length": 512,  # 1024
    "logging_steps": 1,  # 10: the metrics are logged every step
    "save_steps": 50,  # 500
    "save_total_limit": 2,
    "eval_steps": 20,  # used when --eval_fraction holds rows out
    "report_to": "none",  # our MetricsWriter writes TensorBoard and JSONL itself
    "gradient_checkpointing": False,  # TRL: True; recomputation costs more than it saves for small models
}


@dataclass
class SFTArgs:
    """What referee adds to TRL's SFTConfig: the data file, its held-out share, the run folder."""

    data: str = field(default="sft.jsonl", metadata={
        "help": "JSONL file of {prompt, completion} rows (text or messages) or {messages} chats, e.g. the sft.jsonl "
                "of `referee best-of-n`."})
    eval_fraction: float = field(default=0.0, metadata={
        "help": "Share of the rows held out for an eval loss every --eval_steps (0: none)."})
    resume: bool = field(default=False, metadata={
        "help": "Continue the run in --output_dir from its newest complete checkpoint, with its saved configuration."})
    overwrite: bool = field(default=False, metadata={
        "help": "Start afresh in an --output_dir that holds checkpoints of an earlier run, deleting them."})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "Where the embedded model is materialised; default: $REFEREE_CACHE or ~/.cache/referee."})
    algo: str = field(default="sft", init=False)
    run_config: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.eval_fraction < 1:
            raise ConfigError(f"eval_fraction must lie in [0, 1), got {self.eval_fraction}")


def parse_sft_args(argv: Sequence[str] | None = None) -> tuple[SFTArgs, SFTConfig, ModelConfig]:
    import torch
    from trl import ModelConfig, SFTConfig

    cuda = torch.cuda.is_available()
    defaults = {**SFT_DEFAULTS, "algo": "sft", "bf16": cuda, "dataloader_pin_memory": cuda,
                "model_name_or_path": EMBEDDED}
    if "activation_checkpointing" in {f.name for f in dataclasses.fields(SFTConfig)}:  # transformers >= 5.20
        defaults["activation_checkpointing"] = defaults.pop("gradient_checkpointing")
    args, cfg, model = parse_config((SFTArgs, SFTConfig, ModelConfig), defaults, argv, prog="referee sft",
                                    usage="referee sft --data FILE.jsonl [--config FILE.yaml] [--FLAG VALUE ...]",
                                    description="Supervised fine-tuning (TRL SFTTrainer) on {prompt, completion} or "
                                    "{messages} rows. Flags take underscores or hyphens.")
    return args, cfg, model


def sft_dataset(rows: Sequence[SFTRow], chat: bool) -> list[dict[str, Any]]:
    """TRL rows: `{prompt, completion}` (as a user and an assistant turn when `chat`) or `{messages}`."""
    kinds = {r.messages is not None for r in rows}
    if len(kinds) > 1:
        first = next(r for r in rows if (r.messages is not None) != (rows[0].messages is not None))
        raise ConfigError(f"line {first.line} is a {'messages' if first.messages is not None else 'prompt/completion'}"
                          f" row but line {rows[0].line} is not; one file holds one form")
    out: list[dict[str, Any]] = []
    for r in rows:
        if r.messages is not None:
            out.append({"messages": r.messages})
        elif isinstance(r.prompt, str) and isinstance(r.completion, str) and chat:
            out.append({"prompt": [{"role": "user", "content": r.prompt}],
                        "completion": [{"role": "assistant", "content": r.completion}]})
        else:
            out.append({"prompt": r.prompt, "completion": r.completion})
    return out


def train(args: SFTArgs, cfg: SFTConfig, model_args: ModelConfig) -> Path:
    """Runs SFT as configured; returns the output folder (final model, metrics, checkpoints)."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import IntervalStrategy
    from trl import SFTTrainer, get_peft_config

    from referee.judges.reward_model.formatting import template_of

    from .callbacks import Progress, StepClock
    from .metrics import MetricsWriter
    from .rows import read_sft_rows, split_by_prompt
    from .run import finished, prepare_output_dir, resolve_model

    # 1. The data and the tokenizer, checked before anything is written (one file holds one form of row).
    rows = read_sft_rows(Path(args.data))
    train_rows, eval_rows = split_by_prompt(rows, args.eval_fraction, cfg.seed)
    model_path = resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    chat = template_of(tokenizer) is not None
    train_data = Dataset.from_list(sft_dataset(train_rows, chat))
    eval_data = Dataset.from_list(sft_dataset(eval_rows, chat)) if eval_rows else None
    main_process = cfg.process_index == 0
    out, resume_from = prepare_output_dir(args, cfg.output_dir, cfg.max_steps, main_process, finish=True)

    # 2. The model.
    if model_args.dtype is not None:
        init = cfg.model_init_kwargs if isinstance(cfg.model_init_kwargs, dict) else {}
        cfg.model_init_kwargs = {**init, "dtype": model_args.dtype}
    if eval_rows and cfg.eval_strategy == IntervalStrategy.NO:
        cfg.eval_strategy = IntervalStrategy.STEPS

    # 3. The trainer, with the scaffold's callbacks.
    writer = MetricsWriter(out, enabled=main_process)
    clock = StepClock(writer)
    bar = Progress(writer, enabled=main_process and not cfg.disable_tqdm, label="sft")
    trainer = SFTTrainer(
        model=model_path, args=cfg, processing_class=tokenizer,
        train_dataset=train_data, eval_dataset=eval_data,
        peft_config=get_peft_config(model_args), callbacks=[clock, writer, bar])
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    try:
        if finished(resume_from, cfg.max_steps) and resume_from is not None:
            # Cut off after its last step, while saving: the weights are the checkpoint's; only the save is left.
            trainer._load_from_checkpoint(str(resume_from))
        else:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        writer.close()

    # 4. The final model: LoRA merged, so the folder loads as a plain causal LM.
    model: Any = trainer.model
    if model_args.use_peft:
        model = model.merge_and_unload()
    if main_process:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m referee.trainer.sft`: train, say where the model is; one line on error (exit code 2)."""
    try:
        out = train(*parse_sft_args(argv))
    except RefereeError as exc:
        print("referee sft: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(f"done: model, metrics.jsonl and checkpoints in {out}; plot them with `referee report {out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
