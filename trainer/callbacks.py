"""Callbacks that time each step and show progress.

`StepClock` times each optimizer step (from `on_step_begin` to `on_step_end`) and the parts the trainer
reports into it: `generation` (rollouts) and `reward` (the call to the service, as TRL awaits it). The
rest of the step is `update`: reference and old-policy log-probs, forward, backward and the optimizer
step. `Progress` is a progress bar with the numbers that matter, instead of printing every log record.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .metrics import MetricsWriter

__all__ = ["Progress", "StepClock"]


class StepClock(TrainerCallback):
    """Splits each optimizer step's wall time into generation, reward and update (the rest)."""

    def __init__(self, writer: MetricsWriter) -> None:
        self.writer = writer
        self.parts: dict[str, float] = defaultdict(float)
        self.tokens = 0
        self._start: float | None = None

    @contextmanager
    def measure(self, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.parts[part] += time.perf_counter() - start

    def count_tokens(self, n: int) -> None:
        """Completion tokens generated in this step."""
        self.tokens += n

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                      **kwargs: Any) -> None:
        self.parts.clear()
        self.tokens = 0
        self._start = time.perf_counter()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self._start is None:
            return
        total = time.perf_counter() - self._start
        generation, reward = self.parts.get("generation", 0.0), self.parts.get("reward", 0.0)
        metrics = {"time/step": total, "time/generation": generation, "time/reward": reward,
                   "time/update": max(total - generation - reward, 0.0),
                   "time/reward_share": reward / total if total > 0 else 0.0}
        if generation > 0:
            metrics["throughput/generated_tokens_per_s"] = self.tokens / generation
        self.writer.add(metrics)
        self._start = None


class Progress(TrainerCallback):
    """A tqdm bar over the steps; its postfix shows reward, held-out accuracy, KL and seconds per step."""

    _SHOWN = (("reward", "reward"), ("heldout/accuracy", "heldout"), ("kl", "kl"), ("time/step", "s/step"),
              ("time/reward_share", "reward_share"))

    def __init__(self, writer: MetricsWriter, *, enabled: bool = True, label: str = "train") -> None:
        self.writer, self.enabled, self.label = writer, enabled, label
        self._bar: Any = None
        self._shown: dict[str, str] = {}

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.label, dynamic_ncols=True)
            self._update()

    def _update(self) -> None:
        for key, label in self._SHOWN:
            value = self.writer.last.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                self._shown[label] = f"{value:.3g}"
        self._bar.set_postfix(self._shown, refresh=False)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.n = state.global_step
            self._update()
            self._bar.refresh()

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.n = state.global_step
            self._update()
            self._bar.close()
            self._bar = None
