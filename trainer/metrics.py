"""One writer for the run's metrics: JSONL and TensorBoard.

`MetricsWriter` writes each logged record as one line of `<output_dir>/metrics.jsonl` and as scalars
under `<output_dir>/tensorboard/`; other callbacks (the step clock, the held-out evaluation) hand it
extra metrics with `add`, which go into the record of the current step.

On resume (global step > 0 at the start), records after the resumed step are dropped from the JSONL
and TensorBoard purges them too, so a curve never shows the steps that the crash threw away twice.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

__all__ = ["METRICS_FILE", "MetricsWriter", "read_metrics"]

METRICS_FILE = "metrics.jsonl"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of `<run_dir>/metrics.jsonl`, oldest first."""
    path = Path(run_dir) / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsWriter(TrainerCallback):
    def __init__(self, output_dir: str | Path, *, enabled: bool = True) -> None:
        self.dir = Path(output_dir)
        self.enabled = enabled  # False on the non-main processes of a distributed run
        self._pending: dict[str, float] = {}
        self._tb: Any = None
        self._started_at: int | None = None  # the step the run started at, once the outputs are open
        self.last: dict[str, Any] = {}

    @property
    def pending(self) -> dict[str, float]:
        """What `add` has collected for the record of the current step so far (a copy)."""
        return dict(self._pending)

    def add(self, metrics: dict[str, float]) -> None:
        """Metrics to put into the next record (the one logged at the end of this step)."""
        self._pending.update(metrics)

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        """A record now, outside the trainer's own logging (e.g. the held-out evaluation before step 1)."""
        if not self.enabled:
            return
        if self._started_at is None:
            self._start(step)
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
        self.last = record

    def open(self, step: int, resumed: bool = False) -> None:
        """Opens the outputs of a run that resumes at `step` now, before its first record (a loop of trainers, such
        as online DPO's rounds, resumes at a step no trainer knows, 0 included)."""
        if self.enabled and self._started_at is None:
            self._start(step, resumed)

    def _start(self, step: int, resumed: bool = False) -> None:
        """Opens the outputs of a run that starts (or, `resumed` or past step 0, resumes) at `step`."""
        self._started_at = step
        path = self.dir / METRICS_FILE
        if step > 0 or resumed:
            from .run import keep_steps_upto

            keep_steps_upto(path, step)
        elif step == 0 and path.exists():
            path.unlink()  # a fresh run (--overwrite) starts a fresh curve
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard hides the events a crashed run wrote after the step it resumes from.
        self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=step + 1 if step > 0 or resumed else None)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        # Another callback may have written first (the held-out evaluation at step 0) and opened them already.
        if self.enabled and self._started_at is None:
            self._start(state.global_step)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        metrics = {**self._pending, **(logs or {})}
        self._pending.clear()
        self.write(state.global_step, metrics)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if self._pending:
            self.write(state.global_step, dict(self._pending))
            self._pending.clear()
        self.close()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
