"""Held-out accuracy of one or more policies on the same prompts, scored by a verifier through the service.

    python bench/eval_heldout.py embedded runs/dpo-arithmetic --heldout_size 300 --seed 0
    python bench/eval_heldout.py embedded runs/dpo-arithmetic --heldout_size 300 --source math --json out.json

A training run's own held-out curve uses 64 prompts (a standard error near 0.06); this re-measures the start
and end policies on up to 1000 held-out prompts of the built-in `arithmetic` set (or another built-in set), each
policy answering the same prompts greedily (`referee.trainer.eval.evaluate`, the evaluation the trainers run),
scored by `--source` through a service started on loopback. It prints accuracy with its binomial standard
error, and for two policies the paired difference (the prompts each gets right that the other does not).
The held-out split of `arithmetic` never shares a question with the training split of the same `--seed`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model folders, or 'embedded'")
    p.add_argument("--dataset", default="arithmetic", help="built-in set whose held-out split is used")
    p.add_argument("--heldout_size", type=int, default=300)
    p.add_argument("--seed", type=int, default=0, help="the held-out split's seed (the training run's --seed)")
    p.add_argument("--source", default="math")
    p.add_argument("--max_new_tokens", type=int, default=48)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from referee.service.client import RewardClient
    from referee.service.local import LocalService
    from referee.trainer.config import RefereeArgs
    from referee.trainer.data import load_prompts
    from referee.trainer.eval import evaluate
    from referee.trainer.run import resolve_model

    scaffold = RefereeArgs(dataset=args.dataset, heldout_size=args.heldout_size, max_examples=1)
    _, rows = load_prompts(scaffold, seed=args.seed)
    results = {}
    with LocalService(sources=[args.source]) as svc, RewardClient(svc.url, timeout=600) as client:
        for name in args.models:
            path = resolve_model(name, None)
            model = AutoModelForCausalLM.from_pretrained(path).eval()
            tokenizer = AutoTokenizer.from_pretrained(path)
            result = evaluate(model, tokenizer, rows, lambda s: client.score(args.source, s),
                              max_new_tokens=args.max_new_tokens)
            right = [r["reward"] == 1.0 for r in result.rows]
            acc = sum(right) / len(right)
            results[name] = {"accuracy": acc, "stderr": math.sqrt(acc * (1 - acc) / len(right)), "right": right}
            print(f"{name}: accuracy {acc:.3f} ± {results[name]['stderr']:.3f} on {len(right)} held-out prompts",
                  file=sys.stderr)
    if len(args.models) == 2:
        a, b = (results[m]["right"] for m in args.models)
        only_a = sum(x and not y for x, y in zip(a, b, strict=True))
        only_b = sum(y and not x for x, y in zip(a, b, strict=True))
        # McNemar's exact test on the discordant prompts: is the change more than the coin flips of 50/50?
        n, k = only_a + only_b, min(only_a, only_b)
        p_value = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
        print(f"{args.models[1]} vs {args.models[0]}: right only by the second {only_b}, only by the first {only_a} "
              f"(McNemar exact p = {p_value:.3g})", file=sys.stderr)
        results["paired"] = {"only_first": only_a, "only_second": only_b, "mcnemar_p": p_value}
    if args.json:
        args.json.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "right"}
                                         for k, v in results.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
