"""`referee best-of-n`: a tiny policy sampled for real, scored by the real service on loopback.

The tiny model writes gibberish, so the pairs come from the `wordcount` test plugin (a reward that varies with
the length of any text); `exact` against references the model never writes gives the ties.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from referee.cli import main as referee_main
from referee.service.local import LocalService
from referee.trainer.best_of_n import parse_best_of_n_args, pick, run
from referee.verifiers import ConfigError, Score, UnscoredReason

pytestmark = pytest.mark.slow


def _data(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _argv(model: Path, data: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(model), "--dataset", str(data), "--service_url", url, "--n", "4",
            "--max_new_tokens", "12", "--temperature", "1.0", "--batch_size", "2", "--output_dir", str(out), *extra]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_are_the_best_and_worst_scored_samples_with_provenance(tiny_model: Path, tmp_path: Path,
                                                                      service: LocalService) -> None:
    data = _data(tmp_path, [{"prompt": f"Write about topic {i}.", "reference": str(i)} for i in range(5)])
    out = tmp_path / "bon"
    summary = run(parse_best_of_n_args(_argv(tiny_model, data, out, service.url, "--source", "wordcount",
                                             "--source_options", '{"target": 6}')))

    samples, pairs, sft = _rows(out / "samples.jsonl"), _rows(out / "pairs.jsonl"), _rows(out / "sft.jsonl")
    assert len(samples) == 20 and len(sft) == 5
    assert summary["pairs"] == len(pairs) > 0
    assert summary["pairs"] + sum(summary["pairs_dropped"].values()) == 5
    assert not list(out.glob("*.partial"))
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        by_prompt.setdefault(s["prompt"], []).append(s)
    for pair in pairs:
        group = by_prompt[pair["prompt"]]
        values = [s["score"] for s in group]
        assert pair["score_chosen"] == max(values) > pair["score_rejected"] == min(values)
        assert {pair["chosen"], pair["rejected"]} <= {s["completion"] for s in group}
        assert pair["chosen"] != pair["rejected"]
        for side in ("chosen", "rejected"):
            provenance = pair["provenance"][side]
            assert (provenance["source"], provenance["version"]) == ("wordcount", "0.1")
            assert provenance["details"]["words"] == len(pair[side].split())
        assert pair["sampling"] == {"model": str(tiny_model), "n": 4, "temperature": 1.0, "top_p": 1.0,
                                    "max_new_tokens": 12, "seed": 0}
        assert pair["reference"] is not None
    for row in sft:
        assert row["score"] == max(s["score"] for s in by_prompt[row["prompt"]])
        assert row["provenance"]["source"] == "wordcount"

    # The same seed samples the same completions.
    again = tmp_path / "again"
    run(parse_best_of_n_args(_argv(tiny_model, data, again, service.url, "--source", "wordcount",
                                   "--source_options", '{"target": 6}')))
    assert _rows(again / "samples.jsonl") == samples

    # --pairs all: every (higher, lower) combination of a prompt's samples, the same samples.
    every = tmp_path / "every"
    summary = run(parse_best_of_n_args(_argv(tiny_model, data, every, service.url, "--source", "wordcount",
                                             "--source_options", '{"target": 6}', "--pairs", "all")))
    expected = [(p, a["completion"], b["completion"]) for p, group in by_prompt.items()
                for a in group for b in group if a["score"] > b["score"]]
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in _rows(every / "pairs.jsonl")] == expected
    assert summary["pairs"] == len(expected) > len(pairs) and summary["pair_prompts"] == len(pairs)


def test_ties_and_unscored_items_make_no_pair_and_are_counted(tiny_model: Path, tmp_path: Path,
                                                              service: LocalService) -> None:
    # `exact` scores every gibberish completion 0.0 where there is a reference (a tie), and cannot score
    # those of the prompts without one (unscored, no_reference).
    rows = [{"prompt": f"Say {i}.", "reference": f"gold answer {i}" if i % 2 else None} for i in range(6)]
    out = tmp_path / "bon"
    summary = run(parse_best_of_n_args(_argv(tiny_model, _data(tmp_path, rows), out, service.url,
                                             "--source", "exact", "--sft_min_score", "1.0")))
    assert summary["pairs"] == 0 and (out / "pairs.jsonl").read_text() == ""
    assert summary["pairs_dropped"] == {"tie": 3, "all_unscored": 3}
    assert summary["unscored_completions"] == {"no_reference": 12}
    assert summary["sft_rows"] == 0 and summary["sft_dropped"] == {"below_min_score": 3, "all_unscored": 3}
    unscored = [s for s in _rows(out / "samples.jsonl") if s["score"] is None]
    assert len(unscored) == 12 and all(s["provenance"]["reason"] == "no_reference" for s in unscored)
    assert json.loads((out / "summary.json").read_text()) == summary


def _score(value: float | None) -> Score:
    if value is None:
        return Score(value=None, reason=UnscoredReason.TIMEOUT, source="t", version="1")
    return Score(value=value, source="t", version="1")


@pytest.mark.parametrize(("values", "expected"), [
    ([0.0, 1.0, 0.0, 1.0], (1, 0, None)),  # the first of equals, on both sides
    ([None, 1.0, 0.0], (1, 2, None)),  # an unscored item is neither chosen nor rejected
    ([1.0, None, None], (0, None, "one_scored")),
    ([None, None], (None, None, "all_unscored")),
    ([0.5, 0.5, 0.5], (0, None, "tie")),
    ([0.2, -1.0, 3.5], (2, 1, None)),  # any scale: a reward model's raw rewards
])
def test_pick(values: list[float | None], expected: tuple[int | None, int | None, str | None]) -> None:
    assert pick([_score(v) for v in values]) == expected


def test_an_earlier_runs_files_are_kept_unless_overwrite(tiny_model: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bon"
    out.mkdir()
    (out / "pairs.jsonl").write_text("{}\n")
    argv = _argv(tiny_model, _data(tmp_path, [{"prompt": "x"}]), out, "http://127.0.0.1:9", "--source", "exact")
    assert referee_main(["best-of-n", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("referee best-of-n: error:") and "--overwrite true" in err and "\n" not in err
    assert (out / "pairs.jsonl").read_text() == "{}\n"


@pytest.mark.parametrize(("flags", "message"), [
    (["--temperature", "0"], "temperature must be > 0"),
    (["--top_p", "1.5"], r"top_p must lie in \(0, 1\]"),
    (["--source", "math:x"], "is not a finite number"),
    (["--backend", "tpu"], "backend must be one of"),
    (["--pairs", "some"], "pairs must be one of best_worst, all"),
])
def test_bad_flags_fail_before_anything_loads(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_best_of_n_args(flags)


@pytest.mark.vllm
def test_vllm_samples_when_installed(tmp_path: Path, service: LocalService) -> None:
    """The vLLM backend, run in vLLM's own environment (`.venv-vllm`) against the real service started here."""
    import os
    import subprocess

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from referee.judges import cache_dir, embedded_model_path

    python = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv-vllm (make setup-vllm)")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(cache_dir()))
    torch.manual_seed(0)
    model = tmp_path / "tiny-vllm"  # head size 64: what vLLM's CPU attention supports
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True,
    )).save_pretrained(model)
    tokenizer.save_pretrained(model)
    data = _data(tmp_path, [{"prompt": f"Write about topic {i}.", "reference": str(i)} for i in range(3)])
    out = tmp_path / "bon"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    run = subprocess.run([str(python), "-m", "referee.trainer.best_of_n",
                          *_argv(model, data, out, service.url, "--source", "wordcount", "--backend", "vllm")],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    samples = _rows(out / "samples.jsonl")
    assert len(samples) == 12 and all(s["provenance"]["source"] == "wordcount" for s in samples)
    assert len({s["completion"] for s in samples}) > 1
