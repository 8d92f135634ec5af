"""ChatML, the chat format of SmolLM2 (and Qwen, Hermes, ...), for backends that take raw prompts.

The HTTP backend uses `/v1/completions` (echo and logprobs work there on any OpenAI-compatible server), so
it renders conversations itself. A test checks this matches SmolLM2's own chat template.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["TURN_END", "render_chatml"]

TURN_END = "<|im_end|>"


def render_chatml(messages: Sequence[dict[str, str]]) -> str:
    """`messages` as ChatML, ending with the opening of the assistant's turn."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}{TURN_END}\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"
