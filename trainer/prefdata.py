"""Preference data for DPO and KTO: read, checked row by row, and put into the form TRL trains on.

    pairs = read_preference_rows("prefs.jsonl")                      # DPO: [{prompt, chosen, rejected}, ...]
    unpaired = read_kto_rows("scored.jsonl", label_threshold=1.0)    # KTO: [{prompt, completion, label}, ...]

Rows (JSONL read line by line, so an error names the line; `.json`, `.parquet` or a saved dataset name the row):

- DPO: `{prompt, chosen, rejected}` with texts, as `referee prefs` and `referee best-of-n` write them, or TRL's
  conversational form (`prompt` a list of `{role, content}` messages, `chosen`/`rejected` lists of assistant
  messages). A row without `prompt` whose `chosen` and `rejected` are whole conversations has its prompt
  taken from their shared opening turns (TRL's implicit prompt). Other columns (confidence, scores,
  provenance) are kept in the file and ignored here.
- KTO, unpaired good/bad labels (Ethayarajh et al. 2024), any mix of:
  - `{prompt, completion, label}` with `label` true (desirable) or false;
  - preference rows, unpaired: `chosen` becomes a desirable completion, `rejected` an undesirable one;
  - scored rows `{prompt, completion, score}` (or `reward`), e.g. a verifier's 0/1 or a code test pass rate:
    desirable when `score >= --label_threshold`. The threshold has no default because no value fits every
    source (1.0 is "passed" for a verifier, meaningless for a raw reward model); a scored row without a
    threshold is an error. A row whose score is null (unscored) is dropped and counted, never labelled bad.

Bad rows stop the run before anything loads, with one line naming the row and the fix: a missing field, an
empty text, a value of the wrong type, chosen equal to rejected, a label that is not true/false.

`as_conversations` turns text rows into chat messages (a user turn, then an assistant turn) so a chat model
is trained on the same template it answers with; `referee.trainer.eval` generates with that template too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referee.verifiers import ConfigError, jsonl_lines

from .data import read_rows, to_messages

__all__ = ["KTORows", "as_conversations", "read_kto_rows", "read_preference_rows", "read_raw_rows"]

_DPO_FORM = "a DPO row is {prompt, chosen, rejected} (texts, or TRL's conversational form)"
_KTO_FORM = ("a KTO row is {prompt, completion, label}, a scored {prompt, completion, score} (with "
             "--label_threshold), or a preference row {prompt, chosen, rejected}")


def read_raw_rows(spec: str) -> list[tuple[str, Any]]:
    """(where, row) for each row of `spec`: `file.jsonl:N` by line for JSONL (read as text, so one bad line is
    named and rows may differ in shape), `spec row N` otherwise."""
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".jsonl" and path.is_file():
        out = []
        for n, line in jsonl_lines(path):
            try:
                out.append((f"{spec}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{spec}:{n}: not JSON ({exc.msg} at column {exc.colno}); each line is one "
                                  "JSON object") from exc
        return out
    if not path.exists():
        raise ConfigError(f"--data {spec!r} does not exist; give a .jsonl, .json or .parquet file or a saved dataset "
                          "of preference rows (e.g. written by `referee prefs` or `referee best-of-n`)")
    return [(f"{spec} row {n}", row) for n, row in enumerate(read_rows(spec), 1)]


def _is_messages(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in value))


def _text(where: str, row: Mapping[str, Any], key: str, form: str, *, allow_empty: bool = False) -> Any:
    if key not in row or row[key] is None:
        raise ConfigError(f"{where}: missing {key!r}; {form}")
    value = row[key]
    if isinstance(value, str):
        if not value.strip() and not allow_empty:
            raise ConfigError(f"{where}: {key!r} is empty; drop the row or give the text")
        return value
    if _is_messages(value):
        if not allow_empty and not any(m["content"].strip() for m in value):
            raise ConfigError(f"{where}: {key!r} has no text in its messages; drop the row or give the text")
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise ConfigError(f"{where}: {key!r} must be text or a list of {{role, content}} messages, got "
                      f"{type(value).__name__} {value!r:.80}")


def _prompt(where: str, row: Mapping[str, Any], form: str) -> Any:
    return _text(where, row, "prompt", form, allow_empty=True)


def _pair(where: str, row: Any) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ConfigError(f"{where}: expected a JSON object, got {type(row).__name__}; {_DPO_FORM}")
    chosen, rejected = _text(where, row, "chosen", _DPO_FORM), _text(where, row, "rejected", _DPO_FORM)
    if "prompt" not in row and isinstance(chosen, list) and isinstance(rejected, list):
        from trl.data_utils import extract_prompt  # TRL's implicit prompt: the shared opening turns

        row = extract_prompt({"chosen": chosen, "rejected": rejected})
        chosen, rejected = row["chosen"], row["rejected"]
        if not row["prompt"]:
            raise ConfigError(f"{where}: no 'prompt', and chosen and rejected share no opening turn to take it from; "
                              f"{_DPO_FORM}")
    if chosen == rejected:
        raise ConfigError(f"{where}: chosen and rejected are the same: there is nothing to prefer; drop the row")
    return {"prompt": _prompt(where, row, _DPO_FORM), "chosen": chosen, "rejected": rejected}


def read_preference_rows(spec: str, *, max_rows: int | None = None) -> list[dict[str, Any]]:
    """The `{prompt, chosen, rejected}` rows of `spec`, checked (module docstring)."""
    rows = [_pair(where, row) for where, row in read_raw_rows(spec)]
    if not rows:
        raise ConfigError(f"--data {spec!r} has no rows; {_DPO_FORM}")
    return rows[:max_rows] if max_rows is not None else rows


@dataclass
class KTORows:
    """Unpaired rows for KTO and how they were labelled: `dropped` counts rows left out (unscored)."""

    rows: list[dict[str, Any]]
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def desirable(self) -> int:
        return sum(1 for r in self.rows if r["label"])

    @property
    def undesirable(self) -> int:
        return len(self.rows) - self.desirable

    def summary(self) -> str:
        dropped = "".join(f"; dropped {n} {why}" for why, n in self.dropped.items())
        return f"{len(self.rows)} KTO rows: {self.desirable} desirable, {self.undesirable} undesirable{dropped}"


def _label(where: str, row: Mapping[str, Any], threshold: float | None) -> bool | None:
    """The row's label: its `label`, or its score against `threshold`; None for an unscored row."""
    if "label" in row:
        label = row["label"]
        if isinstance(label, bool) or label in (0, 1):
            return bool(label)
        raise ConfigError(f"{where}: 'label' must be true (desirable) or false, got {label!r}")
    key = next((k for k in ("score", "reward") if k in row), None)
    if key is None:
        raise ConfigError(f"{where}: a completion without a 'label' or a 'score'; {_KTO_FORM}")
    score = row[key]
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ConfigError(f"{where}: {key!r} must be a finite number or null (unscored), got {score!r}")
    if threshold is None:
        raise ConfigError(f"{where}: the row has a {key} but no label; give --label_threshold T to label "
                          f"completions scoring >= T desirable (e.g. 1.0 for a verifier's pass)")
    return float(score) >= threshold


def read_kto_rows(spec: str, *, label_threshold: float | None = None, max_rows: int | None = None) -> KTORows:
    """The unpaired `{prompt, completion, label}` rows of `spec` (module docstring)."""
    out = KTORows([])
    for where, row in read_raw_rows(spec):
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(row).__name__}; {_KTO_FORM}")
        if "completion" not in row and ("chosen" in row or "rejected" in row):
            pair = _pair(where, row)
            out.rows += [{"prompt": pair["prompt"], "completion": pair["chosen"], "label": True},
                         {"prompt": pair["prompt"], "completion": pair["rejected"], "label": False}]
            continue
        completion = _text(where, row, "completion", _KTO_FORM)
        label = _label(where, row, label_threshold)
        if label is None:
            out.dropped["unscored"] += 1
            continue
        out.rows.append({"prompt": _prompt(where, row, _KTO_FORM), "completion": completion, "label": label})
    if max_rows is not None:
        out.rows = out.rows[:max_rows]
    if not out.rows:
        why = f" (every row was unscored: {out.dropped['unscored']})" if out.dropped else ""
        raise ConfigError(f"--data {spec!r} has no labelled rows to train on{why}; {_KTO_FORM}")
    if not out.desirable or not out.undesirable:
        raise ConfigError(f"--data {spec!r}: {out.summary()}; KTO needs both desirable and undesirable completions "
                          "to contrast (with scored rows, check --label_threshold)")
    return out


def as_conversations(rows: Sequence[dict[str, Any]], keys: Sequence[str],
                     system_prompt: str | None = None) -> list[dict[str, Any]]:
    """`rows` with `prompt` as a conversation (after `system_prompt`) and each of `keys` as assistant messages."""
    out = []
    for row in rows:
        new = dict(row)
        new["prompt"] = to_messages(row["prompt"], system_prompt)
        for key in keys:
            if isinstance(row[key], str):
                new[key] = [{"role": "assistant", "content": row[key]}]
        out.append(new)
    return out
