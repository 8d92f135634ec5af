"""What every training script shares, so that each script (`grpo.py`, `ppo.py`) reads top to bottom as its
algorithm and nothing else:

    out, resume_from = prepare_output_dir(args, cfg.output_dir, cfg.max_steps)   # folder rules, --resume, run_config
    with ExitStack() as stack:
        url = start_reward_service(stack, args, out)                 # --service_url, or one on loopback
        client = stack.enter_context(reward_client(url, args))       # one retry policy for every script
        hooks = run_hooks(args, out, heldout_rows, heldout_scorer(client, args), ...)   # metrics, clock, eval
        watch = UnscoredWatch(args)                                  # stops a run that trains on nothing
        ...
    sys.exit(main(algo="grpo"))                                      # `python -m referee.trainer.grpo`

- Output folder: a fresh run refuses a folder holding another run's checkpoints (unless `--overwrite`); a
  resumed one continues from the newest complete `checkpoint-N` and drops what the crash cut off. Either way
  the run's configuration is saved as `run_config.yaml` (see `referee.trainer.parser`).
- Rewards: the service given by `--service_url`, or one started on loopback for the run. Every call retries
  connection errors, 429 and 5xx until `--service_deadline`; past it the script saves a checkpoint and stops
  with `service_lost`'s error. A run whose every reward of `--max_unscored_steps` consecutive steps is unscored
  stops with `UnscoredWatch`'s error, naming the reason and the column to map.
- `main()`: parse, train, one line on error (exit 2), never a traceback for a `RefereeError`.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from referee.verifiers import ConfigError, RefereeError, Sample, Score

from .config import EMBEDDED, RefereeArgs
from .parser import choose_algo, save_run_config

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from referee.service.client import RewardClient

    from .callbacks import StepClock
    from .eval import Scorer
    from .metrics import MetricsWriter

__all__ = ["COMPLETIONS_FILE", "RETRIES", "REWARD_TIMEOUT", "RunArgs", "RunHooks", "TrainingError", "UnscoredWatch",
           "done", "finished", "heldout_scorer", "keep_steps_upto", "latest_checkpoint", "main", "prepare_output_dir",
           "resolve_model", "reward_client", "run", "run_hooks", "samples_of", "service_lost", "start_reward_service"]

COMPLETIONS_FILE = "completions.jsonl"
RETRIES = 3
"""Quick retries of one reward call; the deadline (`--service_deadline`), not this count, decides when to stop."""
REWARD_TIMEOUT = 300.0
"""Seconds one reward request may take (a judge on CPU scores slowly)."""
# What a fresh run (not --resume) removes from an output_dir it reuses with --overwrite.
_RUN_OUTPUTS = ("metrics.jsonl", COMPLETIONS_FILE, "tensorboard", "heldout", "service.log")


class TrainingError(RefereeError):
    """The run stopped: the service stayed unreachable (a checkpoint was saved first), every reward stayed
    unscored, or it cannot start or resume in its output folder."""


# --- The output folder ---------------------------------------------------------------------------------------

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


def keep_steps_upto(path: Path, step: int) -> None:
    """Drops the records of JSONL file `path` after `step` (what a crash cut off, when a run resumes at `step`)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))


def finished(checkpoint: Path | None, max_steps: int) -> bool:
    """Whether `checkpoint` is the last step of a run of `max_steps`: a resumed run then only has to save."""
    return checkpoint is not None and max_steps > 0 and int(checkpoint.name.split("-")[-1]) >= max_steps


class RunArgs(Protocol):
    """What the output folder rules read: `RefereeArgs`, or the flags of `referee sft` and `referee rm train`."""

    algo: str
    resume: bool
    overwrite: bool
    run_config: dict[str, Any]


def prepare_output_dir(args: RunArgs, output_dir: str | None, max_steps: int,
                       main_process: bool = True, finish: bool = False) -> tuple[Path, Path | None]:
    """(the output folder, the checkpoint to resume from or None), after checking the folder can be used that way,
    and with the run's configuration saved in it. Only the main process of a distributed run changes files.
    `finish`: the caller can finish a run whose last checkpoint is at `max_steps` without training (see
    `finished`), so resuming it is not refused."""
    out = Path(output_dir or f"runs/{args.algo}")
    checkpoint = latest_checkpoint(out) if out.exists() else None
    if args.resume:
        if checkpoint is None:
            raise TrainingError(f"--resume: no complete checkpoint in {out}; start without --resume")
        step = int(checkpoint.name.split("-")[-1])
        if max_steps > 0 and step >= max_steps and not finish:  # transformers would train one step past the end
            raise TrainingError(f"the run in {out} has already reached its {max_steps} steps ({checkpoint.name}); "
                                "continue it further with --resume true --max_steps N")
        if main_process:
            keep_steps_upto(out / COMPLETIONS_FILE, step)
    elif any(out.glob("checkpoint-*")) and not args.overwrite:
        raise TrainingError(f"{out} already holds checkpoints of a run; continue it with --resume true, start "
                            f"afresh there with --overwrite true (deletes them), or choose another --output_dir")
    elif main_process:
        for old in out.glob("checkpoint-*"):
            shutil.rmtree(old)
        for name in _RUN_OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_run_config(out, args.algo, args.run_config)
    return out, checkpoint if args.resume else None


def resolve_model(name: str | None, cache_dir: str | None) -> str:
    """`embedded` (the default) becomes the materialised SmolLM2 folder; anything else goes to transformers as is."""
    if name not in (None, EMBEDDED):
        return str(name)
    from referee.judges import cache_dir as referee_cache_dir
    from referee.judges.embedded import embedded_model_path

    return str(embedded_model_path(referee_cache_dir(cache_dir)))


# --- The reward service --------------------------------------------------------------------------------------

def start_reward_service(stack: ExitStack, args: RefereeArgs, out: Path) -> str:
    """The URL of the service the run scores through: `--service_url`, or one started on loopback for the run
    (stopped when `stack` closes; its output in `<out>/service.log`). Checks the run's sources are there."""
    from referee.service.client import RewardClient
    from referee.service.local import LocalService
    from referee.verifiers import Registry, UnknownSourceError

    names = args.source_names()
    url = args.service_url
    if url is None:
        available = Registry().names()
        for name in names:
            if name not in available:
                raise UnknownSourceError(name, available)
        settings = ["--settings", str(args.service_settings)] if args.service_settings else []
        url = stack.enter_context(LocalService(sources=names, log_path=out / "service.log", extra_args=settings)).url
    with RewardClient(url, api_key=args.api_key, retries=2) as client:
        offered = [s.name for s in client.sources()]
    missing = [n for n in names if n not in offered]
    if missing:
        raise ConfigError(f"source(s) {', '.join(map(repr, missing))} not available at {url}; "
                          f"available: {', '.join(offered) or '(none)'}")
    return url


def reward_client(url: str, args: RefereeArgs) -> RewardClient:
    """A blocking client with the run's retry policy (for PPO's rollouts and every held-out evaluation)."""
    from referee.service.client import RewardClient

    return RewardClient(url, api_key=args.api_key, timeout=REWARD_TIMEOUT, retries=RETRIES,
                        deadline=args.service_deadline)


def heldout_scorer(client: RewardClient, args: RefereeArgs) -> Scorer:
    """Scores held-out answers with `--heldout_source` (default: the training reward)."""
    source, options = args.heldout_spec()
    return lambda samples: client.score(source, samples, options)


def service_lost(exc: Exception, step: int, saved: Path) -> TrainingError:
    """The error a run stops with when the service stays unreachable past its deadline (after saving `saved`)."""
    return TrainingError(f"stopped at step {step}: {exc}. Saved {saved}; once the service answers again, continue "
                         f"with --resume true (same --output_dir).")


# --- A run that trains on nothing ----------------------------------------------------------------------------

def _reason(score: Score) -> str:
    """The reason a score is unscored; for a mix, the first unscored component's (what the user must fix)."""
    for part in score.components or ():
        if part.reason is not None:
            return part.reason.value
    return score.reason.value if score.reason is not None else "scored"


def _error(score: Score) -> str | None:
    for part in [*(score.components or ()), score]:
        if part.reason is not None and part.details.get("error"):
            return str(part.details["error"])
    return None


@dataclass
class UnscoredWatch:
    """Counts consecutive reward batches (steps) whose every score is unscored; `observe` raises a
    `TrainingError` naming the reasons and the fix once there are `args.max_unscored_steps` of them."""

    args: RefereeArgs
    unit: str = "steps"
    """What one `observe` call covers, as the message names it (online DPO observes rounds)."""
    streak: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    example: str | None = None

    def observe(self, scores: Sequence[Score]) -> None:
        if not scores or any(s.value is not None for s in scores):
            self.streak, self.example = 0, None
            self.reasons.clear()
            return
        self.streak += 1
        self.reasons.update(_reason(s) for s in scores)
        self.example = self.example or next((e for e in map(_error, scores) if e), None)
        if self.args.max_unscored_steps and self.streak >= self.args.max_unscored_steps:
            raise TrainingError(self.message())

    def message(self) -> str:
        counts = ", ".join(f"{reason}: {n}" for reason, n in self.reasons.most_common())
        example = f" (e.g. {self.example.rstrip('.')})" if self.example else ""
        return (f"stopped: every reward of the last {self.streak} {self.unit} was unscored ({counts}){example}, so "
                f"the run was training on nothing. {self._fix()} (--max_unscored_steps 0 turns this stop off)")

    def _fix(self) -> str:
        args, reasons = self.args, set(self.reasons)
        column = args.reference_column
        if "no_reference" in reasons:
            where = f"column {column!r}" if column else "no column (--reference_column is unset)"
            return (f"Source {args.source!r} checks against a reference, and dataset {args.dataset!r} gives none in "
                    f"{where}: map the column that holds the gold answers or tests with --reference_column NAME.")
        if reasons & {"invalid_reference", "invalid_input"}:
            return (f"Column {column!r} of dataset {args.dataset!r} does not hold what source {args.source!r} checks "
                    "(a math answer, or tests for code): map the right column with --reference_column NAME, or "
                    "choose the --source that fits the data.")
        log = " (its output is in the run's service.log)" if args.service_url is None else ""
        return f"The reward service cannot score this run's completions{log}; fix that before training."


# --- Metrics, clock, held-out evaluation, progress -----------------------------------------------------------

@dataclass
class RunHooks:
    """The callbacks every script runs, in the order they must run: the clock and the held-out evaluation hand
    their numbers to the writer before it writes the step's record; the progress bar reads the writer."""

    writer: MetricsWriter
    clock: StepClock
    callbacks: list[TrainerCallback]


def run_hooks(args: RefereeArgs, out: Path, heldout_rows: Sequence[dict[str, Any]], score: Scorer, *,
              max_new_tokens: int, main_process: bool = True, progress: bool = True,
              extra: Sequence[TrainerCallback] = ()) -> RunHooks:
    from .callbacks import Progress, StepClock
    from .eval import HeldOutEval
    from .metrics import MetricsWriter
    from .proxy_gold import ProxyGoldMonitor

    writer = MetricsWriter(out, enabled=main_process)
    clock = StepClock(writer)
    heldout = HeldOutEval(heldout_rows, score, writer, every=args.heldout_steps, max_new_tokens=max_new_tokens,
                          output_dir=out, enabled=main_process)
    bar = Progress(writer, enabled=main_process and progress, label=args.algo)
    monitor = ProxyGoldMonitor(writer, len(heldout_rows))  # reads the evaluation's result before the writer logs it
    return RunHooks(writer, clock, [clock, heldout, monitor, writer, bar, *extra])


# --- The command ---------------------------------------------------------------------------------------------

def run(argv: Sequence[str] | None = None, *, algo: str | None = None) -> Path:
    """Parses `argv` and trains with the algorithm it names (`--algo`, or `algo` for a script of one algorithm);
    returns the output folder."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = choose_algo(argv, default=algo or "grpo")
    if algo is not None and chosen != algo:
        raise ConfigError(f"this script trains with {algo}, but the command line or run asks for {chosen}; run "
                          f"`referee train --algo {chosen} ...`")
    if chosen == "ppo":
        from .ppo import train as train_ppo
        from .ppo_config import parse_ppo_args

        return train_ppo(*parse_ppo_args(argv))
    if chosen in ("dpo", "kto"):
        from .dpo import train as train_preferences
        from .pref_config import parse_preference_args

        return train_preferences(*parse_preference_args(argv, chosen))
    if chosen == "online_dpo":
        from .online_dpo import train as train_online
        from .pref_config import parse_online_args

        return train_online(*parse_online_args(argv))
    from .config import parse_train_args
    from .grpo import train as train_grpo

    return train_grpo(*parse_train_args(argv))


def done(out: Path) -> str:
    return f"done: model, metrics.jsonl and checkpoints in {out}; plot them with `referee report {out}`"


def main(argv: Sequence[str] | None = None, *, algo: str | None = None) -> int:
    """`python -m referee.trainer.<algo>`: train, print where the results are; one line on error, exit code 2."""
    try:
        out = run(argv, algo=algo)
    except RefereeError as exc:
        print("referee train: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(done(out))
    return 0


def samples_of(rows: Sequence[dict[str, Any]], completions: Sequence[str]) -> list[Sample]:
    """`Sample`s of dataset rows (columns prompt, reference, metadata) answered by `completions`."""
    from .reward_fn import to_samples

    return to_samples([r["prompt"] for r in rows], completions, [r["reference"] for r in rows],
                      [r["metadata"] for r in rows])
