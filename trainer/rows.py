"""Training rows read from a JSONL file and checked one by one: SFT rows and preference pairs.

    pairs = read_preference_rows(Path("pairs.jsonl"))    # [PreferenceRow(prompt, chosen, rejected, line), ...]
    rows = read_sft_rows(Path("sft.jsonl"))               # [SFTRow(prompt, completion, messages, line), ...]

Accepted forms (TRL's, plus what `referee best-of-n` and `referee prefs` write; other keys are ignored):

- preference, standard: `{"prompt": "...", "chosen": "...", "rejected": "..."}`;
- preference, conversational: `prompt`, `chosen` and `rejected` as lists of `{role, content}` messages (a
  conversational row may leave out `prompt` when `chosen` and `rejected` hold the whole conversations);
- SFT: `{"prompt": ..., "completion": ...}` (text or messages), or `{"messages": [...]}` (a whole chat).

A bad row is a `DataError` naming the file, the line and the problem (a missing field, a wrong type, an empty
text, chosen equal to rejected), with how many other lines are bad too, before any model is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from referee.verifiers import ConfigError, jsonl_lines

__all__ = ["DataError", "Messages", "PreferenceRow", "SFTRow", "Text", "prompt_of", "read_preference_rows",
           "read_sft_rows", "split_by_prompt"]

Messages = list[dict[str, str]]
Text = str | Messages
_ROLES = ("system", "user", "assistant", "tool")


class DataError(ConfigError):
    """A training file holds a row that cannot be trained on."""


class _Bad(Exception):
    """One row's problem (becomes a DataError naming the line)."""


@dataclass(frozen=True)
class PreferenceRow:
    prompt: Text
    chosen: Text
    rejected: Text
    line: int


@dataclass(frozen=True)
class SFTRow:
    prompt: Text | None
    completion: Text | None
    messages: Messages | None
    line: int


def _text(row: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> Text:
    if key not in row:
        raise _Bad(f"missing field {key!r}")
    value = row[key]
    if isinstance(value, str):
        if not value.strip() and not allow_empty:
            raise _Bad(f"{key!r} is empty text")
        return value
    if isinstance(value, list):
        return _messages(value, key, allow_empty=allow_empty)
    raise _Bad(f"{key!r} must be text or a list of {{role, content}} messages, got {type(value).__name__}")


def _messages(value: list[Any], key: str, *, allow_empty: bool = False) -> Messages:
    if not value and not allow_empty:
        raise _Bad(f"{key!r} is an empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise _Bad(f"{key}[{i}] must be a message {{\"role\": str, \"content\": str}}, got {json.dumps(m)[:80]}")
        if m["role"] not in _ROLES:
            raise _Bad(f"{key}[{i}] has role {m['role']!r}; roles are {', '.join(_ROLES)}")
        out.append({"role": m["role"], "content": m["content"]})
    if out and not allow_empty and not any(m["content"].strip() for m in out):
        raise _Bad(f"{key!r} holds only empty messages")
    return out


def _preference(row: Mapping[str, Any], line: int) -> PreferenceRow:
    chosen, rejected = _text(row, "chosen"), _text(row, "rejected")
    if isinstance(chosen, str) != isinstance(rejected, str):
        raise _Bad("'chosen' and 'rejected' must both be text or both be messages")
    if "prompt" in row or isinstance(chosen, str):
        prompt = _text(row, "prompt", allow_empty=isinstance(chosen, list))
    else:
        prompt = []  # the implicit-prompt form: chosen and rejected are the whole conversations
    if isinstance(prompt, str) != isinstance(chosen, str):
        raise _Bad("'prompt' must be text when 'chosen' and 'rejected' are text, and messages when they are messages")
    if chosen == rejected:
        raise _Bad("'chosen' equals 'rejected': a pair must prefer one reply over a different one")
    return PreferenceRow(prompt, chosen, rejected, line)


def _sft(row: Mapping[str, Any], line: int) -> SFTRow:
    if "messages" in row:
        value = row["messages"]
        if not isinstance(value, list):
            raise _Bad(f"'messages' must be a list of {{role, content}} messages, got {type(value).__name__}")
        messages = _messages(value, "messages")
        if not any(m["role"] == "assistant" for m in messages):
            raise _Bad("'messages' has no assistant turn to learn from")
        return SFTRow(None, None, messages, line)
    if "completion" not in row and "prompt" not in row:
        raise _Bad("expected {prompt, completion} or {messages}, found neither")
    completion = _text(row, "completion")
    prompt = _text(row, "prompt")
    if isinstance(prompt, str) != isinstance(completion, str):
        raise _Bad("'prompt' and 'completion' must both be text or both be messages")
    return SFTRow(prompt, completion, None, line)


Row = TypeVar("Row")


def _read(path: Path, parse: Callable[[Mapping[str, Any], int], Row], expected: str) -> list[Row]:
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a JSONL file of {expected} rows")
    rows: list[Row] = []
    bad: list[str] = []
    for line, text in jsonl_lines(path, DataError):
        try:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _Bad(f"not JSON ({exc.msg} at column {exc.colno})") from exc
            except RecursionError as exc:
                raise _Bad("JSON nested too deeply") from exc
            if not isinstance(obj, Mapping):
                raise _Bad(f"expected a JSON object, got {type(obj).__name__}")
            rows.append(parse(obj, line))
        except _Bad as exc:
            bad.append(f"line {line}: {exc}")
    if bad:
        more = f" ({len(bad) - 1} more bad line(s), the next: {bad[1]})" if len(bad) > 1 else ""
        raise DataError(f"{path}, {bad[0]}{more}; each line must be a JSON object {expected}; fix or remove the "
                        "line(s)")
    if not rows:
        raise DataError(f"{path} holds no rows; give a JSONL file of {expected} rows")
    return rows


def read_preference_rows(path: Path) -> list[PreferenceRow]:
    return _read(Path(path), _preference, "{prompt, chosen, rejected} (text or messages)")


def read_sft_rows(path: Path) -> list[SFTRow]:
    return _read(Path(path), _sft, "{prompt, completion} or {messages}")


def prompt_of(row: PreferenceRow | SFTRow) -> Text:
    """What a row answers: its prompt, or (implicit prompt, whole chats) the turns before the last reply."""
    if row.prompt:
        return row.prompt
    whole = row.chosen if isinstance(row, PreferenceRow) else row.messages
    return list(whole)[:-1] if isinstance(whole, list) else []


def split_by_prompt(rows: Sequence[Row], fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """(train, held-out): about `fraction` of the rows held out, whole prompts at a time, so no held-out row
    shares its prompt with a training row."""
    import random

    if fraction <= 0:
        return list(rows), []
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(json.dumps(prompt_of(row), sort_keys=True), []).append(row)  # type: ignore[arg-type]
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = max(1, round(fraction * len(rows)))
    held: list[Row] = []
    for key in keys:
        if len(held) >= target:
            break
        held.extend(groups[key])
    held_ids = {id(r) for r in held}
    train = [r for r in rows if id(r) not in held_ids]
    if not train:
        raise DataError(f"holding out {fraction:.0%} of {len(rows)} rows leaves none to train on; lower "
                        "--eval_fraction or give more rows")
    return train, sorted(held, key=lambda r: r.line)  # type: ignore[attr-defined]
