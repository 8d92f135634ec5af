"""The rows DPO and KTO train on: every accepted form, and every bad row named with its line and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from referee.trainer.prefdata import as_conversations, read_kto_rows, read_preference_rows
from referee.verifiers import ConfigError

CONVERSATION = {"prompt": [{"role": "user", "content": "2 + 2?"}],
                "chosen": [{"role": "assistant", "content": "4"}],
                "rejected": [{"role": "assistant", "content": "5"}]}


def _file(tmp_path: Path, *rows: Any) -> str:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_every_pair_form_is_read(tmp_path: Path) -> None:
    best_of_n = {"prompt": "3 + 4?", "chosen": "7", "rejected": "8", "score_chosen": 1.0, "score_rejected": 0.0,
                 "reference": "7", "provenance": {"chosen": {"source": "math"}}, "sampling": {"n": 4}}
    prefs = {"prompt": "Hi", "chosen": "Hello!", "rejected": "go away", "confidence": 0.7, "consistent": True}
    implicit = {"chosen": [*CONVERSATION["prompt"], *CONVERSATION["chosen"]],
                "rejected": [*CONVERSATION["prompt"], *CONVERSATION["rejected"]]}
    rows = read_preference_rows(_file(tmp_path, best_of_n, prefs, CONVERSATION, implicit, ""))
    assert rows[0] == {"prompt": "3 + 4?", "chosen": "7", "rejected": "8"}  # extra columns are not trained on
    assert rows[1]["chosen"] == "Hello!"
    assert rows[2] == CONVERSATION and rows[3] == CONVERSATION  # the implicit prompt is the shared opening turn
    assert as_conversations(rows[:1], ("chosen", "rejected"), "Be brief.") == [{
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "3 + 4?"}],
        "chosen": [{"role": "assistant", "content": "7"}], "rejected": [{"role": "assistant", "content": "8"}]}]


@pytest.mark.parametrize(("row", "message"), [
    ({"prompt": "p", "chosen": "a"}, r"rows.jsonl:2: missing 'rejected'; a DPO row is \{prompt, chosen, rejected\}"),
    ({"prompt": "p", "chosen": "  ", "rejected": "b"}, "rows.jsonl:2: 'chosen' is empty"),
    ({"prompt": "p", "chosen": 4, "rejected": "b"}, "rows.jsonl:2: 'chosen' must be text or a list of"),
    ({"prompt": 7, "chosen": "a", "rejected": "b"}, "rows.jsonl:2: 'prompt' must be text"),
    ({"prompt": "p", "chosen": "same", "rejected": "same"}, "rows.jsonl:2: chosen and rejected are the same"),
    ({"chosen": "a", "rejected": "b"}, r"rows.jsonl:2: missing 'prompt'; a DPO row is"),
    ("{not json", r"rows.jsonl:2: not JSON"),
    (["p", "a", "b"], "rows.jsonl:2: expected a JSON object, got list"),
])
def test_a_bad_pair_is_named_by_its_line(tmp_path: Path, row: Any, message: str) -> None:
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    with pytest.raises(ConfigError, match=message):
        read_preference_rows(_file(tmp_path, good, row))


def test_missing_or_empty_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_preference_rows(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match="has no rows"):
        read_preference_rows(_file(tmp_path, ""))


def test_kto_reads_labels_pairs_and_scores(tmp_path: Path) -> None:
    loaded = read_kto_rows(_file(
        tmp_path,
        {"prompt": "a", "completion": "x", "label": True},
        {"prompt": "b", "completion": "y", "label": 0},
        {"prompt": "c", "chosen": "good", "rejected": "bad"},
        {"prompt": "d", "completion": "z", "score": 1.0, "provenance": {"source": "math"}},
        {"prompt": "e", "completion": "w", "reward": 0.25},
        {"prompt": "f", "completion": "v", "score": None},  # unscored: dropped, never a bad example
    ), label_threshold=1.0)
    assert [(r["prompt"], r["completion"], r["label"]) for r in loaded.rows] == [
        ("a", "x", True), ("b", "y", False), ("c", "good", True), ("c", "bad", False), ("d", "z", True),
        ("e", "w", False)]
    assert loaded.summary() == "6 KTO rows: 3 desirable, 3 undesirable; dropped 1 unscored"


@pytest.mark.parametrize(("rows", "threshold", "message"), [
    ([{"prompt": "a", "completion": "x", "score": 1.0}], None,
     r"rows.jsonl:1: the row has a score but no label; give --label_threshold T"),
    ([{"prompt": "a", "completion": "x", "label": "yes"}], None, "rows.jsonl:1: 'label' must be true"),
    ([{"prompt": "a", "completion": "x", "score": "high"}], 1.0, "rows.jsonl:1: 'score' must be a finite number"),
    ([{"prompt": "a", "completion": "x"}], None, "rows.jsonl:1: a completion without a 'label' or a 'score'"),
    ([{"prompt": "a", "completion": "x", "score": None}] * 2, 1.0,
     r"no labelled rows to train on \(every row was unscored: 2\)"),
    ([{"prompt": "a", "completion": "x", "score": 1.0}, {"prompt": "b", "completion": "y", "score": 1.0}], 0.5,
     "2 desirable, 0 undesirable; KTO needs both"),
])
def test_bad_kto_rows(tmp_path: Path, rows: list[dict[str, Any]], threshold: float | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_kto_rows(_file(tmp_path, *rows), label_threshold=threshold)
