"""Constitutional revisions, the supervised phase of Constitutional AI (Bai et al. 2022): critique a completion
against the principles of a constitution, revise it, and keep the final revision as an SFT row.

    referee revise --data rows.jsonl --constitution hhh --output_dir runs/revise
    referee revise --data prompts.jsonl --constitution concise@1 --num_principles 2 --max_new_tokens 192
    referee revise --data rows.jsonl --judge_backend '{"kind": "openai", "openai": {"base_url": "http://127.0.0.1:8000/v1"}}'
    referee revise --config revise.yaml                      # YAML first, flags override it

Input (`--data`, JSONL): one `{prompt, completion}` per line, or `{prompt}` alone, in which case the model first
writes the completion itself (the paper's setting: the model revises its own answers). Then for each
principle, in turn, a critique-revision step on the conversation [user: prompt, assistant: current reply]:

1. critique request: "identify specific ways in which your last reply falls short of this principle: ...";
2. revision request: "rewrite your last reply so that it follows that principle ...", and the reply it gets
   becomes the current reply of the next step.

Which principles: every principle of the constitution, in file order (the default), or with `--num_principles
K`, K distinct principles drawn uniformly per row (seeded by `--seed` and the row's number), as the paper
draws a principle per step. Each step sees the prompt and the current reply only, not earlier critiques: a
small model's context stays short and each critique is about the reply as it now stands.

The model is the judges' backend (`referee.judges.backends`): the local transformers backend over the embedded
SmolLM2-135M-Instruct by default (`--model_name_or_path` for another folder), or an OpenAI-compatible server
(`--judge_backend`). Generation is greedy, as the judges' is, so a run is reproducible. The requests are the
template `referee.judges/templates/revise.v1.txt`; the policy's text is neutralised as for judging.

A degenerate revision never replaces the reply: an empty one, one that repeats a request (or the principle,
or the critique), one equal to the reply it revises, or a step whose generation failed. The step is kept in
the chain with the reason, the reply carries on unchanged, and `summary.json` counts the reasons. A prompt
whose own completion comes back empty or fails is dropped and counted.

Output in `--output_dir`: `sft.jsonl`, rows `{prompt, completion}` (the final revision) with `original`,
`revised`, the `chain` of steps and `provenance` (constitution name, version, sha256, the model, the template
and the sampling settings) on every row, and `summary.json`. Rows go to `sft.jsonl.partial` as each batch
finishes, renamed when the run ends, so an interrupted run leaves its finished rows and no file that looks
complete. Bad input stops the run before any model loads, with one line naming the row.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from referee.verifiers import ConfigError, RefereeError, format_validation_error

from .config import EMBEDDED
from .parser import parse_config
from .prefdata import read_raw_rows

if TYPE_CHECKING:
    from referee.judges import Constitution, Principle
    from referee.judges.backends import Backend, BackendConfig
    from referee.judges.prompts import Template

__all__ = ["OUTPUT_FILES", "ReviseArgs", "keep_reason", "main", "parse_revise_args", "read_revise_rows", "report",
           "run"]

OUTPUT_FILES = ("sft.jsonl", "summary.json")
TEMPLATE = "revise.v1"
_FORM = "a row is {prompt, completion} or {prompt} (the model writes the completion first)"
_WORDS = re.compile(r"\w+")


@dataclass
class ReviseArgs:
    """Flags of `referee revise`: the rows, the constitution, the model, and the output folder."""

    data: str | None = field(default=None, metadata={
        "help": "JSONL of {prompt, completion} rows, or {prompt} rows (the model writes the completion first)."})
    constitution: str = field(default="hhh", metadata={"help": "NAME (latest version) or NAME@VERSION."})
    constitution_dir: list[str] = field(default_factory=list, metadata={
        "help": "Also look in these folders for <name>/v<N>.md, after ./constitutions and $REFEREE_CONSTITUTION_DIRS."})
    num_principles: int | None = field(default=None, metadata={
        "help": "Principles per row, drawn at random (seeded); default: every principle, in file order."})
    seed: int = field(default=0, metadata={"help": "Seed of the principles drawn per row (--num_principles)."})
    model_name_or_path: str = field(default=EMBEDDED, metadata={
        "help": "The local model: a transformers folder, or 'embedded' (SmolLM2-135M-Instruct)."})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "Where the embedded model is materialised; default: $REFEREE_CACHE or ~/.cache/referee."})
    device: str = field(default="cpu", metadata={"help": "torch device of the local model, e.g. cpu or cuda:0."})
    judge_backend: dict[str, Any] | str | None = field(default=None, metadata={
        "help": "JSON object of the judges' backend config, e.g. {\"kind\": \"openai\", \"openai\": {\"base_url\": "
                "...}}; default: the local backend."})
    max_new_tokens: int = field(default=256, metadata={
        "help": "Most tokens generated per completion, critique or revision (greedy)."})
    batch_size: int = field(default=8, metadata={"help": "Rows revised together (one generation batch per step)."})
    max_chars: int = field(default=16_000, metadata={
        "help": "Longest prompt or completion accepted, in characters; a longer one is an error naming its row."})
    max_rows: int | None = field(default=None, metadata={"help": "Revise at most this many rows."})
    output_dir: str = field(default="runs/revise", metadata={"help": "Folder for sft.jsonl and summary.json."})
    overwrite: bool = field(default=False, metadata={"help": "Replace the output files of an earlier run."})

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size", "max_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.num_principles is not None and self.num_principles < 1:
            raise ConfigError(f"--num_principles must be >= 1 (or unset: every principle), got {self.num_principles}")
        if self.max_rows is not None and self.max_rows < 1:
            raise ConfigError(f"--max_rows must be >= 1, got {self.max_rows}")
        if isinstance(self.judge_backend, str):
            try:
                self.judge_backend = json.loads(self.judge_backend)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--judge_backend must be a JSON object, got {self.judge_backend!r}: {exc}") from exc
        if self.judge_backend is not None and not isinstance(self.judge_backend, dict):
            raise ConfigError(f"--judge_backend must be a JSON object, got {self.judge_backend!r}")
        self.backend_config()

    def backend_config(self) -> BackendConfig:
        """The judges' backend: `--judge_backend`, with `--model_name_or_path` and `--device` for a local one."""
        from referee.judges.backends import BackendConfig

        try:
            config = BackendConfig.model_validate(self.judge_backend or {})
        except ValidationError as exc:
            raise ConfigError(f"--judge_backend: {format_validation_error(exc)}") from exc
        if config.kind != "local":
            if self.model_name_or_path != EMBEDDED:
                raise ConfigError(f"--model_name_or_path is for the local backend; with --judge_backend kind "
                                  f"{config.kind} the server's model is {config.openai.model!r} (openai.model)")
            return config
        local = config.local.model_copy(update={
            "model": None if self.model_name_or_path == EMBEDDED else self.model_name_or_path,
            "device": self.device, "batch_size": self.batch_size})
        return config.model_copy(update={"local": local})


def parse_revise_args(argv: Sequence[str] | None = None) -> ReviseArgs:
    (args,) = parse_config((ReviseArgs,), {}, argv, prog="referee revise",
                           usage="referee revise --data FILE.jsonl [--config FILE.yaml] [--FLAG VALUE ...]",
                           description="Critique each completion against the principles of a constitution and "
                           "revise it (Constitutional AI, supervised phase); write the revisions as SFT rows. "
                           "Flags take underscores or hyphens.")
    return args


# --- Input rows ----------------------------------------------------------------------------------------------

def read_revise_rows(spec: str | None, max_chars: int) -> list[tuple[str, str, str | None]]:
    """(where, prompt, completion or None) for each row of `spec`; a bad row is an error naming it."""
    if not spec:
        raise ConfigError(f"give --data FILE.jsonl; {_FORM}")
    out = []
    for where, row in read_raw_rows(spec):
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(row).__name__}; {_FORM}")
        texts: dict[str, str | None] = {"prompt": None, "completion": None}
        for key in texts:
            value = row.get(key)
            if value is None:
                if key == "prompt":
                    raise ConfigError(f"{where}: missing 'prompt'; {_FORM}")
                continue
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {key!r} must be text, got {type(value).__name__} {value!r:.80}; {_FORM}")
            if len(value) > max_chars:  # before any text processing
                raise ConfigError(f"{where}: {key!r} has {len(value)} characters, more than --max_chars {max_chars}; "
                                  "shorten it, drop the row or raise --max_chars")
            if not value.strip():
                raise ConfigError(f"{where}: {key!r} is empty; drop the row, give the text, or (completion) leave "
                                  "the key out to have the model write it")
            texts[key] = value
        assert texts["prompt"] is not None
        out.append((where, texts["prompt"], texts["completion"]))
    if not out:
        raise ConfigError(f"--data {spec!r} has no rows; {_FORM}")
    return out


# --- Principles and degenerate revisions ---------------------------------------------------------------------

def principles_for(constitution: Constitution, num: int | None, seed: int, index: int) -> list[Principle]:
    """Every principle in file order, or `num` distinct ones drawn uniformly for row `index`."""
    if num is None:
        return list(constitution.principles)
    return random.Random(f"{seed}:{index}").sample(list(constitution.principles), num)


def _norm(text: str) -> str:
    """Lower-case words separated by one space: compares texts regardless of punctuation and spacing."""
    return " ".join(_WORDS.findall(text.lower()))


def keep_reason(revision: str, current: str, critique: str, requests: Sequence[str]) -> str | None:
    """Why `revision` must not replace `current`, or None when it may: `empty_revision`; `echoes_request` (it
    is part of a request, or repeats a line of one: the principle, the instruction); `echoes_critique`;
    `unchanged`. Plain substring tests on normalised text: linear, whatever the model wrote."""
    r = _norm(revision)
    if not r:
        return "empty_revision"
    padded = f" {r} "  # whole words: "no" is not inside "nothing"
    for request in requests:
        lines = [_norm(line) for line in request.splitlines()]
        if padded in f" {_norm(request)} " or any(len(line.split()) >= 5 and f" {line} " in padded for line in lines):
            return "echoes_request"
    c = _norm(critique)
    # A revision may adopt the fix its critique quoted; it echoes the critique only when the two mostly coincide.
    if c and (padded in f" {c} " or f" {c} " in padded) and min(len(r), len(c)) >= 0.8 * max(len(r), len(c)):
        return "echoes_critique"
    if r == _norm(current):
        return "unchanged"
    return None


# --- The run -------------------------------------------------------------------------------------------------

def _check_outputs(out: Path, overwrite: bool) -> None:
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise ConfigError(f"{out} already holds {', '.join(existing)} of an earlier run; choose another --output_dir "
                          "or replace them with --overwrite true")


def _constitution(library: Any, ref: str, dirs: Sequence[Path]) -> Constitution:
    from importlib.resources import files

    from referee.judges import ConstitutionNotFound
    from referee.judges.library import PACKAGE

    try:
        constitution: Constitution = library.get(ref)
    except ConstitutionNotFound as exc:
        looked = ", ".join([f"the shipped constitutions ({files(PACKAGE)})", *(str(d) for d in dirs)])
        raise ConstitutionNotFound(f"--constitution {ref!r}: {exc}; looked in: {looked}; add the folder holding "
                                   "<name>/v<N>.md with --constitution_dir DIR or $REFEREE_CONSTITUTION_DIRS") from exc
    return constitution


@dataclass
class _Row:
    index: int
    prompt: str
    original: str | None
    principles: list[Principle]
    current: str = ""
    chain: list[dict[str, Any]] = field(default_factory=list)


class _Reviser:
    """One run's backend, constitution, template and tallies."""

    def __init__(self, args: ReviseArgs, backend: Backend, constitution: Constitution, released: bool) -> None:
        from referee.judges.prompts import load_template

        self.args = args
        self.backend = backend
        self.template: Template = load_template(TEMPLATE)
        self.kept: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []  # the backend's failures in the current batch
        model = backend.provenance()
        sampling = {**model.pop("sampling", {}), "max_new_tokens": args.max_new_tokens,
                    "num_principles": args.num_principles, "seed": args.seed}
        self.provenance = {"constitution": constitution.name, "constitution_version": constitution.version,
                           "constitution_sha256": constitution.sha256, "constitution_ref": constitution.ref,
                           "released": released, **model, "template": self.template.ref,
                           "template_sha256": self.template.sha256, "sampling": sampling}

    async def _generate(self, conversations: list[list[dict[str, str]]]) -> list[str | Exception]:
        prompts = [self.backend.chat(c) for c in conversations]
        replies = await self.backend.generate(prompts, self.args.max_new_tokens)
        self.errors += [f"{type(r).__name__}: {' '.join(str(r).split())}" for r in replies if isinstance(r, Exception)]
        return [r if isinstance(r, Exception) else r.strip() for r in replies]

    async def revise_batch(self, rows: list[_Row]) -> list[_Row]:
        """The rows with their completion written (if missing) and revised; rows that got none are left out."""
        from referee.judges.neutralise import neutralise

        batch, self.errors = len(rows), []
        todo = [r for r in rows if r.original is None]
        for row, reply in zip(todo, await self._generate([[{"role": "user", "content": neutralise(r.prompt)}]
                                                          for r in todo]), strict=True):
            if isinstance(reply, Exception) or not reply:
                self.dropped["no_completion" if not isinstance(reply, Exception) else "backend_error"] += 1
            else:
                row.original = reply
                self.counts["completions_generated"] += 1
        rows = [r for r in rows if r.original is not None]
        for r in rows:
            r.current = r.original or ""
        for step in range(max((len(r.principles) for r in rows), default=0)):
            active = [r for r in rows if step < len(r.principles)]
            steps = [self._requests(r.principles[step]) for r in active]
            base = [[{"role": "user", "content": neutralise(r.prompt)},
                     {"role": "assistant", "content": neutralise(r.current)}] for r in active]
            critiques = await self._generate([[*b, {"role": "user", "content": s[0]}]
                                              for b, s in zip(base, steps, strict=True)])
            ok = [i for i, c in enumerate(critiques) if not isinstance(c, Exception)]
            revisions = dict(zip(ok, await self._generate([
                [*base[i], {"role": "user", "content": steps[i][0]},
                 {"role": "assistant", "content": neutralise(str(critiques[i]))},
                 {"role": "user", "content": steps[i][1]}] for i in ok]), strict=True))
            for i, row in enumerate(active):
                link: dict[str, Any] = {"principle": row.principles[step].id, "critique_request": steps[i][0],
                                        "critique": None, "revision_request": steps[i][1], "revision": None}
                revision = revisions.get(i, critiques[i])
                if isinstance(revision, Exception):
                    link.update(kept="backend_error", error=" ".join(str(revision).split()))
                else:
                    critique = str(critiques[i])
                    link.update(critique=critique, revision=revision,
                                kept=keep_reason(revision, row.current, critique, steps[i]))
                    if link["kept"] is None:
                        row.current = revision
                if link["kept"] is not None:
                    self.kept[link["kept"]] += 1
                self.counts["steps"] += 1
                row.chain.append(link)
        failed = {id(r) for r in rows if r.chain and all(link["kept"] == "backend_error" for link in r.chain)}
        self.dropped["backend_error"] += len(failed)
        kept = [r for r in rows if id(r) not in failed]
        if not kept and self.errors:
            from .run import TrainingError

            raise TrainingError(f"the model backend failed every generation for a batch of {batch} rows "
                                f"({self.errors[-1]}); nothing of the batch was written. Check the backend "
                                "(--judge_backend, --model_name_or_path) and run again")
        return kept

    def _requests(self, principle: Principle) -> tuple[str, str]:
        return (self.template.render("critique", {"principle": principle.text}),
                self.template.render("revision", {"principle": principle.text}))

    def row(self, r: _Row) -> dict[str, Any]:
        revised = r.current != r.original
        self.counts["revised" if revised else "unrevised"] += 1
        return {"prompt": r.prompt, "completion": r.current, "original": r.original, "revised": revised,
                "chain": r.chain, "provenance": self.provenance}


class _Partial:
    """`<name>.partial`, created when the first rows arrive, renamed to `<name>` by `finish`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._file: IO[str] | None = None

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.partial, "w", encoding="utf-8")
        return self._file

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        f = self._open()
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        f.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def finish(self) -> None:
        self._open()
        self.close()
        os.replace(self.partial, self.path)


async def _run(args: ReviseArgs, todo: list[tuple[str, str, str | None]], sink: _Partial) -> dict[str, Any]:
    from referee.judges import (
        JudgeEnvironment,
        cache_dir,
        configure_judges,
        constitution_dirs,
        constitution_library,
        env_constitution_dirs,
    )
    from referee.judges.backends import open_backend
    from referee.verifiers import Runtime

    dirs = constitution_dirs([*env_constitution_dirs(), *args.constitution_dir])
    async with Runtime(workers=1, preload=()) as rt:
        configure_judges(rt, JudgeEnvironment(cache_dir=cache_dir(args.model_cache_dir), constitution_dirs=dirs))
        library = constitution_library(rt)
        constitution = _constitution(library, args.constitution, dirs)
        count = len(constitution.principles)
        if args.num_principles is not None and args.num_principles > count:
            raise ConfigError(f"--num_principles {args.num_principles}, but {constitution.ref} has {count} principles "
                              f"({', '.join(p.id for p in constitution.principles)}); give at most {count}")
        try:
            backend = await open_backend(args.backend_config(), rt)
        except RefereeError:
            raise
        except Exception as exc:  # a missing folder, a broken checkpoint: one line naming the model
            raise ConfigError(f"the model {args.model_name_or_path!r} could not be loaded: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())}") from exc
        reviser = _Reviser(args, backend, constitution, library.is_released(constitution))
        for start in range(0, len(todo), args.batch_size):
            batch = [_Row(start + i, prompt, completion,
                          principles_for(constitution, args.num_principles, args.seed, start + i))
                     for i, (_, prompt, completion) in enumerate(todo[start : start + args.batch_size])]
            sink.write([reviser.row(row) for row in await reviser.revise_batch(batch)])
            print(f"revise: {min(start + args.batch_size, len(todo))}/{len(todo)} rows", file=sys.stderr)
    c = reviser.counts
    return {"rows": len(todo), "written": c["revised"] + c["unrevised"], "revised": c["revised"],
            "unrevised": c["unrevised"], "completions_generated": c["completions_generated"],
            "rows_dropped": dict(reviser.dropped), "steps": c["steps"], "steps_kept_original": dict(reviser.kept),
            "provenance": reviser.provenance}


def run(args: ReviseArgs) -> dict[str, Any]:
    """Critiques and revises as configured; returns the summary (also written to summary.json)."""
    out = Path(args.output_dir)
    _check_outputs(out, args.overwrite)
    rows = read_revise_rows(args.data, args.max_chars)[: args.max_rows]
    for name in OUTPUT_FILES:  # an earlier run's (--overwrite): gone before the new rows come
        (out / name).unlink(missing_ok=True)
    sink = _Partial(out / "sft.jsonl")
    try:
        summary = asyncio.run(_run(args, rows, sink))
    finally:
        sink.close()
    sink.finish()
    partial = out / "summary.json.partial"
    partial.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(partial, out / "summary.json")
    return summary


def report(summary: dict[str, Any]) -> str:
    kept = ", ".join(f"{k}: {v}" for k, v in sorted(summary["steps_kept_original"].items())) or "none"
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(summary["rows_dropped"].items())) or "none"
    held = sum(summary["steps_kept_original"].values())
    return (f"wrote {summary['written']} of {summary['rows']} rows, {summary['revised']} revised (dropped: {dropped}); "
            f"{summary['steps']} critique-revision steps, the reply kept in {held} ({kept})")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m referee.trainer.revise`: one line on error (exit code 2)."""
    try:
        summary = run(parse_revise_args(argv))
    except RefereeError as exc:
        print("referee revise: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(report(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
