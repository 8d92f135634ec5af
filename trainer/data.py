"""Prompt datasets for training: built-in sets or local files, mapped onto the columns the trainer uses.

    train, heldout = load_prompts(args, seed=0)

Every dataset comes out with the columns `prompt` (a conversation: an optional system message and the user
message), `reference` (text or None) and `metadata` (a dict), whatever its columns were called
(`--prompt_column`, `--reference_column`, `--metadata_column`). Sources: a built-in name (see
`referee.trainer.datasets`), a `.jsonl`/`.json`/`.parquet` file, or a folder written by
`Dataset.save_to_disk`. Nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError

from .config import RefereeArgs
from .datasets import BUILTIN_DATASETS, builtin_rows

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["load_prompts", "read_rows", "to_messages"]


def read_rows(spec: str, *, split: str = "train") -> list[dict[str, Any]]:
    """The raw rows of a local file or saved dataset `spec`."""
    import datasets

    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"dataset {spec!r} is neither a built-in set ({', '.join(BUILTIN_DATASETS)}) nor an "
                          f"existing file or folder; give a .jsonl, .json or .parquet file or a saved dataset")
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ConfigError(f"saved dataset {spec!r} has no split {split!r}; it has: {', '.join(loaded)}")
            loaded = loaded[split]
    else:
        kinds = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
        kind = kinds.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"cannot read {spec!r}: expected a .jsonl, .json or .parquet file or a saved dataset")
        loaded = datasets.load_dataset(kind, data_files=str(path), split="train")
    return [dict(row) for row in loaded]


def to_messages(prompt: Any, system_prompt: str | None = None) -> list[dict[str, str]]:
    """A prompt as a conversation: text becomes one user message; a conversation is kept as it is."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(m, Mapping) and "role" in m for m in prompt):
        messages = [dict(m) for m in prompt]
    else:
        raise ConfigError(f"a prompt must be text or a list of {{role, content}} messages, got {prompt!r:.200}")
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def _map_row(row: Mapping[str, Any], args: RefereeArgs, where: str) -> dict[str, Any]:
    if args.prompt_column not in row:
        raise ConfigError(f"{where} has no prompt column {args.prompt_column!r}; columns: {', '.join(row)}; "
                          f"set --prompt_column")
    ref = row.get(args.reference_column) if args.reference_column else None
    meta = row.get(args.metadata_column) if args.metadata_column else None
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.strip() else None
    if meta is not None and not isinstance(meta, Mapping):
        raise ConfigError(f"{where}: column {args.metadata_column!r} must hold dicts (or JSON objects), got "
                          f"{meta!r:.100}")
    # Metadata goes through as JSON text: Arrow would widen dicts with different keys into one struct,
    # adding None for every key a row lacks.
    return {"prompt": to_messages(row[args.prompt_column], args.system_prompt),
            "reference": None if ref is None else str(ref),
            "metadata": json.dumps(dict(meta or {}))}


def load_prompts(args: RefereeArgs, seed: int = 0) -> tuple[Dataset, list[dict[str, Any]]]:
    """The training dataset and the held-out rows (same columns), as `args` describes them."""
    from datasets import Dataset

    if args.dataset in BUILTIN_DATASETS:
        rows = builtin_rows(args.dataset, "train", args.max_examples, seed)
        heldout = builtin_rows(args.dataset, "heldout", args.heldout_size, seed) if args.heldout_size else []
    else:
        rows = read_rows(args.dataset, split=args.dataset_split)
        heldout = []
        if args.heldout_dataset is None and args.heldout_size:
            if len(rows) <= args.heldout_size:
                raise ConfigError(f"dataset {args.dataset!r} has {len(rows)} rows, not enough to hold out "
                                  f"{args.heldout_size}; set --heldout_size smaller or give --heldout_dataset")
            import random

            order = list(range(len(rows)))
            random.Random(seed).shuffle(order)
            chosen = set(order[: args.heldout_size])
            heldout = [r for i, r in enumerate(rows) if i in chosen]
            rows = [r for i, r in enumerate(rows) if i not in chosen]
        if args.max_examples is not None:
            rows = rows[: args.max_examples]
    if args.heldout_dataset is not None:
        if args.heldout_dataset in BUILTIN_DATASETS:
            heldout = builtin_rows(args.heldout_dataset, "heldout", args.heldout_size, seed)
        else:
            heldout = read_rows(args.heldout_dataset)[: args.heldout_size]
    if not rows:
        raise ConfigError(f"dataset {args.dataset!r} has no rows to train on")
    train = [_map_row(r, args, f"dataset {args.dataset!r}") for r in rows]
    held = [_map_row(r, args, f"held-out dataset {args.heldout_dataset or args.dataset!r}") for r in heldout]
    return Dataset.from_list(train), held
