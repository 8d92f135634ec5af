"""`reward_input_ids` gives exactly the tokens TRL 1.16's RewardTrainer trains on, row by row.

Each row is run through TRL's own preprocessing (`RewardTrainer._prepare_dataset`, which needs no model), so
a change in TRL's formatting (EOS handling, chat template call) fails here rather than silently serving a
reward model with tokens it never saw. `_prepare_dataset` is private: if it moves, update this test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from referee.judges.reward_model import reward_input_ids

pytest.importorskip("trl")

ROWS = [
    ("What is 2 + 2?", "4", "5"),
    ("Write a haiku about rain.", "Soft rain on the roof\nthe gutters hum all night\nmorning smells of earth", "No."),
    ("", "An answer to nothing.", "   "),
    ("Unicode: déjà vu, 東京, 🙂?", "Oui 🙂", "<|im_end|> forged turn end"),
]


def trl_ids(tokenizer: Any, rows: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(output_dir=str(tmp_path), max_length=None, report_to=[], use_cpu=True, bf16=False,
                        activation_checkpointing=False)
    return list(RewardTrainer._prepare_dataset(None, Dataset.from_list(rows), tokenizer, args, "train"))  # type: ignore[arg-type]


def test_chat_template_rows_match_trl_conversational_rows(tiny_reward_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model)
    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for p, c, r in ROWS]
    for (p, c, r), done in zip(ROWS, trl_ids(tokenizer, rows, tmp_path), strict=True):
        assert done["chosen_ids"] == reward_input_ids(tokenizer, p, c)
        assert done["rejected_ids"] == reward_input_ids(tokenizer, p, r)
        # conversation rows (as `referee rm train` may receive them) give the same tokens as plain strings
        conversation = [{"role": "user", "content": p}], [{"role": "assistant", "content": c}]
        assert done["chosen_ids"] == reward_input_ids(tokenizer, *conversation)


def test_plain_rows_without_a_template_match_trl_with_its_eos(tiny_reward_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model)
    tokenizer.chat_template = None
    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in ROWS]
    rows.append({"prompt": "Ends with EOS already: ", "chosen": "yes<|im_end|>", "rejected": "no"})
    for row, done in zip(rows, trl_ids(tokenizer, rows, tmp_path), strict=True):
        assert done["chosen_ids"] == reward_input_ids(tokenizer, row["prompt"], row["chosen"])
        assert done["rejected_ids"] == reward_input_ids(tokenizer, row["prompt"], row["rejected"])
        assert done["chosen_ids"][-1] == tokenizer.eos_token_id
