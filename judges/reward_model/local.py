"""The local backend: the reward model's weights in this process, on CUDA when present, else CPU.

One `LocalRewardModel` per (folder, device) lives in the runtime, shared by every `reward_model` source
instance; its lock runs one forward pass at a time, in a thread off the event loop (concurrent passes would
only fight over the same cores). Rows are right-padded, as TRL's `DataCollatorForPreference` pads them in
training, and the model reads its reward at each row's last non-pad token (transformers'
`*ForSequenceClassification` pooling). Causal attention makes a row's reward independent of the padding
and of its batch neighbours, up to floating-point rounding.

`plan_batches` groups rows longest first so that a batch's padded size (rows x longest row) stays within a
token budget: long rows go a few at a time, short ones many at a time, and little compute is spent on
padding. torch and transformers are imported here and in `folder.py` only.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from typing import Any

from referee.verifiers import ConfigError

from ..errors import BackendError
from .folder import RewardModelFolder

__all__ = ["LocalRewardBackend", "LocalRewardModel", "plan_batches", "resolve_device"]


def resolve_device(device: str) -> str:
    """`auto` is the first CUDA device when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


class LocalRewardModel:
    """A 1-output sequence classifier loaded from `folder` onto `device`, in inference mode."""

    def __init__(self, folder: RewardModelFolder, device: str) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        self.folder = folder
        self.device = torch.device(resolve_device(device))
        # float32 on CPU (half precision is slow there and changes rewards); the checkpoint's own dtype on GPU.
        dtype: Any = torch.float32 if self.device.type == "cpu" else "auto"
        model, info = AutoModelForSequenceClassification.from_pretrained(
            folder.path, dtype=dtype, output_loading_info=True)
        missing = list(info.get("missing_keys") or [])
        if missing:
            raise ConfigError(f"{folder.path} lacks weights for {', '.join(sorted(missing)[:5])}: loading it would "
                              "initialise them at random; give a folder saved from a trained reward model")
        model.config.pad_token_id = folder.pad_id  # the pooling finds each row's end by its padding
        self.model = model.to(self.device).eval()
        self.dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        self.lock = threading.Lock()

    def rewards(self, rows: Sequence[list[int]]) -> list[float]:
        """One forward pass over `rows` (token ids): the reward of each, in order."""
        import torch

        width = max(len(r) for r in rows)
        pad = self.folder.pad_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
        with self.lock, torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        out: list[float] = logits[:, 0].float().cpu().tolist()
        return out


def plan_batches(lengths: Sequence[int], budget_tokens: int) -> list[list[int]]:
    """Indices into `lengths`, grouped longest first with rows x longest row <= `budget_tokens` per group
    (a row longer than the budget goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class LocalRewardBackend:
    name = "local"

    def __init__(self, model: LocalRewardModel, batch_tokens: int) -> None:
        self.model = model
        self.batch_tokens = batch_tokens

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.name, "device": str(self.model.device), "dtype": self.model.dtype}

    async def rewards(self, rows: Sequence[list[int]]) -> list[float | BackendError]:
        """The reward of each row; a failing batch (out of memory, say) fails only its own rows."""
        out: list[float | BackendError] = [BackendError("not scored")] * len(rows)
        for batch in plan_batches([len(r) for r in rows], self.batch_tokens):
            try:
                values: list[float | BackendError] = list(
                    await asyncio.to_thread(self.model.rewards, [rows[i] for i in batch]))
            except Exception as exc:
                err = BackendError(f"reward model {self.model.folder.path.name} failed on a batch of {len(batch)}: "
                                   f"{type(exc).__name__}: {exc}")
                values = [err] * len(batch)
            for i, v in zip(batch, values, strict=True):
                out[i] = v if isinstance(v, BackendError) or math.isfinite(v) else BackendError(
                    f"reward model {self.model.folder.path.name} returned a non-finite reward ({v})")
        return out
