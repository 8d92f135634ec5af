"""Benchmark the `reward_model` source against the embedded judge: items/s, side by side in one run.

    .venv/bin/python bench/bench_reward_model.py                    # about 20 min on 2 busy CPU cores
    .venv/bin/python bench/bench_reward_model.py --items 16 --judge-items 2 --repeats 1 --json rm.json

The reward model is the embedded SmolLM2-135M-Instruct made into a 1-output sequence classifier with a
fresh, seeded score head (speed does not depend on the head being trained), written to a temporary folder
and served by the source exactly as in production (local backend, `device` auto: CUDA when present).
Items are (prompt, completion) pairs of about `--tokens` tokens once formatted with the chat template.

Measured, interleaved `--repeats` times (the best run of each counts: on a shared machine it is the one
least disturbed by other jobs):

- the source's items/s when a request carries 1, 16 or 64 items (`--items` items in all, in requests of that
  size; within a request the source batches under its token budget);
- the embedded judge's pointwise items/s (`hhh`, method `verdict`, local backend, its default batch size),
  on the first `--judge-items` of the same items: four principles, so four prompts of ~450 tokens per item.

One forward pass per item, no order swap and no judge prompt. The issue expected at least 20x the judge; on
CPU the ratio follows the tokens each runs per item: 3.5-4.5x against the judge with its prefix cache
(docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from referee.judges import Judge, JudgeConfig, JudgeEnvironment, configure_judges, embedded_model_path
from referee.judges.reward_model import RewardModel, RewardModelConfig, reward_input_ids
from referee.verifiers import Runtime, Sample

BATCHES = (1, 16, 64)
WORDS = ("the model answers a question about rivers mountains numbers history code tests proofs cats weather "
         "because therefore however first second finally result value check step example simple careful").split()


def classifier_from_embedded(cache_dir: Path, target: Path, seed: int = 0) -> None:
    """SmolLM2-135M-Instruct as a 1-output sequence classifier with a fresh score head, saved to `target`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = embedded_model_path(cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(seed)
    hf_logging.set_verbosity_error()  # the "score.weight newly initialised" report is the point here
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def judge_tokens(judge: Judge, folder: Path, items: list[Sample]) -> float:
    """Mean tokens the judge runs per item: one prompt per principle, as its local backend renders them."""
    from transformers import AutoTokenizer

    from referee.judges.method import judge_messages
    from referee.judges.pointwise import POINTWISE_TEMPLATES
    from referee.judges.prompts import load_template

    tokenizer = AutoTokenizer.from_pretrained(folder)  # the embedded model's tokenizer and chat template
    template = load_template(POINTWISE_TEMPLATES["verdict"])
    total = 0
    for s in items:
        for p in judge.constitution.principles:
            messages = judge_messages(template, judge.constitution, p, prompt=s.prompt, response=s.completion)
            total += len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                       return_dict=True)["input_ids"])
    return total / len(items)


def make_items(folder: Path, n: int, tokens: int, seed: int = 0) -> tuple[list[Sample], float]:
    """`n` (prompt, completion) pairs of about `tokens` formatted tokens; and their mean length."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    rng = random.Random(seed)
    items, lengths = [], []
    for i in range(n):
        prompt = f"Question {i}: " + " ".join(rng.choice(WORDS) for _ in range(40)) + "?"
        words: list[str] = []
        while True:  # grow the completion until the formatted item reaches the target length
            words += [rng.choice(WORDS) for _ in range(8)]
            length = len(reward_input_ids(tokenizer, prompt, " ".join(words)))
            if length >= tokens:
                break
        items.append(Sample(prompt=prompt, completion=" ".join(words)))
        lengths.append(length)
    return items, sum(lengths) / len(lengths)


async def measure(args: argparse.Namespace, cache_dir: Path, folder: Path, items: list[Sample]) -> dict[str, Any]:
    judged = items[: args.judge_items]
    async with Runtime(workers=1, preload=()) as rt:
        configure_judges(rt, JudgeEnvironment(cache_dir=cache_dir))
        source = RewardModel(RewardModelConfig(model=str(folder), backend={"local": {"device": args.device}}), rt)
        judge = Judge(JudgeConfig(constitution="hhh", cache=False), rt)
        await source.start()
        warm = await source.score(items[:2])  # load and warm up outside the timings
        await judge.score(judged[:1])
        best: dict[str, float] = {}
        values: dict[int, list[float | None]] = {}
        for _ in range(args.repeats):
            for b in BATCHES:
                t = time.perf_counter()
                scores = [s for k in range(0, len(items), b) for s in await source.score(items[k : k + b])]
                best[f"rm{b}"] = min(best.get(f"rm{b}", math.inf), time.perf_counter() - t)
                values[b] = [s.value for s in scores]
            t = time.perf_counter()
            judge_scores = await judge.score(judged)
            best["judge"] = min(best.get("judge", math.inf), time.perf_counter() - t)
    judge_rate = len(judged) / best["judge"]
    out: dict[str, Any] = {
        "device": warm[0].details["reward_model"]["device"], "items": len(items), "repeats": args.repeats,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "judge": {"items": len(judged), "seconds": best["judge"], "items_per_s": judge_rate,
                  "unscored": sum(not s.scored for s in judge_scores),
                  "tokens_per_item": judge_tokens(judge, folder, judged),
                  "prompts_per_item": len(judge.constitution.principles)},
        "max_value_difference_across_batch_sizes": max(
            abs((x or 0) - (y or 0)) for b in BATCHES for x, y in zip(values[1], values[b], strict=True)),
        "unscored": sum(v is None for b in BATCHES for v in values[b]),
    }
    for b in BATCHES:
        rate = len(items) / best[f"rm{b}"]
        out[f"batch{b}"] = {"seconds": best[f"rm{b}"], "items_per_s": rate, "vs_judge": rate / judge_rate}
    return out


def markdown(r: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.1f}" for x in r["load_average"])
    lines = [f"Device {r['device']}, {r['cpus']} CPUs, load average {load}; {r['items']} items of "
             f"{r['mean_tokens']:.0f} tokens on average, best of {r['repeats']}.", "",
             "| scorer | request size | items/s | seconds | x judge |", "|---|---:|---:|---:|---:|"]
    for b in BATCHES:
        x = r[f"batch{b}"]
        lines.append(f"| reward_model | {b} | {x['items_per_s']:.2f} | {x['seconds']:.1f} | {x['vs_judge']:.1f}x |")
    j = r["judge"]
    lines.append(f"| judge (hhh, verdict) | {j['items']} | {j['items_per_s']:.3f} | {j['seconds']:.1f} | 1.0x |")
    diff = r["max_value_difference_across_batch_sizes"]
    lines += ["", f"Tokens run per item: reward_model {r['mean_tokens']:.0f} (one pass), judge "
              f"{j['tokens_per_item']:.0f} ({j['prompts_per_item']} prompts, one per principle of hhh); ratio "
              f"{j['tokens_per_item'] / r['mean_tokens']:.1f}.",
              f"Largest reward difference between request sizes: {diff:.2e}; "
              f"unscored: reward_model {r['unscored']}, judge {j['unscored']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=64, help="Items scored by the reward model per request size.")
    parser.add_argument("--judge-items", type=int, default=8, help="Items scored by the judge.")
    parser.add_argument("--tokens", type=int, default=256, help="Formatted length of each item, in tokens.")
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved runs; the best of each counts.")
    parser.add_argument("--device", default="auto", help="The reward model's device: auto, cpu, cuda:0.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    from referee.judges import cache_dir as referee_cache

    cache_dir = referee_cache()
    workdir = Path(tempfile.mkdtemp(prefix="bench-rm-"))
    try:
        folder = workdir / "smollm2-135m-rm"
        classifier_from_embedded(cache_dir, folder)
        items, mean_tokens = make_items(folder, args.items, args.tokens)
        report = {**asyncio.run(measure(args, cache_dir, folder, items)), "mean_tokens": mean_tokens}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
