"""Fingerprints of a model folder: reward models are versioned by content, like constitutions.

A fingerprint is the sha256 of the `sha256sum` listing of the files it covers, sorted by name, so it can
be checked by hand:

    cd DIR && sha256sum $(ls *.safetensors | sort) | sha256sum        # weights_sha256 (safetensors only)

- `weights_sha256`: the weight files at the top of the folder (`*.safetensors`, `*.bin`, `*.pt`, `*.pth`).
- `tokenizer_sha256`: the tokenizer's files (vocabulary, merges, config, special tokens, chat template).
- `text_sha256`: of one string, e.g. the chat template actually applied.

Hashing reads every byte (about a second per 500 MB): the source computes these once per process, when
it loads the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from referee.verifiers import ConfigError

__all__ = ["TOKENIZER_FILES", "WEIGHT_SUFFIXES", "listing_sha256", "text_sha256", "tokenizer_sha256",
           "weights_sha256"]

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json")


def listing_sha256(files: Iterable[Path]) -> str:
    """sha256 of the lines `<sha256 of the file>  <name>\\n`, in name order (what `sha256sum` prints)."""
    lines = []
    for path in sorted(files, key=lambda p: p.name):
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        lines.append(f"{digest}  {path.name}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def weights_sha256(folder: Path) -> str:
    files = [p for p in Path(folder).iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    if not files:
        raise ConfigError(f"model folder {folder} holds no weight files ({', '.join(WEIGHT_SUFFIXES)}); "
                          "give a folder written by save_pretrained")
    return listing_sha256(files)


def tokenizer_sha256(folder: Path) -> str:
    return listing_sha256(p for name in TOKENIZER_FILES if (p := Path(folder) / name).is_file())


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
