"""Reward-call overhead as a share of GRPO step time, with the reward service on the same machine.

    .venv/bin/python bench/bench_reward_overhead.py                       # SmolLM2, math, 4 steps
    .venv/bin/python bench/bench_reward_overhead.py --steps 6 --sources math,exact --batch 32

For each source it runs the real trainer (`referee.trainer.grpo.train`: TRL's GRPOTrainer, transformers
generation, a local service started for the run) for `--steps` steps and reads the step-time split the
trainer records (`time/step`, `time/generation`, `time/reward`, `time/update`). The first step is reported
but left out of the means (it pays for warm-up: the service's worker pool, first allocations). Then it
scores the run's own completions again with one direct client call per step's batch, to show what the
HTTP round trip plus the verifier cost without the trainer around it. Goal: reward <= 5% of step time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def run(source: str, steps: int, batch: int, max_len: int, out: Path) -> dict[str, float]:
    from referee.service.client import RewardClient
    from referee.service.local import LocalService
    from referee.trainer.config import parse_train_args
    from referee.trainer.grpo import train
    from referee.trainer.metrics import read_metrics
    from referee.trainer.run import COMPLETIONS_FILE

    with LocalService(sources=[source]) as svc:
        argv = ["--service_url", svc.url, "--source", source, "--dataset", "arithmetic", "--max_steps", str(steps),
                "--per_device_train_batch_size", str(batch), "--max_completion_length", str(max_len),
                "--heldout_steps", "0", "--save_strategy", "no", "--output_dir", str(out), "--overwrite", "true",
                "--disable_tqdm", "true"]
        train(*parse_train_args(argv))
        records = [r for r in read_metrics(out) if "time/step" in r]
        rows = [json.loads(line) for line in (out / COMPLETIONS_FILE).read_text().splitlines()]
        direct = []
        with RewardClient(svc.url) as client:
            client.score(source, [{"completion": "1", "reference": "1"}])  # connection set up
            for step in sorted({r["step"] for r in rows}):
                samples = [{"prompt": r["prompt"], "completion": r["completion"], "reference": r["reference"]}
                           for r in rows if r["step"] == step]
                start = time.perf_counter()
                client.score(source, samples)
                direct.append(time.perf_counter() - start)
    print(f"\n{source}: {batch} completions per step, max {max_len} tokens")
    print(f"{'step':>4} {'step s':>8} {'generation s':>13} {'reward s':>9} {'update s':>9} {'reward share':>13}")
    for r in records:
        print(f"{r['step']:>4} {r['time/step']:>8.2f} {r['time/generation']:>13.2f} {r['time/reward']:>9.3f} "
              f"{r['time/update']:>9.2f} {r['time/reward_share']:>12.2%}")
    steady = records[1:] or records
    mean = {k: statistics.fmean(r[k] for r in steady)
            for k in ("time/step", "time/generation", "time/reward", "time/update")}
    mean["share"] = mean["time/reward"] / mean["time/step"]
    mean["direct"] = statistics.fmean(direct[1:] or direct)
    print(f"mean of steps 2..{steps}: step {mean['time/step']:.2f} s, reward {mean['time/reward']:.3f} s "
          f"= {mean['share']:.2%} of the step (goal <= 5%); the same batches scored directly: "
          f"{mean['direct']:.3f} s per call")
    return mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default="math", help="comma-separated sources, run one after the other")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16, help="completions per step (4 per prompt)")
    ap.add_argument("--max-len", type=int, default=64, help="max completion tokens")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.sources.split(","):
            results[source] = run(source, args.steps, args.batch, args.max_len, Path(tmp) / source)
    print("\nsummary (means over steps after the first)")
    print(f"{'source':<10} {'step s':>8} {'reward s':>9} {'share':>7} {'direct call s':>14}")
    for source, m in results.items():
        print(f"{source:<10} {m['time/step']:>8.2f} {m['time/reward']:>9.3f} {m['share']:>7.2%} {m['direct']:>14.3f}")


if __name__ == "__main__":
    main()
