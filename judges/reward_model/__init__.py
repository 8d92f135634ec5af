"""Learned reward models as a reward source: any 1-output `AutoModelForSequenceClassification` folder.

    from referee.judges.reward_model import RewardModel, RewardModelConfig
    async with Runtime() as rt:
        rm = RewardModel(RewardModelConfig(model="/models/my-rm"), rt)
        scores = await rm.score([Sample(prompt="...", completion="...")])
        comparisons = await rm.compare([Pair(prompt="...", a="...", b="...")])

- `source`: the `reward_model` source (options, provenance, `compare`).
- `formatting`: `reward_input_ids`, the one formatting of (prompt, completion) used to train and to serve.
- `manifest`: `referee_reward_model.json`, what training records (data, eval, normalisation statistics).
- `fingerprint`: sha256 of the weights and tokenizer files.
- `folder`: opening and checking a model folder; `local`: transformers in-process; `http_backend`: vLLM.

Nothing here imports torch or transformers until a model is opened.
"""

from .fingerprint import text_sha256, tokenizer_sha256, weights_sha256
from .formatting import Fitted, Truncation, fit, reward_input_ids, reward_messages
from .manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    DataRecord,
    EvalRecord,
    Normalization,
    RewardModelManifest,
    TrainingRecord,
    read_manifest,
    write_manifest,
)
from .source import ORDER_SWAP, LocalOptions, RewardBackendConfig, RewardModel, RewardModelConfig

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "ORDER_SWAP",
    "DataRecord",
    "EvalRecord",
    "Fitted",
    "LocalOptions",
    "Normalization",
    "RewardBackendConfig",
    "RewardModel",
    "RewardModelConfig",
    "RewardModelManifest",
    "TrainingRecord",
    "Truncation",
    "fit",
    "read_manifest",
    "reward_input_ids",
    "reward_messages",
    "text_sha256",
    "tokenizer_sha256",
    "weights_sha256",
    "write_manifest",
]
