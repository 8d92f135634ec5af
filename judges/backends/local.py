"""The local backend: a transformers causal LM in this process (CPU or GPU).

One `LocalModel` per (folder, device) lives in the runtime and is shared by every judge using it; its
lock runs one forward pass at a time (in a thread, off the event loop), since concurrent passes would
only fight over the same cores.

Judge prompts of one batch share long prefixes (system prompt, constitution, the principle's
instructions); only the item at the end differs. With `prefix_cache` (the default) the rows are grouped
by shared prefix (`referee.judges.backends.prefix`), each prefix's keys and values are computed once
(and kept across batches, keyed by its token ids, up to `PREFIX_STORE_BYTES`), and only the rest of
each row runs, `batch_size` rows per pass after a copy of the prefix's cache expanded over the batch.
Without it every row runs in full, as before. Either way a pass keeps only the logits a judge reads:

- next-token scoring runs the LM head on each row's last position only;
- sequence scoring gathers the hidden states of the continuation's positions and runs the LM head on
  those alone, in chunks.

Rows are padded on the right, after their real tokens, with explicit position ids continuing the prefix:
causal attention never lets a real token see the pads after it, so a padded row, with or without a
cached prefix, scores as the whole prompt run alone (tests check this on the embedded model).
torch and transformers are imported here and only here.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendError
from .base import Message, Result, SequenceLogprob
from .prefix import Group, PrefixStore, plan

if TYPE_CHECKING:
    import torch

__all__ = ["PREFIX_STORE_BYTES", "LocalBackend", "LocalModel"]

T = TypeVar("T")
_HEAD_CHUNK = 256  # positions per LM-head chunk: 256 x 49k vocabulary x 4 bytes = 50 MB
PREFIX_STORE_BYTES = 256 * 2**20
"""Memory for prefix caches kept across batches (the embedded model's: ~46 kB per token, ~8 MB per principle)."""


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
        self.prefixes = PrefixStore(PREFIX_STORE_BYTES)
        self.positions_run = 0
        """Prompt positions run through the model so far, pads included (benchmarks read it)."""
        # transformers 5.2x renamed the forward's `past_key_values` to `cache` (the old name warns).
        params = inspect.signature(self.model.base_model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _prefix_cache(self, prefix: list[int], batch: int) -> Any:
        """The keys and values of `prefix` (computed once, then from the store), repeated `batch` times."""
        import torch
        from transformers import DynamicCache

        key = tuple(prefix)
        cache = self.prefixes.get(key)
        if cache is None:
            cache = DynamicCache(config=self.model.config)
            self.positions_run += len(prefix)
            self.model.base_model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True,
                                  **{self._cache_kw: cache})
            self.prefixes.put(key, cache, _nbytes(cache))
        # The forward pass appends to the cache it is given: hand it a copy, keep the stored one intact.
        batched = copy.deepcopy(cache)
        batched.batch_repeat_interleave(batch)
        return batched

    def _hidden(self, prefix: list[int], rows: Sequence[list[int]]) -> torch.Tensor:
        """Last hidden states of `rows`, each continuing `prefix`: row i's tokens at [i, :len(rows[i])]."""
        import torch

        width = max(len(r) for r in rows)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * (len(prefix) + len(r)) + [0] * (width - len(r)) for r in rows], device=self.device)
        positions = torch.arange(len(prefix), len(prefix) + width, device=self.device).expand(len(rows), -1)
        self.positions_run += ids.numel()
        cache = {self._cache_kw: self._prefix_cache(prefix, len(rows)), "use_cache": True} if prefix else {
            "use_cache": False}
        hidden: torch.Tensor = self.model.base_model(
            input_ids=ids, attention_mask=mask, position_ids=positions, **cache).last_hidden_state
        return hidden

    def next_token_logprobs(self, prefix: list[int], rows: Sequence[list[int]],
                            candidates: Sequence[int]) -> list[list[float]]:
        """log p(candidate | prefix + row) for each row (non-empty) and candidate id."""
        import torch

        last = torch.tensor([len(r) - 1 for r in rows], device=self.device)
        with self.lock, torch.inference_mode():
            hidden = self._hidden(prefix, rows)[torch.arange(len(rows), device=self.device), last]
            logprobs = torch.log_softmax(self.model.get_output_embeddings()(hidden).float(), dim=-1)
            picked = logprobs[:, torch.tensor(list(candidates), device=self.device)]
        out: list[list[float]] = picked.cpu().tolist()
        return out

    def sequence_logprobs(self, prefix: list[int],
                          rows: Sequence[tuple[list[int], list[int]]]) -> list[SequenceLogprob]:
        """Summed log p(continuation | prefix + prompt) for each (prompt ids, continuation ids); prompts non-empty."""
        import torch

        # Position t predicts token t + 1: continuation token j of row i is read at len(prompt) - 1 + j.
        rows_at: list[int] = []
        cols_at: list[int] = []
        targets: list[int] = []
        for i, (p, c) in enumerate(rows):
            rows_at += [i] * len(c)
            cols_at += range(len(p) - 1, len(p) - 1 + len(c))
            targets += c
        with self.lock, torch.inference_mode():
            hidden = self._hidden(prefix, [p + c for p, c in rows])
            picked = hidden[torch.tensor(rows_at, device=self.device), torch.tensor(cols_at, device=self.device)]
            head = self.model.get_output_embeddings()
            target = torch.tensor(targets, device=self.device)
            token_lp = torch.cat([
                torch.log_softmax(head(picked[s : s + _HEAD_CHUNK]).float(), dim=-1)
                .gather(-1, target[s : s + _HEAD_CHUNK, None])[:, 0]
                for s in range(0, len(targets), _HEAD_CHUNK)
            ])
            sums = torch.zeros(len(rows), dtype=torch.float64).index_add_(
                0, torch.tensor(rows_at), token_lp.double().cpu())
        return [SequenceLogprob(float(sums[i]), len(c)) for i, (_, c) in enumerate(rows)]

    def _left_padded(self, rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ids and attention mask, as `generate` wants them."""
        import torch

        width = max(len(r) for r in rows)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        return ids, mask

    def generate(self, rows: Sequence[list[int]], max_tokens: int) -> list[str]:
        import torch

        ids, mask = self._left_padded(rows)
        with self.lock, torch.inference_mode():
            self.positions_run += ids.numel()
            out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        texts: list[str] = self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        return texts


class LocalBackend:
    """A judge backend over a `LocalModel`; `model_id` names it in provenance."""

    name = "local"

    def __init__(self, model: LocalModel, model_id: str, *, batch_size: int = 8, prefix_cache: bool = True) -> None:
        self.lm = model
        self.model_id = model_id
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache

    @property
    def turn_end(self) -> str:
        return str(self.lm.tokenizer.eos_token)

    def chat(self, messages: Sequence[Message]) -> str:
        return str(self.lm.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))

    def provenance(self) -> dict[str, Any]:
        return {"model": self.model_id, "backend": self.name, "device": str(self.lm.device),
                "sampling": {"temperature": 0.0}}

    def _groups(self, rows: Sequence[list[int]], limits: Sequence[int]) -> list[Group]:
        if self.prefix_cache:
            return plan(rows, limits)
        return [Group(0, list(range(len(rows))))] if rows else []

    async def _batched(self, groups: list[Group], rows: Sequence[list[int]], items: Sequence[T],
                       run: Callable[[list[int], list[T]], list[Any]], trim: Callable[[T, int], T]) -> list[Any]:
        """Per group, run its items `batch_size` at a time (by length) after the group's shared prefix, in a
        thread; `trim(item, n)` drops an item's first n tokens. A failing batch fails only its own items."""
        out: list[Any] = [None] * len(items)
        for g in groups:
            prefix = rows[g.members[0]][: g.shared]
            order = sorted(g.members, key=lambda i: len(rows[i]))
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                try:
                    results = await asyncio.to_thread(run, prefix, [trim(items[i], g.shared) for i in idx])
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

        def prepare() -> tuple[list[list[int]], list[Group]]:
            rows = [self.lm.encode(p) for p in prompts]
            return rows, self._groups(rows, [max(0, len(r) - 1) for r in rows])  # the last token must run

        rows, groups = await asyncio.to_thread(prepare)
        lps = await self._batched(groups, rows, rows, lambda prefix, b: self.lm.next_token_logprobs(prefix, b, cand),
                                  lambda r, n: r[n:])
        return [lp if isinstance(lp, BackendError) else dict(zip(names, lp, strict=True)) for lp in lps]

    async def sequence_logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> list[Result[SequenceLogprob]]:
        def prepare() -> tuple[list[tuple[list[int], list[int]]], list[list[int]], list[Group]]:
            pairs = [(self.lm.encode(p), self.lm.encode(c)) for p, c in zip(prompts, continuations, strict=True)]
            full = [p + c for p, c in pairs]
            # The prompt's last token must run: its output predicts the continuation's first.
            return pairs, full, self._groups(full, [max(0, len(p) - 1) for p, _ in pairs])

        pairs, full, groups = await asyncio.to_thread(prepare)
        return await self._batched(groups, full, pairs, self.lm.sequence_logprobs, lambda pc, n: (pc[0][n:], pc[1]))

    async def generate(self, prompts: Sequence[str], max_tokens: int) -> list[Result[str]]:
        rows = await asyncio.to_thread(lambda: [self.lm.encode(p) for p in prompts])
        groups = [Group(0, list(range(len(rows))))] if rows else []  # generation runs every prompt in full
        return await self._batched(groups, rows, rows, lambda _, b: self.lm.generate(b, max_tokens), lambda r, n: r)


def _nbytes(cache: Any) -> int:
    """Memory held by a cache's tensors (keys and values per layer)."""
    import torch

    return sum(t.numel() * t.element_size() for layer in cache.layers for t in vars(layer).values()
               if isinstance(t, torch.Tensor))
