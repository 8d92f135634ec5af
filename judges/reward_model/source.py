"""Reward source `reward_model`: a learned reward model (a 1-output sequence classifier) scores each reply.

    # the service's settings file (the folder is operator-only: a request can never name a path)
    source_options:
      reward_model: {model: /models/my-rm}
    # a request
    {"source": "reward_model", "options": {"normalize": true}, "samples": [{"prompt": "...", "completion": "..."}]}

- The value is the model's scalar reward for (prompt, completion), formatted as it was trained
  (`formatting.reward_input_ids`); with `normalize: true`, the z-score `(r - mean) / std` against the
  training-set statistics in the folder's manifest (`manifest.py`), so it mixes sensibly with 0/1 verifiers.
- Longer than `max_length` tokens (default: the model's context): unscored `invalid_input` saying so, or,
  with `truncation: left_truncate_prompt`, the prompt's oldest tokens are dropped until it fits.
- `compare(pairs)` answers P(a better) = sigmoid(r_a - r_b) (Bradley-Terry, the model's training objective,
  on raw rewards) in the judge's `Comparison` shape. No order swap: each reply is scored on its own.

Every score carries provenance in `details`: the folder's name, the sha256 of its weights and tokenizer
and of the chat template applied, the backend, which value (`raw` or `zscore`, with the statistics), the
max length and the truncation policy. Reference and metadata are not used.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from referee.verifiers import ConfigError, Runtime, Sample, Score, UnscoredReason

from ..backends.openai import HTTP_CLIENT_KEY, Limiter, make_client
from ..errors import BackendError
from ..method import sigmoid
from ..source import Comparison, Pair
from .folder import RewardModelFolder, open_folder
from .formatting import Fitted, Truncation, fit
from .http_backend import VllmOptions, VllmRewardBackend
from .manifest import MANIFEST_NAME, read_manifest

__all__ = ["ORDER_SWAP", "LocalOptions", "RewardBackendConfig", "RewardModel", "RewardModelConfig"]

ORDER_SWAP = ("none needed: a reward model scores each reply on its own, so P(a better) = sigmoid(r_a - r_b) "
              "has no presentation order to debias; consistent is true by construction")


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: str = Field("auto", description="torch device: 'auto' (CUDA when present, else CPU), 'cpu', 'cuda:0'.")
    batch_tokens: int = Field(
        16_384, ge=256, le=1 << 22, description="Most padded tokens (rows x longest row) in one forward pass.")


class RewardBackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "vllm"] = Field("local", description="local: transformers here; vllm: a vLLM server.")
    local: LocalOptions = Field(default_factory=LocalOptions, description="Options for kind=local.")
    vllm: VllmOptions = Field(default_factory=VllmOptions, description="Options for kind=vllm.")


class RewardModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None, json_schema_extra={"operator_only": True},
        description="The reward model folder (save_pretrained of a 1-output AutoModelForSequenceClassification, "
        "with its tokenizer). Operator-only: a request must not make the server load a path of its choosing.")
    backend: RewardBackendConfig = Field(
        default_factory=RewardBackendConfig, json_schema_extra={"operator_only": True},
        description="Where the model runs. Operator-only, like the folder.")
    normalize: bool = Field(
        False, description="Return the z-score against the training statistics in the folder's manifest.")
    max_length: int | None = Field(
        None, ge=8, description="Longest item in tokens; null means the model's context.")
    truncation: Truncation = Field(
        "unscored", description="Items over max_length: unscored (invalid_input), or left_truncate_prompt.")
    max_chars: int = Field(
        200_000, ge=1, description="Longest prompt plus completion, in characters, before tokenizing; longer: "
        "unscored invalid_input.")


class _Backend(Protocol):
    def provenance(self) -> dict[str, Any]: ...

    async def rewards(self, rows: Sequence[list[int]]) -> list[float | BackendError]: ...


class RewardModel:
    name = "reward_model"
    version = "1.0"
    description = "A learned reward model (1-output sequence classifier): raw reward or z-score; Bradley-Terry compare."
    Config = RewardModelConfig

    def __init__(self, config: RewardModelConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        if config.model is None:
            raise ConfigError(
                "source 'reward_model' has no model folder: set it in the service's settings file as source_options: "
                "{reward_model: {model: DIR}} (requests cannot name paths), where DIR is written by `referee rm "
                "train` or is any 1-output AutoModelForSequenceClassification saved with its tokenizer")
        self.path = Path(config.model).expanduser()
        if not self.path.is_dir():
            raise ConfigError(f"reward_model.model: folder {self.path} does not exist; set it to a reward model folder")
        if config.normalize:
            manifest = read_manifest(self.path)
            if manifest is None or manifest.normalization is None:
                where = "has no " + MANIFEST_NAME if manifest is None else f"'s {MANIFEST_NAME} has no normalization"
                raise ConfigError(
                    f"normalize=true needs the reward statistics recorded at training time, but {self.path.name} "
                    f"{where}; train it with `referee rm train` (which records them), or set normalize=false for raw "
                    "rewards")
        if config.max_length is not None:
            declared = _declared_context(self.path)
            if declared is not None and config.max_length > declared:
                raise ConfigError(f"max_length={config.max_length} exceeds the reward model's context of {declared} "
                                  f"tokens; give at most {declared}, or leave it null for the full context")

    async def start(self) -> None:
        """Load the model now (start-up), so a wrong folder or a host without torch fails before any request."""
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"source 'reward_model' needs {' and '.join(missing)}: install referee[local]")
        await self._open()

    # -- resources ----------------------------------------------------------------------------------

    async def _open(self) -> tuple[RewardModelFolder, _Backend, int]:
        """The folder, the backend and the effective max_length; loaded once per runtime (process)."""
        rt, path, b = self.runtime, self.path.resolve(), self.config.backend
        folder: RewardModelFolder = await rt.aresource(f"reward_model.folder:{path}", lambda: open_folder(path))
        max_length = self.config.max_length or folder.context
        if max_length > folder.context:
            raise ConfigError(f"max_length={max_length} exceeds the model's context of {folder.context} tokens")
        backend: _Backend
        if b.kind == "local":
            from .local import LocalRewardBackend, LocalRewardModel

            device = b.local.device
            model = await rt.aresource(f"reward_model.local:{path}:{device}", lambda: LocalRewardModel(folder, device))
            backend = LocalRewardBackend(model, b.local.batch_tokens)
        else:
            v = b.vllm
            limiter = rt.resource(f"reward_model.vllm.limiter:{v.base_url}",
                                  lambda: Limiter(v.max_concurrency, rate=1e6))
            backend = VllmRewardBackend(v, rt.resource(HTTP_CLIENT_KEY, make_client), limiter, folder.pad_id)
        return folder, backend, max_length

    def provenance(self, folder: RewardModelFolder | None, backend: _Backend | None,
                   max_length: int | None) -> dict[str, Any]:
        model = folder.provenance() if folder is not None else {"model": self.path.name}
        if backend is not None:
            model.update(backend.provenance())
        stats = folder.manifest.normalization if folder is not None and folder.manifest is not None else None
        normalization = ({"mean": stats.mean, "std": stats.std, "count": stats.count, "split": stats.split,
                          "from": MANIFEST_NAME} if self.config.normalize and stats is not None else None)
        return {"reward_model": model, "value": "zscore" if self.config.normalize else "raw",
                "normalization": normalization, "max_length": max_length, "truncation": self.config.truncation}

    # -- scoring ------------------------------------------------------------------------------------

    async def _rewards(self, items: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], list[_Item]]:
        """Provenance, and per item its raw reward or why there is none."""
        try:
            folder, backend, max_length = await self._open()
        except Exception as exc:
            error = f"reward model {self.path.name} could not be opened: {type(exc).__name__}: {exc}"
            return self.provenance(None, None, self.config.max_length), [
                _Item(None, UnscoredReason.BACKEND_ERROR, error, {}) for _ in items]
        provenance = self.provenance(folder, backend, max_length)
        limit = self.config.max_chars
        out: list[_Item | None] = [None] * len(items)
        for i, (prompt, completion) in enumerate(items):
            chars = len(prompt) + len(completion)
            if chars > limit:  # checked before tokenizing: hostile sizes cost nothing
                out[i] = _Item(None, UnscoredReason.INVALID_INPUT, f"prompt and completion hold {chars} characters, "
                               f"more than max_chars={limit}; shorten them or raise max_chars", {"chars": chars})
        to_fit = [i for i, o in enumerate(out) if o is None]
        fitted = await asyncio.to_thread(self._fit_all, folder, [items[i] for i in to_fit], max_length)
        todo: list[tuple[int, list[int]]] = []
        for i, f in zip(to_fit, fitted, strict=True):
            out[i] = _Item(None, UnscoredReason.INVALID_INPUT if f.ids is None else None, f.error, _fit_details(f))
            if f.ids is not None:
                todo.append((i, f.ids))
        values = await backend.rewards([ids for _, ids in todo])
        for (i, _), v in zip(todo, values, strict=True):
            details = out[i].details  # type: ignore[union-attr]
            out[i] = (_Item(None, UnscoredReason.BACKEND_ERROR, str(v), details) if isinstance(v, BackendError)
                      else _Item(v, None, None, details))
        return provenance, [o for o in out if o is not None]

    def _fit_all(self, folder: RewardModelFolder, items: Sequence[tuple[str, str]], max_length: int) -> list[Fitted]:
        policy, out = self.config.truncation, []
        with folder.lock:  # a fast tokenizer's state is not safe to share between threads
            for prompt, completion in items:
                try:
                    out.append(fit(folder.tokenizer, prompt, completion, max_length, policy))
                except Exception as exc:  # a template that rejects the text, say: this item's problem only
                    out.append(Fitted(None, 0, error=f"the reward model's tokenizer could not format this item: "
                                      f"{type(exc).__name__}: {exc}"))
        return out

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        provenance, items = await self._rewards([(s.prompt, s.completion) for s in batch])
        stats = provenance["normalization"]
        scores = []
        for item in items:
            details = {**provenance, **item.details}
            if item.reward is None:
                scores.append(Score.unscored(item.reason or UnscoredReason.SOURCE_ERROR, item.error or "unscored",
                                             source=self.name, version=self.version, **details))
                continue
            value = item.reward
            if stats is not None:
                value = (item.reward - stats["mean"]) / stats["std"]
                details["raw_reward"] = item.reward
            scores.append(Score(value=value, source=self.name, version=self.version, details=details))
        return scores

    async def compare(self, pairs: Sequence[Pair]) -> list[Comparison]:
        """P(a is better) = sigmoid(r_a - r_b) per pair, on raw rewards, in the judge's `Comparison` shape."""
        texts = [(p.prompt, reply) for p in pairs for reply in (p.a, p.b)]
        provenance, items = await self._rewards(texts)
        # The probability is Bradley-Terry on raw rewards whatever `normalize` says (a z-score would rescale them).
        details = {**provenance, "order_swap": ORDER_SWAP, "value": "bradley_terry", "normalization": None}
        out = []
        for k in range(len(pairs)):
            a, b = items[2 * k], items[2 * k + 1]
            failed = next((x for x in (a, b) if x.reward is None), None)
            if failed is not None:
                which = "a" if failed is a else "b"
                out.append(Comparison(p_a_better=None, consistent=None, reason=failed.reason,
                                      error=f"reply {which}: {failed.error}", principles={}, details=details))
                continue
            assert a.reward is not None and b.reward is not None
            out.append(Comparison(p_a_better=sigmoid(a.reward - b.reward), consistent=True, principles={},
                                  details={**details, "reward_a": a.reward, "reward_b": b.reward,
                                           "tokens_a": a.details.get("tokens"), "tokens_b": b.details.get("tokens")}))
        return out


class _Item:
    __slots__ = ("details", "error", "reason", "reward")

    def __init__(self, reward: float | None, reason: UnscoredReason | None, error: str | None,
                 details: dict[str, Any]) -> None:
        self.reward, self.reason, self.error, self.details = reward, reason, error, details


def _fit_details(f: Fitted) -> dict[str, Any]:
    details: dict[str, Any] = {"tokens": f.tokens}
    if f.truncated_prompt_tokens:
        details["truncated_prompt_tokens"] = f.truncated_prompt_tokens
    return details


def _declared_context(path: Path) -> int | None:
    """`max_position_embeddings` from config.json, read cheaply (no transformers) to check a request's max_length."""
    try:
        value = json.loads((path / "config.json").read_text()).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
