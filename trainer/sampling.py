"""Sampling N completions per prompt from a policy: vLLM when it is installed, else transformers.

    sampler = Sampler(model_path, SamplingSpec(n=8, temperature=0.7), backend="auto")
    completions = sampler.sample(conversations)
    completions[i][j]   # the j-th completion (text) of the i-th conversation

Prompts are conversations (lists of `{role, content}`), rendered with the tokenizer's chat template and the
assistant turn opened, as the trainers render them. Both backends sample from the same distribution:
temperature and nucleus (`top_p`) sampling, no top-k, up to `max_new_tokens`, each completion cut at its
first end-of-sequence token and decoded without special tokens.

Seeding: transformers reseeds torch from (seed, first prompt of the batch) before each batch, so a run
with the same seed and batch size samples the same completions; vLLM takes the seed per request. The two
backends' random streams differ: the same seed does not give the same text on both.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from referee.verifiers import ConfigError

__all__ = ["BACKENDS", "Sampler", "SamplingSpec", "choose_backend"]

Backend = Literal["auto", "transformers", "vllm"]
BACKENDS = ("auto", "transformers", "vllm")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class SamplingSpec:
    n: int = 8
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = 0
    batch_size: int = 8
    """Prompts per `generate` call (transformers); each yields `n` sequences."""

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError(f"n, max_new_tokens and batch_size must be >= 1, got {self.n}, {self.max_new_tokens} "
                              f"and {self.batch_size}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (best-of-n samples; greedy decoding gives n equal "
                              f"completions), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must lie in (0, 1], got {self.top_p}")

    def provenance(self) -> dict[str, Any]:
        return {"n": self.n, "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens, "seed": self.seed}


def choose_backend(backend: str) -> Literal["transformers", "vllm"]:
    """`auto` is vLLM when it can be imported here, else transformers; `vllm` without vLLM is an error."""
    if backend not in BACKENDS:
        raise ConfigError(f"generation backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "vllm" and not has_vllm:
        raise ConfigError("--backend vllm: vLLM is not installed in this environment; install it (on a CPU: "
                          "`make setup-vllm` and run referee from .venv-vllm) or use --backend transformers")
    if backend == "auto":
        return "vllm" if has_vllm else "transformers"
    return backend  # type: ignore[return-value]


class Sampler:
    """A policy loaded once; `sample(prompts, offset)` gives `spec.n` completions (text) per conversation, in
    order. `offset` is the index of `prompts[0]` in the whole run: it keeps the transformers seeding the same
    however the run is cut into calls."""

    def __init__(self, model_path: str, spec: SamplingSpec, *, backend: str = "auto", dtype: str | None = None) -> None:
        self.spec = spec
        self.backend = choose_backend(backend)
        self.model_path = model_path
        if self.backend == "vllm":
            from vllm import LLM

            self.llm = LLM(model=model_path, seed=spec.seed, dtype=dtype or "auto")
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype: Any = (getattr(torch, dtype) if dtype not in (None, "auto")
                            else torch.float32 if self.device == "cpu" else "auto")
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype)
        self.model = model.to(self.device).eval()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge

    @classmethod
    def of_model(cls, model: Any, model_path: str, spec: SamplingSpec) -> Sampler:
        """A transformers sampler over a model already in memory: online DPO samples the policy it is training.
        The tokenizer is the one saved in `model_path`, loaded apart so its padding side stays this sampler's."""
        from transformers import AutoTokenizer

        self = cls.__new__(cls)
        self.spec, self.backend, self.model_path = spec, "transformers", model_path
        self.model, self.device = model, model.device
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        return self

    def sample(self, prompts: Sequence[Messages], offset: int = 0) -> list[list[str]]:
        if not prompts:
            return []
        if self.backend == "vllm":
            return self._vllm(prompts)
        return self._transformers(prompts, offset)

    def _transformers(self, prompts: Sequence[Messages], offset: int) -> list[list[str]]:
        import torch
        from transformers import GenerationConfig

        spec, tokenizer = self.spec, self.tokenizer
        eos_id = tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
        config = GenerationConfig(do_sample=True, temperature=spec.temperature, top_p=spec.top_p, top_k=0,
                                  num_return_sequences=spec.n, max_new_tokens=spec.max_new_tokens,
                                  pad_token_id=pad_id, eos_token_id=eos_id)
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        out: list[list[str]] = []
        for start in range(0, len(texts), spec.batch_size):
            batch = tokenizer(texts[start : start + spec.batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(self.device)
            torch.manual_seed(spec.seed * 1_000_003 + offset + start)
            with torch.no_grad():
                generated = self.model.generate(**batch, generation_config=config)
            new = generated[:, batch["input_ids"].shape[1]:].tolist()
            for i in range(0, len(new), spec.n):  # generate returns each prompt's n sequences together
                group = [ids[: ids.index(eos_id) + 1] if eos_id in ids else ids for ids in new[i : i + spec.n]]
                out.append([str(tokenizer.decode(ids, skip_special_tokens=True)) for ids in group])
        return out

    def _vllm(self, prompts: Sequence[Messages]) -> list[list[str]]:
        from vllm import SamplingParams

        spec = self.spec
        params = SamplingParams(n=spec.n, temperature=spec.temperature, top_p=spec.top_p,
                                max_tokens=spec.max_new_tokens)
        outputs = self.llm.chat([list(p) for p in prompts], params, use_tqdm=False)
        return [[c.text for c in o.outputs] for o in outputs]
