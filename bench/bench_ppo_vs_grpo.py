"""GRPO against PPO on the same task, side by side: both trainings at once, same data, model, budget.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_ppo_vs_grpo.py --minutes 30 --output_dir runs/compare
    .venv/bin/python bench/bench_ppo_vs_grpo.py --table-only --output_dir runs/compare   # the table again

(`--table-only` reads `<output_dir>/launch.json`: "started" (unix time), or "grpo_started" and "ppo_started"
for two runs launched apart, and the runs in `<output_dir>/grpo` and `<output_dir>/ppo`.)

Starts `python -m referee.trainer.grpo` and `python -m referee.trainer.ppo` as two processes at the same
moment, with the shared flags below (SmolLM2-135M-Instruct, arithmetic, `math` source, 16 completions per
step, 64 new tokens, temperature 0.7, constant learning rate 3e-5, KL β 0.04, 48 held-out prompts every 4 steps),
so both see the same machine load; each process gets `--minutes` of wall time (then it is stopped and
its metrics so far are kept). Then prints a markdown table per algorithm: at each held-out evaluation,
the step, the wall time since launch, the training reward (mean over the steps since the previous
evaluation) and the held-out accuracy, plus the mean step time and its split.

On a CPU shared with other work, set OMP_NUM_THREADS=1: with more OpenMP threads than free cores, the
threads spin waiting for each other and generation ran 17 times slower in our measurements.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SHARED = ["--source", "math", "--dataset", "arithmetic", "--per_device_train_batch_size", "16",
          "--max_completion_length", "64", "--temperature", "0.7", "--learning_rate", "3e-5",
          "--lr_scheduler_type", "constant", "--beta", "0.04", "--heldout_size", "48", "--heldout_steps", "4",
          "--save_steps", "4", "--disable_tqdm", "true", "--overwrite", "true"]
ALGOS = {
    "grpo": ["--num_generations", "4"],  # 4 prompts x 4 completions, group-relative advantages
    "ppo": ["--ppo_epochs", "2", "--num_mini_batches", "2"],  # 16 prompts x 1 completion, GAE advantages
}


def launch(out: Path, max_steps: int, minutes: float) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    started = time.time()
    for algo, extra in ALGOS.items():
        cmd = [sys.executable, "-m", f"referee.trainer.{algo}", *SHARED, *extra, "--max_steps", str(max_steps),
               "--output_dir", str(out / algo)]
        (out / f"{algo}.cmd").write_text(" ".join(cmd) + "\n")
        log = open(out / f"{algo}.log", "wb")
        procs[algo] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = started + minutes * 60
    ended: dict[str, float] = {}
    while len(ended) < len(procs):
        for algo, proc in procs.items():
            if algo not in ended and proc.poll() is not None:
                ended[algo] = time.time()
        if time.time() > deadline:
            for algo, proc in procs.items():
                if algo not in ended:
                    os.killpg(proc.pid, signal.SIGTERM)  # its own session: the trainer and its local service
                    proc.wait()
                    ended[algo] = time.time()
        time.sleep(2)
    meta = {"started": started, **{f"{a}_ended": t for a, t in ended.items()},
            **{f"{a}_returncode": float(p.returncode) for a, p in procs.items()}}
    (out / "launch.json").write_text(json.dumps(meta))
    return meta


def table(run: Path, started: float) -> str:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "time/step" in r]
    lines = ["| step | wall time (min) | train reward (mean since last eval) | held-out accuracy |",
             "| ---: | ---: | ---: | ---: |"]
    previous = 0
    for r in records:
        if "heldout/accuracy" not in r:
            continue
        window = [s["reward"] for s in steps
                  if previous < s["step"] <= r["step"] and math.isfinite(s.get("reward", math.nan))]
        reward = f"{statistics.fmean(window):.3f}" if window else "-"
        lines.append(f"| {r['step']} | {(r['time'] - started) / 60:.1f} | {reward} | {r['heldout/accuracy']:.3f} |")
        previous = r["step"]
    if steps:
        def mean(key: str) -> float:
            return statistics.fmean(s.get(key, 0.0) for s in steps)

        lines.append("")
        lines.append(f"{len(steps)} steps; per step {mean('time/step'):.0f} s = generation "
                     f"{mean('time/generation'):.0f} s + reward {mean('time/reward'):.1f} s + update "
                     f"{mean('time/update'):.0f} s; reward over all steps {mean('reward'):.3f}")
    return "\n".join(lines)


def plot(out: Path, meta: dict[str, Any], path: Path) -> None:
    """Held-out accuracy and training reward (5-step trailing mean) of both runs against wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for algo, color in zip(ALGOS, ("tab:blue", "tab:red"), strict=True):
        started = meta.get(f"{algo}_started", meta["started"])
        records = [json.loads(line) for line in (out / algo / "metrics.jsonl").read_text().splitlines() if line]
        held = [(r["time"] - started) / 60 for r in records if "heldout/accuracy" in r]
        left.plot(held, [r["heldout/accuracy"] for r in records if "heldout/accuracy" in r], "o-", color=color,
                  label=algo.upper())
        steps = [r for r in records if "time/step" in r and math.isfinite(r.get("reward", math.nan))]
        rewards = [s["reward"] for s in steps]
        smooth = [statistics.fmean(rewards[max(0, i - 4) : i + 1]) for i in range(len(rewards))]
        right.plot([(s["time"] - started) / 60 for s in steps], smooth, color=color, label=algo.upper())
    for ax, title in ((left, "held-out accuracy (greedy)"), (right, "training reward (5-step mean)")):
        ax.set_title(title)
        ax.set_xlabel("wall time since launch (min)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="runs/compare")
    parser.add_argument("--minutes", type=float, default=30.0, help="Wall-clock budget of each training.")
    parser.add_argument("--max_steps", type=int, default=40, help="Steps each training may take within the budget.")
    parser.add_argument("--table-only", action="store_true", help="Print the table of an earlier launch.")
    parser.add_argument("--plot", type=Path, default=None, help="Also draw both runs' curves into this PNG.")
    opts = parser.parse_args()
    out = Path(opts.output_dir)
    meta: dict[str, Any] = (json.loads((out / "launch.json").read_text()) if opts.table_only
                            else launch(out, opts.max_steps, opts.minutes))
    for algo in ALGOS:
        print(f"\n### {algo.upper()} (exit code {meta.get(f'{algo}_returncode')})\n")
        print(table(out / algo, meta.get(f"{algo}_started", meta["started"])))
    if opts.plot is not None:
        plot(out, meta, opts.plot)


if __name__ == "__main__":
    main()
