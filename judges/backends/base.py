"""What a judge needs from a language model, whatever serves it.

Three calls, each batched and each answering per item (a failed item is a `BackendError` in its slot, so
one bad request does not sink its neighbours):

- `next_token_logprobs(prompts, tokens)`: log-probabilities of candidate next tokens (verdict tokens such as
  "Yes", " Yes", "A") right after each prompt. Candidates the backend cannot see are left out.
- `sequence_logprobs(prompts, continuations)`: the summed log-probability of each continuation after its
  prompt, and its token count (likelihood scoring).
- `generate(prompts, max_tokens)`: greedy continuations (reason-then-verdict judging).

Prompts are raw text; `chat(messages)` renders a conversation in the model's chat format, ending with
the start of the assistant's turn, and `turn_end` is the text that closes a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

from ..errors import BackendError

__all__ = ["Backend", "Message", "Result", "SequenceLogprob"]

T = TypeVar("T")
Result: TypeAlias = T | BackendError
Message = dict[str, str]


@dataclass(frozen=True)
class SequenceLogprob:
    logprob: float
    """Sum over the continuation's tokens of log p(token | everything before it)."""
    tokens: int
    """How many tokens the continuation has."""


class Backend(Protocol):
    name: str
    """"local" or "openai": provenance records it."""
    model_id: str
    """The judge model, as provenance records it."""

    def chat(self, messages: Sequence[Message]) -> str: ...

    @property
    def turn_end(self) -> str: ...

    def provenance(self) -> dict[str, Any]: ...

    async def next_token_logprobs(
        self, prompts: Sequence[str], tokens: Sequence[str]
    ) -> list[Result[dict[str, float]]]: ...

    async def sequence_logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> list[Result[SequenceLogprob]]: ...

    async def generate(self, prompts: Sequence[str], max_tokens: int) -> list[Result[str]]: ...
