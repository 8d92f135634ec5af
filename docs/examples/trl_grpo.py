"""GRPO with TRL's own GRPOTrainer, rewards from the referee service: the whole integration is one object.

    .venv/bin/python docs/examples/trl_grpo.py                    # starts a service on loopback; 2 GRPO steps
    .venv/bin/python docs/examples/trl_grpo.py --url http://127.0.0.1:8000 --source math --steps 50

`ServiceReward` is a TRL reward function: TRL calls it with the prompts, the completions and every other
dataset column; it posts them to the service (the `reference` column is the gold answer) and returns one
float per completion, or None where the service could not score, which TRL leaves out instead of training on
a made-up 0. The policy is the embedded SmolLM2-135M-Instruct (nothing is downloaded). For held-out
evaluation, metrics files and resuming, use `referee train`; this file shows what plain TRL needs.
On a CPU a step takes one to a few minutes (generation dominates).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from contextlib import ExitStack
from pathlib import Path

import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from referee.judges import cache_dir, embedded_model_path
from referee.service.local import LocalService
from referee.trainer import ServiceReward


def arithmetic(n: int, seed: int = 0) -> Dataset:
    """Conversational prompts with a `reference` column: what the `math` source checks against."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        question = f"What is {a} + {b}? Put the final answer in \\boxed{{}}."
        rows.append({"prompt": [{"role": "user", "content": question}], "reference": str(a + b)})
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running reward service (default: start one on loopback)")
    parser.add_argument("--api_key", "--api-key", help="the service's API key, if it has one")
    parser.add_argument("--source", default="math", help="reward source, e.g. math, exact, code, judge")
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps")
    parser.add_argument("--cache_dir", "--cache-dir", type=Path, default=None,
                        help="where the embedded model is materialised once (default: $REFEREE_CACHE or "
                        "~/.cache/referee)")
    args = parser.parse_args()

    with ExitStack() as stack:
        url = args.url or stack.enter_context(LocalService(sources=[args.source])).url
        reward = ServiceReward(url, source=args.source, api_key=args.api_key)

        config = GRPOConfig(
            output_dir=stack.enter_context(tempfile.TemporaryDirectory()),
            max_steps=args.steps,
            per_device_train_batch_size=4,  # completions per step: 1 prompt x 4 generations
            num_generations=4,  # GRPO's group: advantages are rewards relative to the group's mean
            max_completion_length=48,
            learning_rate=1e-5,
            beta=0.0,  # no KL term: no reference model to keep in memory
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),  # TRL's bf16 default needs a GPU; on CPU train in float32
        )
        # TRL awaits async reward functions such as ServiceReward; its annotation names only sync ones.
        trainer = GRPOTrainer(model=str(embedded_model_path(cache_dir(args.cache_dir))),
                              reward_funcs=[reward],  # type: ignore[list-item]
                              args=config, train_dataset=arithmetic(4 * args.steps))
        trainer.train()

    for record in trainer.state.log_history:
        if "reward" in record:
            print(f"step {record['step']}: mean reward {record['reward']:.3f}  "
                  f"({reward.__name__}: {record.get(f'rewards/{reward.__name__}/mean', float('nan')):.3f})")
    unscored = sum(s.value is None for s in reward.last_scores)
    print(f"last batch: {len(reward.last_scores)} completions scored by {args.source!r}, {unscored} unscored")


if __name__ == "__main__":
    main()
