"""Held-out evaluation: greedy answers to a fixed prompt set, scored by the verifier through the service.

    result = evaluate(model, tokenizer, rows, score, max_new_tokens=128)   # score: samples -> Scores
    result.metrics   # {"heldout/accuracy": 0.42, "heldout/reward": 0.42, "heldout/unscored_frac": 0.0, ...}

The prompts never appear in training and decoding is greedy, so the number moves only when the policy
does. Run every `--heldout_steps` steps by `HeldOutEval`: when the training reward rises while held-out
accuracy falls, the policy is exploiting the reward rather than solving the task (reward hacking). Each
evaluation also writes its answers and scores to `<output_dir>/heldout/step_<N>.jsonl` for reading.

`heldout/accuracy` is the fraction of prompts whose answer scored 1.0 (the verifier's "correct");
`heldout/reward` the mean score over the scored ones; unscored answers count as not correct and are
reported in `heldout/unscored_frac`, never as 0 in the mean.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from referee.verifiers import Sample, Score

from .metrics import MetricsWriter
from .reward_fn import to_samples

__all__ = ["EvalResult", "HeldOutEval", "Scorer", "evaluate"]

Scorer = Callable[[Sequence[Sample]], list[Score]]
"""Scores a batch through the service, one `Score` per sample (e.g. a `RewardClient.score` with its source)."""


@dataclass
class EvalResult:
    metrics: dict[str, float]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _generate(model: Any, tokenizer: Any, prompts: Sequence[Any], max_new_tokens: int,
              batch_size: int) -> tuple[list[str], list[int]]:
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    texts = [p if isinstance(p, str) else
             tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    completions, lengths = [], []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, generation_config=config)
            new = out[:, batch["input_ids"].shape[1]:]
            for ids in new.tolist():
                if tokenizer.eos_token_id in ids:  # what follows the first end-of-sequence is padding
                    ids = ids[: ids.index(tokenizer.eos_token_id) + 1]
                lengths.append(len(ids))
                completions.append(tokenizer.decode(ids, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return completions, lengths


def evaluate(model: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]], score: Scorer, *,
             max_new_tokens: int = 128, batch_size: int = 32) -> EvalResult:
    """Greedy completions of `rows` (columns `prompt`, `reference`, `metadata`), scored by `score`."""
    if not rows:
        return EvalResult({})
    prompts = [r["prompt"] for r in rows]
    start = time.perf_counter()
    completions, lengths = _generate(model, tokenizer, prompts, max_new_tokens, batch_size)
    generated = time.perf_counter()
    scores = score(to_samples(prompts, completions, [r.get("reference") for r in rows],
                              [r.get("metadata") for r in rows]))
    values = [s.value for s in scores]
    scored = [v for v in values if v is not None]
    metrics = {
        "heldout/accuracy": sum(1 for v in scored if v >= 1.0) / len(values),
        "heldout/reward": statistics.fmean(scored) if scored else float("nan"),
        "heldout/unscored_frac": 1 - len(scored) / len(values),
        "heldout/mean_length": statistics.fmean(lengths),
        "heldout/time_generation": generated - start,
        "heldout/time_reward": time.perf_counter() - generated,
    }
    out = [{"prompt": r["prompt"][-1]["content"] if isinstance(r["prompt"], list) else r["prompt"],
            "completion": c, "reference": r.get("reference"), "reward": s.value,
            "reason": None if s.reason is None else s.reason.value}
           for r, c, s in zip(rows, completions, scores, strict=True)]
    return EvalResult(metrics, out)


class HeldOutEval(TrainerCallback):
    """Evaluates the held-out rows before training, every `every` steps, and after the last step."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], score: Scorer, writer: MetricsWriter, *,
                 every: int, max_new_tokens: int, output_dir: Path, enabled: bool = True) -> None:
        self.rows, self.score, self.writer = list(rows), score, writer
        self.every, self.max_new_tokens, self.output_dir = every, max_new_tokens, Path(output_dir)
        self.enabled = enabled and every > 0 and bool(self.rows)
        self._last_step = -1

    def run_at(self, model: Any, tokenizer: Any, step: int) -> dict[str, float]:
        """Evaluates now and writes `heldout/step_<step>.jsonl`; returns the metrics (also for a loop of trainers,
        such as online DPO's rounds, that calls it itself)."""
        result = evaluate(model, tokenizer, self.rows, self.score, max_new_tokens=self.max_new_tokens)
        self._last_step = step
        folder = self.output_dir / "heldout"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"step_{step:05d}.jsonl", "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in result.rows)
        return result.metrics

    def _run(self, state: TrainerState, kwargs: dict[str, Any]) -> dict[str, float]:
        return self.run_at(kwargs["model"], kwargs["processing_class"], state.global_step)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        if self.enabled and state.global_step == 0:
            self.writer.write(0, self._run(state, kwargs))
        self._last_step = state.global_step

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self.enabled and state.global_step % self.every == 0:
            self.writer.add(self._run(state, kwargs))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if self.enabled and self._last_step != state.global_step:
            self.writer.write(state.global_step, self._run(state, kwargs))
