"""Best-of-N rejection sampling: N completions per prompt, scored through the service, kept as SFT rows and
preference pairs.

    referee best-of-n --dataset arithmetic --source math --n 8 --max_examples 500 --output_dir runs/bon
    referee best-of-n --model_name_or_path runs/sft --dataset prompts.jsonl --source judge --n 4 ...
    referee best-of-n --config bon.yaml                     # YAML first, flags override it

For each prompt: sample N completions from the policy (`--model_name_or_path`, default the embedded
SmolLM2-135M-Instruct; vLLM when installed, else transformers: `--backend`), score them all through the reward
service (`--service_url`, or one started on loopback) with `--source` (a name or a weighted mix, the grammar
of `referee train`), then write into `--output_dir`:

- `sft.jsonl`: the best completion, `{prompt, completion, score, ...}` (Llama 2's rejection sampling);
  `--sft_min_score` keeps only bests that reach it (e.g. 1.0: only answers the verifier passes).
- `pairs.jsonl`: (best, worst) as `{prompt, chosen, rejected, score_chosen, score_rejected, ...}`, the rows
  `referee rm train` and TRL's DPO/reward trainers read. With a verifier (`--source math` on `arithmetic`)
  these are verifier-labelled pairs: a completion that passes against one that fails, for the same prompt.
  `--pairs all` writes every (higher, lower) combination of a prompt's scored completions instead (with a 0/1
  verifier, each passing one against each failing one: up to N²/4 pairs a prompt where best-and-worst gives one),
  in sampling order; a completion sampled twice pairs twice, as the policy's distribution weights it.
- `samples.jsonl`: every completion with its score (unpaired labels, e.g. for KTO).
- `summary.json`: the counts printed at the end.

Every row carries the reference and the provenance of its scores (`source`, `version`, `details`, and a mix's
`components`), plus how it was sampled (model, n, temperature, top_p, max_new_tokens, seed). An unscored
completion is never chosen nor rejected; a prompt whose scored completions all tie, or that has fewer than
two, gives no pair, and the summary counts why. Rows are written to `<file>.partial` as each batch of prompts
is scored and renamed when the run ends, so an interrupted run leaves its finished rows and no file that
looks complete.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from referee.verifiers import ConfigError, RefereeError, Score

from .config import EMBEDDED, RefereeArgs
from .parser import parse_config

__all__ = ["OUTPUT_FILES", "BestOfNArgs", "main", "parse_best_of_n_args", "pick", "report", "run"]

OUTPUT_FILES = ("sft.jsonl", "pairs.jsonl", "samples.jsonl", "summary.json")
PAIRINGS = ("best_worst", "all")


@dataclass
class BestOfNArgs:
    """Flags of `referee best-of-n`: the policy, sampling, the data, the reward and the output folder."""

    model_name_or_path: str = field(default=EMBEDDED, metadata={
        "help": "The policy to sample from: a model folder, or 'embedded' (SmolLM2-135M-Instruct)."})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "Where the embedded model is materialised; default: $REFEREE_CACHE or ~/.cache/referee."})
    dtype: str | None = field(default=None, metadata={
        "help": "Model dtype (float32, bfloat16, ...); default float32 on CPU, the checkpoint's on a GPU."})
    backend: str = field(default="auto", metadata={
        "help": "Generation backend: auto (vLLM when installed, else transformers), vllm, or transformers."})
    n: int = field(default=8, metadata={"help": "Completions sampled per prompt."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (> 0)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling: keep the smallest set of tokens with this "
                                                         "much probability (1.0: all)."})
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens generated per completion."})
    batch_size: int = field(default=8, metadata={"help": "Prompts per generation batch (each gives n sequences)."})
    seed: int = field(default=0, metadata={"help": "Random seed of the sampling (and of a generated dataset)."})
    dataset: str = field(default="arithmetic", metadata={
        "help": "Built-in set (arithmetic, arithmetic-multistep, code, open), or a local .jsonl/.json/.parquet file "
                "or saved dataset; read as `referee train` reads it."})
    dataset_split: str = field(default="train", metadata={"help": "Split to read from a saved DatasetDict."})
    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the prompt."})
    reference_column: str | None = field(default="reference", metadata={
        "help": "Column holding the gold answer or tests the source checks against; none for a judge."})
    metadata_column: str | None = field(default="metadata", metadata={
        "help": "Column of per-row dicts passed as each sample's metadata."})
    system_prompt: str | None = field(default=None, metadata={"help": "System message put before every prompt."})
    max_examples: int | None = field(default=None, metadata={
        "help": "Use at most this many prompts (for `arithmetic`: how many to generate, default 2000)."})
    source: str = field(default="math", metadata={
        "help": "Reward source name, or a weighted mix 'math:1.0,judge:0.2' (as `referee train --source`)."})
    source_options: dict[str, Any] | str | None = field(default=None, metadata={
        "help": "JSON object of options: the source's, or for a mix {name: options, ..., 'on_unscored': 'skip'}."})
    service_url: str | None = field(default=None, metadata={
        "help": "URL of a running reward service; if unset, one is started on loopback and stopped afterwards."})
    service_settings: str | None = field(default=None, metadata={
        "help": "Settings file (YAML) for the service started on loopback, e.g. source_options: {reward_model: "
                "{model: DIR}}; ignored with --service_url."})
    api_key: str | None = field(default=None, metadata={
        "help": "Bearer key for the service (default: the REFEREE_API_KEY environment variable)."})
    service_deadline: float = field(default=300.0, metadata={
        "help": "Seconds to keep retrying an unreachable service before stopping."})
    pairs: str = field(default="best_worst", metadata={
        "help": "best_worst: one pair a prompt, its best against its worst; all: every (higher, lower) combination "
                "of its scored completions (more pairs from the same samples, e.g. to train a reward model)."})
    sft_min_score: float | None = field(default=None, metadata={
        "help": "Write an SFT row only when the best score reaches this (e.g. 1.0 with a verifier); default: always."})
    output_dir: str = field(default="runs/best-of-n", metadata={
        "help": "Folder for sft.jsonl, pairs.jsonl, samples.jsonl and summary.json."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace the output files of an earlier run in --output_dir."})
    run_config: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        from .sampling import BACKENDS

        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.pairs not in PAIRINGS:
            raise ConfigError(f"pairs must be one of {', '.join(PAIRINGS)}, got {self.pairs!r}")
        self.reward_args()  # a malformed --source or --source_options fails here, before any model loads
        self.sampling()

    def sampling(self) -> Any:
        from .sampling import SamplingSpec

        return SamplingSpec(n=self.n, temperature=self.temperature, top_p=self.top_p,
                            max_new_tokens=self.max_new_tokens, seed=self.seed, batch_size=self.batch_size)

    def reward_args(self) -> RefereeArgs:
        """The training scaffold's view of the data and reward flags (what `load_prompts` and the service read)."""
        return RefereeArgs(source=self.source, source_options=self.source_options, service_url=self.service_url,
                           service_settings=self.service_settings, api_key=self.api_key,
                           service_deadline=self.service_deadline, dataset=self.dataset,
                           dataset_split=self.dataset_split, prompt_column=self.prompt_column,
                           reference_column=self.reference_column, metadata_column=self.metadata_column,
                           system_prompt=self.system_prompt, max_examples=self.max_examples, heldout_size=0,
                           model_cache_dir=self.model_cache_dir)


def parse_best_of_n_args(argv: Sequence[str] | None = None) -> BestOfNArgs:
    (args,) = parse_config((BestOfNArgs,), {}, argv, prog="referee best-of-n",
                           usage="referee best-of-n [--config FILE.yaml] [--FLAG VALUE ...]",
                           description="Sample N completions per prompt, score them through the reward service, "
                           "write the best as SFT rows and (best, worst) as preference pairs. Flags take "
                           "underscores or hyphens.")
    return args


# --- Choosing the best and the worst -------------------------------------------------------------------------

def pick(scores: Sequence[Score]) -> tuple[int | None, int | None, str | None]:
    """(best, worst, why there is no pair) among one prompt's scores. Only scored completions compete; the
    first of equals wins, so the choice follows the (random) sampling order, not length or position."""
    scored = [(i, float(s.value)) for i, s in enumerate(scores) if s.value is not None]
    if not scored:
        return None, None, "all_unscored"
    best = max(scored, key=lambda t: t[1])[0]  # max/min return the first of equals
    worst = min(scored, key=lambda t: t[1])[0]
    if len(scored) < 2:
        return best, None, "one_scored"
    if scores[best].value == scores[worst].value:
        return best, None, "tie"
    return best, worst, None


def _prompt_of(messages: list[dict[str, str]]) -> str | list[dict[str, str]]:
    """A one-message user prompt as its text (TRL's standard form); a conversation as it is."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0]["content"]
    return messages


def _provenance(score: Score) -> dict[str, Any]:
    return score.model_dump(mode="json", exclude_none=True, exclude={"value"})


# --- The run -------------------------------------------------------------------------------------------------

def _check_outputs(out: Path, overwrite: bool) -> None:
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise ConfigError(f"{out} already holds {', '.join(existing)} of an earlier run; choose another --output_dir "
                          "or replace them with --overwrite true")


def _open_outputs(out: Path) -> dict[str, IO[str]]:
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # an earlier run's (--overwrite): gone before the new rows come
        (out / name).unlink(missing_ok=True)
    return {name: open(out / f"{name}.partial", "w", encoding="utf-8") for name in OUTPUT_FILES[:3]}


def run(args: BestOfNArgs) -> dict[str, Any]:
    """Samples, scores and writes as configured; returns the summary (also written to summary.json)."""
    from .data import load_prompts
    from .run import resolve_model, reward_client, samples_of, start_reward_service
    from .sampling import Sampler

    spec = args.sampling()
    scaffold = args.reward_args()
    source, options = scaffold.reward_spec()
    out = Path(args.output_dir)
    _check_outputs(out, args.overwrite)
    dataset, _ = load_prompts(scaffold, seed=args.seed)
    rows = dataset.to_list()
    model_path = resolve_model(args.model_name_or_path, args.model_cache_dir)
    if args.model_name_or_path == EMBEDDED:
        from referee.judges.embedded import embedded_model_id

        sampling = {"model": embedded_model_id(), **spec.provenance()}
    else:
        sampling = {"model": args.model_name_or_path, **spec.provenance()}

    unscored: Counter[str] = Counter()
    pairs_dropped: Counter[str] = Counter()
    sft_dropped: Counter[str] = Counter()
    counts = Counter[str]()
    values: list[float] = []
    with ExitStack() as stack:
        files = _open_outputs(out)
        for f in files.values():
            stack.callback(f.close)
        url = start_reward_service(stack, scaffold, out)
        client = stack.enter_context(reward_client(url, scaffold))
        sampler = Sampler(model_path, spec, backend=args.backend, dtype=args.dtype)
        # Prompts sampled, then scored in one call (about 128 completions), then written.
        chunk = spec.batch_size * max(1, 128 // (spec.batch_size * spec.n))
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            completions = sampler.sample([r["prompt"] for r in part], offset=start)
            flat_rows = [r for r, group in zip(part, completions, strict=True) for _ in group]
            flat = [c for group in completions for c in group]
            scores = client.score(source, samples_of(flat_rows, flat), options)
            for i, row in enumerate(part):
                group_scores = scores[i * spec.n : (i + 1) * spec.n]
                _write_prompt(files, row, completions[i], group_scores, args, sampling, counts, unscored,
                              pairs_dropped, sft_dropped, values)
            for f in files.values():
                f.flush()
            print(f"best-of-n: {min(start + chunk, len(rows))}/{len(rows)} prompts, {counts['pairs']} pairs",
                  file=sys.stderr)
    for name in OUTPUT_FILES[:3]:
        os.replace(out / f"{name}.partial", out / name)
    summary = {
        "prompts": len(rows), "completions": len(rows) * spec.n, "source": args.source,
        "unscored_completions": dict(unscored),
        "mean_score": statistics.fmean(values) if values else None,
        "pairs": counts["pairs"], "pair_prompts": counts["pair_prompts"], "pairing": args.pairs,
        "pairs_dropped": dict(pairs_dropped),
        "sft_rows": counts["sft"], "sft_dropped": dict(sft_dropped), "sampling": sampling,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _write_prompt(files: dict[str, IO[str]], row: dict[str, Any], completions: list[str], scores: list[Score],
                  args: BestOfNArgs, sampling: dict[str, Any], counts: Counter[str], unscored: Counter[str],
                  pairs_dropped: Counter[str], sft_dropped: Counter[str], values: list[float]) -> None:
    prompt = _prompt_of(row["prompt"])
    common: dict[str, Any] = {"reference": row["reference"]}
    metadata = json.loads(row["metadata"]) if row.get("metadata") else {}
    if metadata:
        common["metadata"] = metadata
    for completion, score in zip(completions, scores, strict=True):
        if score.value is None:
            unscored[score.reason.value if score.reason else "unknown"] += 1
        else:
            values.append(float(score.value))
        files["samples.jsonl"].write(json.dumps({"prompt": prompt, "completion": completion, "score": score.value,
                                                 **common, "provenance": _provenance(score),
                                                 "sampling": sampling}, ensure_ascii=False) + "\n")
    best, worst, why = pick(scores)
    if best is None:
        sft_dropped["all_unscored"] += 1
    elif args.sft_min_score is not None and float(scores[best].value or 0.0) < args.sft_min_score:
        sft_dropped["below_min_score"] += 1
    else:
        counts["sft"] += 1
        files["sft.jsonl"].write(json.dumps({
            "prompt": prompt, "completion": completions[best], "score": scores[best].value, **common,
            "provenance": _provenance(scores[best]), "sampling": sampling}, ensure_ascii=False) + "\n")
    if why is not None:
        pairs_dropped[why] += 1
        return
    assert best is not None and worst is not None
    # The same text scored twice differently (a sampled judge) is no preference: `rm train` and DPO refuse it.
    pairs = [(hi, lo) for hi, lo in (_every_pair(scores) if args.pairs == "all" else [(best, worst)])
             if completions[hi] != completions[lo]]
    if not pairs:
        pairs_dropped["identical"] += 1
        return
    counts["pair_prompts"] += 1
    for hi, lo in pairs:
        counts["pairs"] += 1
        files["pairs.jsonl"].write(json.dumps({
            "prompt": prompt, "chosen": completions[hi], "rejected": completions[lo],
            "score_chosen": scores[hi].value, "score_rejected": scores[lo].value, **common,
            "provenance": {"chosen": _provenance(scores[hi]), "rejected": _provenance(scores[lo])},
            "sampling": sampling}, ensure_ascii=False) + "\n")


def _every_pair(scores: Sequence[Score]) -> list[tuple[int, int]]:
    """Every (i, j) with score i above score j, in sampling order; unscored completions take no part."""
    return [(i, j) for i, a in enumerate(scores) for j, b in enumerate(scores)
            if a.value is not None and b.value is not None and float(a.value) > float(b.value)]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m referee.trainer.best_of_n`: one line on error (exit code 2)."""
    try:
        summary = run(parse_best_of_n_args(argv))
    except RefereeError as exc:
        print("referee best-of-n: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(report(summary))
    return 0


def report(summary: dict[str, Any]) -> str:
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(summary["pairs_dropped"].items())) or "none"
    sft_dropped = ", ".join(f"{k}: {v}" for k, v in sorted(summary["sft_dropped"].items())) or "none"
    unscored = sum(summary["unscored_completions"].values())
    return (f"{summary['pairs']} pairs from {summary['pair_prompts']} of {summary['prompts']} prompts "
            f"(prompts without a pair: {dropped}); "
            f"{summary['sft_rows']} SFT rows (dropped: {sft_dropped}); {unscored} of {summary['completions']} "
            "completions unscored")


if __name__ == "__main__":
    sys.exit(main())
