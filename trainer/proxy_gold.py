"""The proxy-versus-gold monitor of a training run: training reward rising while held-out accuracy falls.

The training reward is the proxy (a reward model or a judge, or the verifier itself); the held-out accuracy,
scored by `--heldout_source` (a verifier), is the gold. At each held-out evaluation the monitor feeds
`referee.service.monitors.ProxyGoldTrend` (the rule the service's `/metrics` uses too) the mean training reward
since the previous evaluation and the new accuracy, and logs in the same record:

- `monitor/proxy` (that interval's mean training reward), `monitor/gold_drop` (the accuracy's fall from its
  best), `monitor/proxy_gain` (the training reward's rise since that best),
- `monitor/proxy_up_gold_down`: 1 when the accuracy has fallen by more than two standard errors of one
  evaluation (sqrt(p (1 - p) / n) at its best p, n held-out prompts; at least one prompt) while the reward rose;
  the first time, a warning line on stderr says so.

That is the signature of reward over-optimisation (Gao et al. 2022): the policy is learning what the proxy
rewards rather than the task. It is a flag to read the held-out answers (`heldout/step_N.jsonl`), not a stop.
"""

from __future__ import annotations

import math
import statistics
import sys
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from referee.service.monitors import ProxyGoldTrend

from .metrics import MetricsWriter

__all__ = ["ProxyGoldMonitor"]

GOLD = "heldout/accuracy"


class ProxyGoldMonitor(TrainerCallback):
    """Runs after the held-out evaluation and before the metrics writer in a step (see `run_hooks`)."""

    def __init__(self, writer: MetricsWriter, heldout_size: int, proxy: str = "reward") -> None:
        self.writer, self.n, self.proxy = writer, max(heldout_size, 1), proxy
        self.trend = ProxyGoldTrend()
        self.rewards: list[float] = []
        self.start: tuple[int, float] | None = None
        self.best_step = 0
        self.warned = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        last = self.writer.last
        if last.get("step") == state.global_step and isinstance(last.get(GOLD), int | float):
            self.start = (state.global_step, float(last[GOLD]))  # the evaluation before the first step

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        reward = (logs or {}).get(self.proxy)
        if isinstance(reward, int | float) and math.isfinite(reward):
            self.rewards.append(float(reward))
        gold = self.writer.pending.get(GOLD)
        if isinstance(gold, int | float):
            self.writer.add(self._observe(float(gold), state.global_step))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        last = self.writer.last  # the evaluation after the last step, written on its own
        if last.get("step") == state.global_step and isinstance(last.get(GOLD), int | float) and self.rewards:
            self.writer.write(state.global_step, self._observe(float(last[GOLD]), state.global_step))

    def _observe(self, gold: float, step: int) -> dict[str, float]:
        if not self.rewards:
            return {}
        proxy = statistics.fmean(self.rewards)
        self.rewards.clear()
        if self.start is not None:  # the proxy before training is unknown: the first interval's mean stands in
            self._update(proxy, self.start[1], self.start[0])
            self.start = None
        self._update(proxy, gold, step)
        trend = self.trend
        p = trend.best_gold or 0.0
        trend.tolerance = max(1 / self.n, 2 * math.sqrt(p * (1 - p) / self.n))
        if trend.diverging and not self.warned:
            self.warned = True
            print(f"warning: at step {step} the training reward has risen by {trend.proxy_gain:.3g} since held-out "
                  f"accuracy peaked at step {self.best_step} ({trend.best_gold:.3f}), and the accuracy has since "
                  f"fallen to {gold:.3f}: the policy may be over-optimising its reward (Gao et al. 2022); read the "
                  "held-out answers in heldout/", file=sys.stderr)
        return {"monitor/proxy": proxy, "monitor/gold_drop": trend.gold_drop, "monitor/proxy_gain": trend.proxy_gain,
                "monitor/proxy_up_gold_down": 1.0 if trend.diverging else 0.0}

    def _update(self, proxy: float, gold: float, step: int) -> None:
        self.trend.update(proxy, gold)
        if self.trend.best_gold == gold:
            self.best_step = step
