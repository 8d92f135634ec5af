"""A reward model folder, opened and checked once: config, tokenizer, manifest and fingerprints.

The folder must be what `save_pretrained` writes for a `transformers` `AutoModelForSequenceClassification`
with one output (`num_labels: 1`), plus its tokenizer; `referee rm train` writes exactly that, with the
manifest. Checked here, before any weights are loaded, so a wrong folder is an error at start-up naming
what is wrong:

- `config.json` names a `*ForSequenceClassification` architecture (a causal LM folder would load with a
  freshly initialised, random score head: rewards that mean nothing) with `num_labels` 1;
- the tokenizer loads; `pad_id` is the model's `pad_token_id`, else the tokenizer's pad token, else its EOS
  (TRL's rule), since the model finds each row's last token by looking for padding;
- the context (`max_position_embeddings`) is known;
- a manifest, if present, parses and describes these weights (`weights_sha256` matches).

Loading weights (`local.py`) or calling a server (`http.py`) comes after; both read token ids made here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referee.verifiers import ConfigError

from .fingerprint import text_sha256, tokenizer_sha256, weights_sha256
from .formatting import template_of
from .manifest import MANIFEST_NAME, RewardModelManifest, read_manifest

__all__ = ["RewardModelFolder", "open_folder"]

_HUGE = 10**9  # tokenizers without a declared limit report model_max_length as ~1e30


@dataclass(frozen=True)
class RewardModelFolder:
    path: Path
    tokenizer: Any
    architecture: str
    context: int
    """The most tokens the model takes (its position embeddings, or the tokenizer's limit if lower)."""
    pad_id: int
    manifest: RewardModelManifest | None
    weights_sha256: str
    tokenizer_sha256: str
    chat_template_sha256: str | None
    """sha256 of the chat template applied; None when the plain `prompt + completion + EOS` format is used."""
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    """Held while tokenizing: a fast tokenizer's state is not safe to share between threads."""

    def provenance(self) -> dict[str, Any]:
        return {"model": self.path.name, "architecture": self.architecture, "weights_sha256": self.weights_sha256,
                "tokenizer_sha256": self.tokenizer_sha256, "chat_template_sha256": self.chat_template_sha256,
                "format": "chat_template" if self.chat_template_sha256 else "plain+eos",
                "manifest": MANIFEST_NAME if self.manifest is not None else None}


def open_folder(path: Path) -> RewardModelFolder:
    """Open and check `path` (slow: reads the tokenizer and hashes every weight file). Raises ConfigError."""
    from transformers import AutoConfig, AutoTokenizer

    if not path.is_dir():
        raise ConfigError(f"reward model folder {path} does not exist or is not a folder; set source_options "
                          "reward_model.model to a folder written by save_pretrained (e.g. by `referee rm train`)")
    if not (path / "config.json").is_file():
        raise ConfigError(f"reward model folder {path} has no config.json; give a folder written by save_pretrained")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise ConfigError(f"cannot read {path / 'config.json'}: {type(exc).__name__}: {exc}") from exc
    architectures = list(getattr(config, "architectures", None) or [])
    classifier = next((a for a in architectures if a.endswith("ForSequenceClassification")), None)
    if classifier is None:
        raise ConfigError(
            f"{path} holds a {', '.join(architectures) or 'model of unnamed architecture'}, not a sequence classifier: "
            "a reward model is an AutoModelForSequenceClassification with one output (loading any other model as "
            "one would add a random score head). Train one with `referee rm train`, or give such a folder")
    if config.num_labels != 1:
        raise ConfigError(f"{path} is a {classifier} with {config.num_labels} outputs (num_labels); a reward model "
                          "has exactly one, its scalar reward")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer in {path}: {type(exc).__name__}: {exc}; save the tokenizer "
                          "into the model folder (tokenizer.save_pretrained)") from exc
    pad_id = _pad_id(config, tokenizer)
    if pad_id is None:
        raise ConfigError(f"{path}: neither the model config nor the tokenizer defines a pad or EOS token, so rows "
                          "of different lengths cannot be batched; set pad_token_id in config.json")
    context = min(n for n in (getattr(config, "max_position_embeddings", None) or _HUGE,
                              getattr(tokenizer, "model_max_length", None) or _HUGE))
    if context >= _HUGE:
        raise ConfigError(f"{path}: the model's context length is unknown (no max_position_embeddings in config.json)")
    manifest = read_manifest(path)
    weights = weights_sha256(path)
    if manifest is not None and manifest.weights_sha256 != weights:
        raise ConfigError(
            f"{path / MANIFEST_NAME} describes weights with sha256 {manifest.weights_sha256[:12]}..., but the folder's "
            f"weights have {weights[:12]}...: they were changed after training, so its statistics are not theirs. "
            "Retrain, or remove the manifest to serve raw rewards only")
    template = template_of(tokenizer)
    return RewardModelFolder(path=path, tokenizer=tokenizer, architecture=classifier, context=int(context),
                             pad_id=pad_id, manifest=manifest, weights_sha256=weights,
                             tokenizer_sha256=tokenizer_sha256(path),
                             chat_template_sha256=text_sha256(template) if template is not None else None)


def _pad_id(config: Any, tokenizer: Any) -> int | None:
    for candidate in (getattr(config, "pad_token_id", None), tokenizer.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, int):
            return candidate
    return None
