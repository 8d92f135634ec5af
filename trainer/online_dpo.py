"""Online (iterative) DPO against the reward service, top to bottom: sample, label, train a round, repeat.

    referee train --algo online_dpo --source math --dataset arithmetic --rounds 4 --output_dir runs/online
    referee train --algo online_dpo --label_with compare --source judge --constitution hhh --dataset open ...
    referee train --output_dir runs/online --resume true                 # from the last finished round

Each round:
1. Sample: `--prompts_per_round` prompts of `--dataset` (shuffled once with `--seed`, taken in turn), and
   `--generations_per_prompt` completions of each from the current policy (`--temperature`).
2. Label through the service (`referee.trainer.pair_labels`): with `--label_with score`, `--source` (a name or
   a weighted mix) scores every completion and the best and worst of a prompt make its pair, ties and
   unscored completions dropped; with `--label_with compare`, `/v1/compare` (`--source judge` against
   `--constitution`, in both presentation orders, or `--source reward_model`) decides, and the pairs whose
   orders disagree or whose confidence is below `--min_confidence` are dropped. Every drop is counted.
3. Train a round of TRL's `DPOTrainer` on the pairs kept (`--num_train_epochs` passes, a fresh optimiser each
   round, as in iterative DPO), against a frozen reference: the starting policy, for every round, so
   `rewards/*` measure the drift of the whole run.
4. Held-out evaluation (greedy, scored by `--heldout_source`, default `--source` when labelling by score)
   before the first round and after every round; a checkpoint (`checkpoint-<step>`: the policy, its
   tokenizer, and `trainer_state.json` with the round) after every round.

Why not TRL's `trl.experimental.online_dpo.OnlineDPOTrainer` (TRL 1.16): it sums its reward functions with
`nansum`, so an unscored completion (None becomes NaN) counts as 0, and it keeps every pair, a tie going to the
first completion; it has no pairwise judge any more. This project never trains on a fake 0 or a coin flip, so
the loop is a thin one over `DPOTrainer`. LoRA is not offered (the reference is a separate frozen copy).

Metrics (`metrics.jsonl`, TensorBoard, `referee report`): every DPO step, TRL's (`rewards/chosen`,
`rewards/rejected`, `rewards/margins`, `rewards/accuracies`, `logps/*`, `loss`), numbered across rounds; on
each round's first step, `online/round`, `online/pairs_kept`, `online/pairs_dropped/<why>`,
`online/score_mean`, `online/chosen_score`, `online/rejected_score` (the service's labels), `online/unscored_frac`
and the time split `time/sampling`, `time/labelling`; `heldout/*` after each round.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from referee.verifiers import ConfigError, parse_source

from .config import RefereeArgs
from .metrics import MetricsWriter
from .pref_config import OnlineArgs
from .run import (
    COMPLETIONS_FILE,
    TrainingError,
    UnscoredWatch,
    heldout_scorer,
    main,
    prepare_output_dir,
    resolve_model,
    reward_client,
    start_reward_service,
)

if TYPE_CHECKING:
    from trl import DPOConfig, ModelConfig

__all__ = ["train"]

ROUND_STATE = "trainer_state.json"  # the name `run.latest_checkpoint` reads as "this checkpoint is complete"


class _Numbered(TrainerCallback):
    """Writes each round's logs at the run's step (the round's trainer counts from 0), the round's label metrics
    on its first record."""

    def __init__(self, writer: MetricsWriter, offset: int, first: dict[str, float]) -> None:
        self.writer, self.offset, self.first = writer, offset, dict(first)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.writer.write(self.offset + state.global_step, {**self.first, **(logs or {})})
        self.first = {}


def _check(args: RefereeArgs, online: OnlineArgs, cfg: DPOConfig, model_args: ModelConfig) -> None:
    if args.algo != "online_dpo":
        raise ConfigError(f"this is the online DPO trainer, but algo is {args.algo!r}")
    if model_args.use_peft:
        raise ConfigError("online DPO trains the full model against a frozen copy of the starting policy; "
                          "--use_peft is not offered (use --algo dpo for LoRA)")
    if cfg.max_steps > 0:
        raise ConfigError(f"online DPO counts rounds, not steps: set --rounds (each round makes --num_train_epochs "
                          f"passes over its pairs), not --max_steps {cfg.max_steps}")
    if online.label_with == "compare":
        names = parse_source(args.source).names
        if len(names) != 1 or names[0] not in ("judge", "reward_model"):
            raise ConfigError(f"--label_with compare asks /v1/compare, which takes one comparing source: --source "
                              f"judge or reward_model, not {args.source!r}")


def _save_round(out: Path, model: Any, tokenizer: Any, step: int, round_: int, limit: int | None,
                labels: dict[str, float]) -> None:
    """`checkpoint-<step>` with the policy; its state file is written last (an interrupted save is incomplete)."""
    folder = out / f"checkpoint-{step}"
    (folder / ROUND_STATE).unlink(missing_ok=True)  # a round that trained nothing saves over its predecessor's
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / ROUND_STATE).write_text(json.dumps({"global_step": step, "round": round_, "labels": labels}) + "\n")
    if limit:
        older = sorted((p for p in out.glob("checkpoint-*") if p != folder and p.name.split("-")[-1].isdigit()),
                       key=lambda p: int(p.name.split("-")[-1]))
        for stale in older[: max(len(older) - (limit - 1), 0)]:
            shutil.rmtree(stale)


def train(args: RefereeArgs, online: OnlineArgs, cfg: DPOConfig, model_args: ModelConfig,
          callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Runs online DPO as configured; returns the output folder (final policy, metrics, per-round checkpoints)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import DPOTrainer

    from .data import load_prompts
    from .eval import HeldOutEval
    from .pair_labels import label_by_compare, label_by_score
    from .sampling import Sampler, SamplingSpec

    _check(args, online, cfg, model_args)
    out, resume_from = prepare_output_dir(args, cfg.output_dir, 0)
    done_rounds, step = 0, 0
    if resume_from is not None:
        state = json.loads((resume_from / ROUND_STATE).read_text())
        done_rounds, step = int(state["round"]), int(state["global_step"])
        if done_rounds >= online.rounds:
            raise TrainingError(f"the run in {out} has already made its {online.rounds} rounds; continue it further "
                                "with --resume true --rounds N")

    # The policy (the last finished round's, when resuming) and the frozen reference: the starting policy.
    start_path = resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    policy_path = str(resume_from) if resume_from is not None else start_path
    dtype = getattr(torch, model_args.dtype) if model_args.dtype not in (None, "auto") else None
    model = AutoModelForCausalLM.from_pretrained(policy_path, dtype=dtype)
    reference = AutoModelForCausalLM.from_pretrained(start_path, dtype=dtype).eval()
    tokenizer = AutoTokenizer.from_pretrained(policy_path)
    if tokenizer.chat_template is None:
        raise ConfigError(f"online DPO samples with the chat template, and {model_args.model_name_or_path!r} has "
                          "none; give a chat model")

    train_dataset, heldout_rows = load_prompts(args, seed=cfg.seed)
    prompts = train_dataset.to_list()
    random.Random(cfg.seed).shuffle(prompts)
    sampler = Sampler.of_model(model, policy_path, SamplingSpec(
        n=online.generations_per_prompt, temperature=online.temperature, top_p=1.0,
        max_new_tokens=online.max_completion_length, seed=cfg.seed, batch_size=8))

    with ExitStack() as stack:
        url = start_reward_service(stack, args, out)
        client = stack.enter_context(reward_client(url, args))
        writer = MetricsWriter(out)
        stack.callback(writer.close)
        if resume_from is not None:  # drops the records (and TensorBoard events) of a round the crash cut off;
            writer.open(step, resumed=True)  # at step 0 too: rounds that kept no pair leave the step at 0
        scoring = online.label_with == "score" or args.heldout_source is not None
        heldout = HeldOutEval(heldout_rows if scoring else [], heldout_scorer(client, args), writer,
                              every=args.heldout_steps, max_new_tokens=online.max_completion_length,
                              output_dir=out)
        if heldout.enabled and resume_from is None:
            writer.write(0, heldout.run_at(model, tokenizer, 0))
        source, options = args.reward_spec()
        watch = UnscoredWatch(args, unit="round(s)")

        for round_ in range(done_rounds + 1, online.rounds + 1):
            began = time.perf_counter()
            first = (round_ - 1) * online.prompts_per_round
            rows = [prompts[(first + i) % len(prompts)] for i in range(online.prompts_per_round)]
            # 1. Sample from the current policy.
            model.eval()
            completions = sampler.sample([r["prompt"] for r in rows], offset=first)
            sampled = time.perf_counter()
            # 2. Label through the service.
            if online.label_with == "score":
                labelled = label_by_score(client, source, options, rows, completions)
            else:
                labelled = label_by_compare(client, args.source, online.constitution if args.source == "judge"
                                            else None, {k: v for k, v in options.items() if k != "constitution"},
                                            rows, completions, min_confidence=online.min_confidence,
                                            keep_inconsistent=online.keep_inconsistent)
            watch.observe(labelled.scores)
            if labelled.scores and all(s.value is None for s in labelled.scores):
                raise TrainingError(watch.message())  # a round of nothing but unscored labels: stop now
            labels = {"online/round": float(round_), **labelled.metrics(len(rows)),
                      "time/sampling": sampled - began, "time/labelling": time.perf_counter() - sampled}
            with open(out / COMPLETIONS_FILE, "a") as f:
                for pair in labelled.pairs:
                    f.write(json.dumps({"step": step + 1, "round": round_, **pair}, ensure_ascii=False) + "\n")

            # 3. A round of DPO on the pairs kept (none kept: nothing to train on this round, and it says so).
            if labelled.pairs:
                data = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in labelled.pairs])
                round_cfg = dataclasses.replace(cfg, output_dir=str(out / "round"), save_strategy="no")
                trainer = DPOTrainer(model=model, ref_model=reference, args=round_cfg, train_dataset=data,
                                     processing_class=tokenizer, callbacks=[_Numbered(writer, step, labels),
                                                                            *callbacks])
                trainer.remove_callback(ProgressCallback)
                trainer.remove_callback(PrinterCallback)
                trainer.train()
                step += trainer.state.global_step
                for m in (model, reference):  # DPOTrainer patches `forward` per trainer; the next round patches anew
                    m.__dict__.pop("forward", None)
            else:
                writer.write(step, labels)

            # 4. Held-out evaluation and the round's checkpoint.
            if heldout.enabled:
                writer.write(step, heldout.run_at(model, tokenizer, step))
            _save_round(out, model, tokenizer, step, round_, cfg.save_total_limit, labelled.metrics(len(rows)))
            dropped = ", ".join(f"{why} {n}" for why, n in labelled.dropped.most_common()) or "none"
            accuracy = writer.last.get("heldout/accuracy") if heldout.enabled else None
            print(f"round {round_}/{online.rounds}: {len(labelled.pairs)} of {len(rows)} prompts made pairs "
                  f"(dropped: {dropped}); step {step}" + (f"; held-out accuracy {accuracy:.3f}" if accuracy
                                                           is not None else ""), file=sys.stderr)
        shutil.rmtree(out / "round", ignore_errors=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return out


if __name__ == "__main__":
    sys.exit(main(algo="online_dpo"))
