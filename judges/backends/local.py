"""The local backend: a transformers causal LM in this process (CPU or GPU).

One `LocalModel` per (folder, device) lives in the runtime and is shared by every judge using it; its
lock runs one forward pass at a time (in a thread, off the event loop), since concurrent passes would
only fight over the same cores. Passes are batched (`batch_size` prompts, sorted by length to waste
little padding) and keep only the logits a judge reads:

- next-token scoring runs the LM head on the last position only (`logits_to_keep=1`);
- sequence scoring runs the decoder, gathers the hidden states of the continuation's positions, and runs
  the LM head on those alone, in chunks.

Padding is on the left with explicit position ids, so a padded row scores the same as the prompt alone.
torch and transformers are imported here and only here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendError
from .base import Message, Result, SequenceLogprob

if TYPE_CHECKING:
    import torch

__all__ = ["LocalBackend", "LocalModel"]

T = TypeVar("T")
_HEAD_CHUNK = 256  # positions per LM-head chunk: 256 x 49k vocabulary x 4 bytes = 50 MB


class LocalModel:
    """A loaded model and tokenizer, with a lock serialising forward passes."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = path
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(path)
        self.model = model.to(self.device).eval()  # type: ignore[arg-type]
        self.lock = threading.Lock()

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _batch(self, rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-padded ids, attention mask and position ids for `rows`."""
        import torch

        width = max(len(r) for r in rows)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids, mask, positions

    def next_token_logprobs(self, rows: Sequence[list[int]], candidates: Sequence[int]) -> list[list[float]]:
        """log p(candidate | row) for each row and candidate id."""
        import torch

        ids, mask, positions = self._batch(rows)
        with self.lock, torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
            logprobs = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
            picked = logprobs[:, torch.tensor(list(candidates), device=self.device)]
        out: list[list[float]] = picked.cpu().tolist()
        return out

    def sequence_logprobs(self, rows: Sequence[tuple[list[int], list[int]]]) -> list[SequenceLogprob]:
        """Summed log p(continuation | prompt) for each (prompt ids, continuation ids)."""
        import torch

        full = [p + c for p, c in rows]
        ids, mask, positions = self._batch(full)
        width = ids.shape[1]
        # Position t predicts token t+1: the continuation's tokens are predicted from the positions just
        # before each of them. Left padding shifts row i by width - len(row).
        rows_at, cols_at, targets, owner = [], [], [], []
        for i, (p, c) in enumerate(rows):
            offset = width - len(p) - len(c)
            for j in range(len(c)):
                rows_at.append(i)
                cols_at.append(offset + len(p) - 1 + j)
                targets.append(c[j])
                owner.append(i)
        with self.lock, torch.inference_mode():
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
            picked = hidden[torch.tensor(rows_at, device=self.device), torch.tensor(cols_at, device=self.device)]
            head = self.model.get_output_embeddings()
            target = torch.tensor(targets, device=self.device)
            token_lp = torch.cat([
                torch.log_softmax(head(picked[s : s + _HEAD_CHUNK]).float(), dim=-1)
                .gather(-1, target[s : s + _HEAD_CHUNK, None])[:, 0]
                for s in range(0, len(targets), _HEAD_CHUNK)
            ])
            sums = torch.zeros(len(rows), dtype=torch.float64).index_add_(
                0, torch.tensor(owner), token_lp.double().cpu())
        return [SequenceLogprob(float(sums[i]), len(c)) for i, (_, c) in enumerate(rows)]

    def generate(self, rows: Sequence[list[int]], max_tokens: int) -> list[str]:
        import torch

        ids, mask, _ = self._batch(rows)
        with self.lock, torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        texts: list[str] = self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        return texts


class LocalBackend:
    """A judge backend over a `LocalModel`; `model_id` names it in provenance."""

    name = "local"

    def __init__(self, model: LocalModel, model_id: str, *, batch_size: int = 8) -> None:
        self.lm = model
        self.model_id = model_id
        self.batch_size = batch_size

    @property
    def turn_end(self) -> str:
        return str(self.lm.tokenizer.eos_token)

    def chat(self, messages: Sequence[Message]) -> str:
        return str(self.lm.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))

    def provenance(self) -> dict[str, Any]:
        return {"model": self.model_id, "backend": self.name, "device": str(self.lm.device),
                "sampling": {"temperature": 0.0}}

    async def _batched(self, items: Sequence[T], run: Callable[[list[T]], list[Any]]) -> list[Any]:
        """Run `run` on length-sorted batches in a thread; a failing batch fails only its own items."""
        order = sorted(range(len(items)), key=lambda i: _size(items[i]))
        out: list[Any] = [None] * len(items)
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            try:
                results = await asyncio.to_thread(run, [items[i] for i in idx])
            except Exception as exc:  # out of memory, a tokenizer edge case: data, not a crash
                err = BackendError(f"local model {self.model_id} failed on a batch: {type(exc).__name__}: {exc}")
                results = [err] * len(idx)
            for i, r in zip(idx, results, strict=True):
                out[i] = r
        return out

    async def next_token_logprobs(
        self, prompts: Sequence[str], tokens: Sequence[str]
    ) -> list[Result[dict[str, float]]]:
        ids: dict[str, int] = {}
        for t in tokens:
            enc = self.lm.encode(t)
            if len(enc) == 1:  # a candidate spanning two tokens is not a single next token
                ids[t] = enc[0]
        names, cand = list(ids), list(ids.values())
        rows = await asyncio.to_thread(lambda: [self.lm.encode(p) for p in prompts])
        lps = await self._batched(rows, lambda b: self.lm.next_token_logprobs(b, cand))
        return [lp if isinstance(lp, BackendError) else dict(zip(names, lp, strict=True)) for lp in lps]

    async def sequence_logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> list[Result[SequenceLogprob]]:
        rows = await asyncio.to_thread(
            lambda: [(self.lm.encode(p), self.lm.encode(c)) for p, c in zip(prompts, continuations, strict=True)])
        return await self._batched(rows, self.lm.sequence_logprobs)

    async def generate(self, prompts: Sequence[str], max_tokens: int) -> list[Result[str]]:
        rows = await asyncio.to_thread(lambda: [self.lm.encode(p) for p in prompts])
        return await self._batched(rows, lambda b: self.lm.generate(b, max_tokens))


def _size(item: Any) -> int:
    if isinstance(item, tuple):
        return sum(len(x) for x in item)
    return len(item)
