"""What a reward model reads: the token ids of (prompt, completion), formatted exactly as it was trained.

One function, `reward_input_ids`, used both to serve (the `reward_model` source) and to train
(`referee rm train` builds TRL's `chosen_ids` / `rejected_ids` columns with it, which makes TRL skip its own
tokenization), so the two cannot drift apart. It follows TRL 1.16's `RewardTrainer._prepare_dataset`:

- The tokenizer has a chat template: the prompt is the user turn and the completion the assistant turn,
  rendered by `apply_chat_template(messages, tokenize=True, return_dict=True)` with no generation prompt,
  which is how TRL tokenizes a conversational row `{"prompt": [user], "chosen": [assistant]}`. The
  template closes the assistant turn itself (SmolLM2: `<|im_end|>\\n`); no EOS is added. Conversation
  rows (lists of `{role, content}`) are taken as they are: prompt turns, then completion turns.
- No chat template: TRL's plain-text path, `tokenizer(text=prompt + completion + eos)`, with the EOS token
  appended unless the completion already ends with it.

TRL itself would take a plain-string row down the second path even when the tokenizer has a template;
referee turns string rows into the two-turn conversation whenever a template exists, at training time
and when serving alike, so a chat model's reward model sees the format it was instruction-tuned on.

`fit` applies the too-long policy (see `Truncation`): a reward model trained with TRL's `max_length` never
saw a longer row (TRL drops them), so by default such an item is not scored at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Fitted", "Message", "Truncation", "fit", "reward_input_ids", "reward_messages", "template_of"]

Message = dict[str, str]
Truncation = Literal["unscored", "left_truncate_prompt"]
"""What happens to an item longer than `max_length` tokens: `unscored` (reason invalid_input, saying how
long it is), or `left_truncate_prompt` (drop the prompt's oldest tokens until it fits; unscored anyway if
the completion alone does not fit). Never silent: the score's details say which and how many tokens."""

_MAX_TRIES = 8  # re-tokenising a cut prompt can differ by a token or two at the cut; a few passes settle it


def template_of(tokenizer: Any) -> str | None:
    """The tokenizer's default chat template as text, or None when it has none."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # named templates: the default one is what apply_chat_template uses
        template = template.get("default")
    return template if isinstance(template, str) and template.strip() else None


def reward_messages(prompt: str | Sequence[Message], completion: str | Sequence[Message]) -> list[Message]:
    """The conversation a reward model scores: the prompt's turns, then the completion's."""
    def turns(part: str | Sequence[Message], role: str) -> list[Message]:
        return [{"role": role, "content": part}] if isinstance(part, str) else [dict(m) for m in part]

    return turns(prompt, "user") + turns(completion, "assistant")


def reward_input_ids(tokenizer: Any, prompt: str | Sequence[Message], completion: str | Sequence[Message]) -> list[int]:
    """Token ids of (prompt, completion), as TRL 1.16's RewardTrainer tokenizes a row (module docstring)."""
    if template_of(tokenizer) is None and isinstance(prompt, str) and isinstance(completion, str):
        eos: str | None = tokenizer.eos_token
        ending = eos if eos is not None and not completion.endswith(eos) else ""
        return list(tokenizer(text=prompt + completion + ending)["input_ids"])
    encoded = tokenizer.apply_chat_template(reward_messages(prompt, completion), tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


@dataclass(frozen=True)
class Fitted:
    ids: list[int] | None
    """The token ids to score; None when the item cannot fit (see `error`)."""
    tokens: int
    """Length of the full, untruncated item in tokens."""
    truncated_prompt_tokens: int = 0
    """Prompt tokens dropped from the left (policy left_truncate_prompt)."""
    error: str | None = None


def fit(tokenizer: Any, prompt: str, completion: str, max_length: int, truncation: Truncation) -> Fitted:
    """`reward_input_ids` within `max_length` tokens under the `truncation` policy."""
    ids = reward_input_ids(tokenizer, prompt, completion)
    if len(ids) <= max_length:
        return Fitted(ids, len(ids))
    if truncation == "unscored":
        return Fitted(None, len(ids), error=(
            f"the item is {len(ids)} tokens, longer than max_length={max_length} (the reward model's context or "
            "the configured limit); shorten it, or set truncation=left_truncate_prompt to drop the prompt's "
            "oldest tokens"))
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    drop, cut = len(ids) - max_length, ids
    for _ in range(_MAX_TRIES):
        if drop >= len(prompt_ids):
            drop = len(prompt_ids)
        # A cut inside a multi-byte character decodes to U+FFFD at the edge; it carries nothing, drop it.
        kept = tokenizer.decode(prompt_ids[drop:]).lstrip("\ufffd")
        cut = reward_input_ids(tokenizer, kept, completion)
        if len(cut) <= max_length:
            return Fitted(cut, len(ids), truncated_prompt_tokens=drop)
        if drop == len(prompt_ids):
            break
        drop += len(cut) - max_length
    why = "the completion alone does not fit; shorten it" if drop == len(prompt_ids) else "the cut did not settle"
    return Fitted(None, len(ids), truncated_prompt_tokens=drop, error=(
        f"the item is {len(ids)} tokens and still {len(cut)} with {drop} prompt tokens cut from the left, longer "
        f"than max_length={max_length}: {why}"))
