"""Judge backends: where the judge model runs. `open_backend` builds one from a `BackendConfig`.

- `local`: a transformers model in this process (default: the embedded SmolLM2-135M-Instruct).
- `openai`: any OpenAI-compatible server, e.g. vLLM serving the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from referee.verifiers import Runtime

from ..environment import judge_environment
from .base import Backend, Message, Result, SequenceLogprob
from .openai import HTTP_CLIENT_KEY, Limiter, OpenAIBackend, OpenAIBackendConfig, make_client

__all__ = [
    "Backend",
    "BackendConfig",
    "LocalBackendConfig",
    "Message",
    "OpenAIBackendConfig",
    "Result",
    "SequenceLogprob",
    "open_backend",
]


class LocalBackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None, description="A transformers model folder; null means the embedded SmolLM2-135M-Instruct.")
    device: str = Field("cpu", description="torch device for the model, e.g. 'cpu' or 'cuda:0'.")
    batch_size: int = Field(8, ge=1, le=512, description="Prompts per forward pass.")
    prefix_cache: bool = Field(
        True, description="Compute the prompt prefix a batch's items share (system prompt, constitution) once and "
        "reuse its key/value cache; false runs every prompt in full (the slower reference path).")


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "openai"] = Field("local", description="Where the judge model runs.")
    local: LocalBackendConfig = Field(default_factory=LocalBackendConfig, description="Options for kind=local.")
    openai: OpenAIBackendConfig = Field(default_factory=OpenAIBackendConfig, description="Options for kind=openai.")


async def open_backend(config: BackendConfig, runtime: Runtime) -> Backend:
    """The backend `config` describes, with its model or client shared through `runtime`.

    Loading a local model can fail (missing package, bad folder): that raises, and the judge turns it
    into unscored `backend_error` results naming the cause.
    """
    if config.kind == "openai":
        o = config.openai
        client = runtime.resource(HTTP_CLIENT_KEY, make_client)
        limiter = runtime.resource(f"judges.openai.limiter:{o.base_url}",
                                   lambda: Limiter(o.max_concurrency, o.requests_per_second))
        return OpenAIBackend(o, client, limiter)

    from .local import LocalBackend, LocalModel

    lc = config.local
    if lc.model is None:
        from ..embedded import embedded_model_id, embedded_model_path

        cache_dir = judge_environment(runtime).cache_dir
        path = await runtime.aresource(f"judges.embedded:{cache_dir}", lambda: embedded_model_path(cache_dir))
        model_id = embedded_model_id()
    else:
        path, model_id = Path(lc.model), lc.model
    device = lc.device
    lm = await runtime.aresource(f"judges.local:{path}:{device}", lambda: LocalModel(path, device))
    return LocalBackend(lm, model_id, batch_size=lc.batch_size, prefix_cache=lc.prefix_cache)


