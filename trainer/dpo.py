"""DPO and KTO with TRL on labelled rows, top to bottom.

    referee train --algo dpo --data prefs.jsonl --output_dir runs/dpo
    referee train --algo dpo --data pairs.jsonl --heldout_source math --dataset arithmetic   # + held-out accuracy
    referee train --algo kto --data scored.jsonl --label_threshold 1.0                     # unpaired good/bad
    referee train --output_dir runs/dpo --resume true                                      # after a crash
    python -m referee.trainer.dpo --config dpo.yaml              # the same script (DPO; KTO: referee train --algo kto)

Flags: `referee train --algo dpo --help` (`RefereeArgs`, `PreferenceArgs`, TRL's `DPOConfig` or `KTOConfig`,
`ModelConfig`; our defaults in `referee.trainer.pref_config`).

What a run does:
1. The data: `--data` read and checked row by row before anything loads (`referee.trainer.prefdata`: a bad
   row stops the run naming it). For a chat model, text rows become conversations (user prompt, assistant
   reply), so it learns on the template it answers with.
2. The policy and the frozen reference: `--model_name_or_path` (default `embedded`, SmolLM2-135M-Instruct);
   LoRA with `--use_peft` (the reference is then the base model with the adapter switched off).
3. Held-out evaluation, with `--heldout_source` only: greedy answers to `--dataset`'s held-out prompts (or
   `--heldout_dataset`), scored through the reward service (`--service_url`, or one started on loopback for
   the run) before training, every `--heldout_steps` steps and at the end.
4. The trainer: TRL's `DPOTrainer` or `KTOTrainer` with our callbacks (metrics to JSONL and TensorBoard every
   step, held-out evaluation, progress bar); checkpoints every `--save_steps`; `--resume true` continues.

The output folder, saved run configuration, service and callbacks are `referee.trainer.run`'s, shared with
GRPO and PPO. DPO's metrics are TRL's: `rewards/chosen` and `rewards/rejected` (the implicit reward
β·log π/π_ref of each completion, which is also how far the policy has moved from the reference on the
data: TRL's DPO logs no KL), `rewards/margins`, `rewards/accuracies`, `logps/*`, `entropy`, `loss`. KTO's add
`kl`, its estimate of KL(π ‖ π_ref) on mismatched prompt-completion pairs.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError

from .config import RefereeArgs
from .pref_config import PreferenceArgs
from .run import (
    heldout_scorer,
    main,
    prepare_output_dir,
    resolve_model,
    reward_client,
    run_hooks,
    service_lost,
    start_reward_service,
)

if TYPE_CHECKING:
    from transformers import TrainerCallback
    from trl import DPOConfig, KTOConfig, ModelConfig

__all__ = ["train"]


def train(args: RefereeArgs, prefs: PreferenceArgs, cfg: DPOConfig | KTOConfig, model_args: ModelConfig,
          callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Runs DPO or KTO (`args.algo`) as configured; returns the output folder (final model, metrics, checkpoints)."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import DPOTrainer, KTOTrainer, get_peft_config

    from referee.service.client import RewardServiceError

    from .data import load_prompts
    from .prefdata import as_conversations, read_kto_rows, read_preference_rows

    if args.algo not in ("dpo", "kto"):
        raise ConfigError(f"this is the DPO/KTO trainer, but algo is {args.algo!r}; use `referee train --algo "
                          f"{args.algo}`")
    if prefs.data is None:
        raise ConfigError(f"--algo {args.algo} trains on labelled rows: give --data FILE (e.g. written by `referee "
                          "prefs` or `referee best-of-n`)")
    kto = args.algo == "kto"
    if kto and cfg.per_device_train_batch_size < 2:
        raise ConfigError(f"KTO estimates its KL term from mismatched completions within a batch: set "
                          f"--per_device_train_batch_size 2 or more (got {cfg.per_device_train_batch_size})")

    # 1. The data, checked before anything loads.
    replies: tuple[str, ...]
    if kto:
        loaded = read_kto_rows(prefs.data, label_threshold=prefs.label_threshold, max_rows=args.max_examples)
        rows, replies = loaded.rows, ("completion",)
        print(f"data: {loaded.summary()}", file=sys.stderr)
        # TRL's KTO samples in order (the KL term pairs neighbours), so the order of the file must not decide the
        # batches: a file of all good rows, then all bad ones, would give batches of one label.
        random.Random(cfg.seed).shuffle(rows)
    else:
        rows, replies = read_preference_rows(prefs.data, max_rows=args.max_examples), ("chosen", "rejected")

    # 2. The policy (TRL loads it, and the reference, from this path) and its chat template: the rows must fit it
    #    before the output folder is touched.
    model_path = resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    if model_args.dtype is not None:
        init = cfg.model_init_kwargs if isinstance(cfg.model_init_kwargs, dict) else {}
        cfg.model_init_kwargs = {**init, "dtype": model_args.dtype}
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.chat_template is not None:
        rows = as_conversations(rows, replies, args.system_prompt)
    elif any(isinstance(r["prompt"], list) for r in rows):
        raise ConfigError(f"--data {prefs.data!r} holds conversations, but model {model_args.model_name_or_path!r} "
                          "has no chat template to render them; give text rows or a chat model")
    dataset = Dataset.from_list(rows)
    main_process = cfg.process_index == 0
    out, resume_from = prepare_output_dir(args, cfg.output_dir, cfg.max_steps, main_process)

    with ExitStack() as stack:
        # 3. Held-out evaluation through the service, only when a verifier is named for it.
        heldout_rows: list[dict[str, Any]] = []
        score = None
        if args.heldout_source is not None and args.heldout_steps > 0 and args.heldout_size > 0:
            _, heldout_rows = load_prompts(args, seed=cfg.seed)
            url = start_reward_service(stack, args, out)
            score = heldout_scorer(stack.enter_context(reward_client(url, args)), args)
        hooks = run_hooks(args, out, heldout_rows, score or (lambda samples: []),
                          max_new_tokens=prefs.max_completion_length, main_process=main_process,
                          progress=not cfg.disable_tqdm, extra=callbacks)

        # 4. The trainer.
        trainer_class: Any = KTOTrainer if kto else DPOTrainer
        trainer = trainer_class(model=model_path, args=cfg, train_dataset=dataset, processing_class=tokenizer,
                                peft_config=get_peft_config(model_args), callbacks=hooks.callbacks)
        trainer.remove_callback(ProgressCallback)  # ours shows the metrics that matter; metrics.jsonl has all
        trainer.remove_callback(PrinterCallback)
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except RewardServiceError as exc:  # the held-out scorer lost the service past its deadline
            trainer._save_checkpoint(trainer.model, trial=None)
            raise service_lost(exc, trainer.state.global_step,
                               out / f"checkpoint-{trainer.state.global_step}") from exc
        finally:
            hooks.writer.close()
        trainer.save_model(str(out))
    return out


if __name__ == "__main__":
    sys.exit(main(algo="dpo"))
