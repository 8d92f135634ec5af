"""Training configuration and data: TRL-style parsing with our defaults, column mapping, built-in sets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from referee.service.client import RewardServiceError
from referee.service.local import free_port
from referee.trainer import ServiceReward
from referee.trainer.config import RefereeArgs, parse_train_args
from referee.trainer.data import load_prompts
from referee.trainer.datasets import builtin_rows
from referee.trainer.datasets.arithmetic import problems
from referee.trainer.run import TrainingError, UnscoredWatch
from referee.verifiers import ConfigError, Score, UnscoredReason, parse_source


def test_defaults_keep_a_small_kl_penalty_on() -> None:
    args, grpo, model = parse_train_args([])
    assert grpo.beta == 0.04 and grpo.num_generations == 4 and grpo.logging_steps == 1
    assert args.source == "math" and args.dataset == "arithmetic" and model.model_name_or_path == "embedded"
    assert not grpo.bf16  # no GPU here
    _, off, _ = parse_train_args(["--beta", "0"])
    assert off.beta == 0.0


def test_yaml_config_then_flags_override_it(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("source: exact\nbeta: 0.02\nmax_steps: 7\nlearning_rate: 3.0e-6\nuse_peft: true\n"
                   "source_options: {case_sensitive: true}\n")
    args, grpo, model = parse_train_args(["--config", str(cfg), "--max-steps", "9"])
    assert (args.source, grpo.beta, grpo.max_steps, grpo.learning_rate) == ("exact", 0.02, 9, 3e-6)
    assert model.use_peft and args.reward_spec() == ("exact", {"case_sensitive": True})


def test_a_weighted_mix_by_name() -> None:
    args = RefereeArgs(source="math:1.0,judge:0.2", source_options='{"judge": {"x": 1}, "on_unscored": "skip"}')
    source, options = args.reward_spec()
    assert source == [{"source": "math", "weight": 1.0, "options": {}},
                      {"source": "judge", "weight": 0.2, "options": {"x": 1}}]
    assert options == {"on_unscored": "skip"}
    assert parse_source("code").components == (("code", 1.0),) and not parse_source("code").is_mix


@pytest.mark.parametrize(("bad", "message"), [
    ("", "'' is not a source name"),
    ("math:x", "weight 'x' of 'math' is not a finite number"),
    ("math:inf", "weight 'inf' of 'math' is not a finite number"),
    ("math,math", "names 'math' twice"),
    ("math:1,:2", "':2' is not a source name"),
    ("math judge", "'math judge' is not a source name"),
])
def test_a_malformed_source_fails_fast_with_the_syntax(bad: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RefereeArgs(source=bad)


def test_options_of_a_mix_must_name_its_components() -> None:
    with pytest.raises(ConfigError, match=r"'judg' name no component of the mix math:1,judge:0\.2"):
        RefereeArgs(source="math:1,judge:0.2", source_options='{"judg": {"x": 1}}')


def test_arithmetic_has_gold_answers_and_a_disjoint_held_out_set() -> None:
    for level in ("easy", "multistep"):
        train, held = problems(3000, level=level), problems(200, split="heldout", level=level)
        assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
        assert problems(5, level=level) == problems(5, level=level)  # deterministic
        for row in train[:200]:
            assert row["reference"].isdigit() and "The answer is N." in row["prompt"]
    assert builtin_rows("arithmetic-multistep", "heldout", 3) == problems(3, split="heldout", level="multistep")
    assert len(builtin_rows("code", "train")) == 8 and len(builtin_rows("code", "heldout")) == 4
    assert all(r["metadata"]["entry_point"] in r["reference"] for r in builtin_rows("code", "train"))
    assert builtin_rows("open", "heldout") and "reference" not in builtin_rows("open", "train")[0]


def test_local_jsonl_with_column_mapping_and_a_split_off_held_out_set(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"q": f"What is {i}+1?", "a": i + 1, "meta": {"i": i}} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = RefereeArgs(dataset=str(path), prompt_column="q", reference_column="a", metadata_column="meta",
                       heldout_size=3, system_prompt="Be brief.")
    train, held = load_prompts(args, seed=0)
    assert len(train) == 7 and len(held) == 3
    row = train[0]
    assert row["prompt"][0] == {"role": "system", "content": "Be brief."} and row["prompt"][1]["role"] == "user"
    assert row["reference"] == str(int(row["prompt"][1]["content"].split()[2].rstrip("+1?")) + 1)
    assert json.loads(row["metadata"]).keys() == {"i"}
    assert {r["prompt"][1]["content"] for r in held}.isdisjoint(r["prompt"][1]["content"] for r in train)


def test_parquet_and_saved_datasets(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    ds = Dataset.from_list([{"prompt": f"p{i}", "reference": str(i)} for i in range(6)])
    ds.to_parquet(str(tmp_path / "d.parquet"))
    DatasetDict({"train": ds, "test": ds.select(range(2))}).save_to_disk(str(tmp_path / "saved"))
    train, _ = load_prompts(RefereeArgs(dataset=str(tmp_path / "d.parquet"), heldout_size=2))
    assert len(train) == 4
    train, _ = load_prompts(RefereeArgs(dataset=str(tmp_path / "saved"), dataset_split="test", heldout_size=0))
    assert len(train) == 2
    with pytest.raises(ConfigError, match="no split 'dev'"):
        load_prompts(RefereeArgs(dataset=str(tmp_path / "saved"), dataset_split="dev"))


def test_missing_dataset_and_missing_column_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="built-in set"):
        load_prompts(RefereeArgs(dataset="gsm8k"))
    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "x"}\n' * 5)
    with pytest.raises(ConfigError, match="--prompt_column"):
        load_prompts(RefereeArgs(dataset=str(path), heldout_size=1))


def test_reward_gives_up_after_its_deadline_when_nothing_listens() -> None:
    reward = ServiceReward(f"http://127.0.0.1:{free_port()}", source="exact", retries=0, deadline=0.5)
    with pytest.raises(RewardServiceError, match=r"did not answer .*deadline 0.5s"):
        asyncio.run(reward(prompts=["q"], completions=["1"], reference=["1"]))


def test_cli_help_lists_ours_first_then_trls() -> None:
    out = subprocess.run([sys.executable, "-m", "referee", "train", "--help"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    flags = [line.split()[0] for line in out.splitlines() if line.startswith("  --")]
    assert flags[:3] == ["--algo", "--config", "--source"]
    for flag in ("--source", "--service_url", "--heldout_steps", "--resume", "--beta", "--use_vllm", "--use_peft"):
        assert flag in flags, flag
    assert flags.index("--max_unscored_steps") < flags.index("--output_dir") < flags.index("--model_name_or_path")
    assert out.index("referee: algorithm") < out.index("TRL GRPOConfig") < out.index("TRL ModelConfig")
    assert "--max-steps" not in out and "(default: 0.04)" in out  # one spelling shown; our defaults shown


def _train_cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referee", "train", *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr[-3000:]
    assert run.stderr.startswith("referee train: error: ")
    return run.stderr.strip()


def test_a_typo_in_a_config_key_or_flag_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("source: exact\nmax_stepz: 3\n")
    line = _one_line(_train_cli("--config", str(cfg), cwd=tmp_path))
    assert f"--config {cfg}: unknown key 'max_stepz' (did you mean 'max_steps'?)" in line
    line = _one_line(_train_cli("--max-stepz", "3", cwd=tmp_path))
    assert "unknown flag '--max-stepz' (did you mean '--max-steps'?)" in line
    line = _one_line(_train_cli("--algo", "ppo", "--ppo_epoch", "3", cwd=tmp_path))  # no abbreviations either
    assert "(did you mean '--ppo_epochs'?)" in line
    cfg.write_text("learning_rate: fast\n")
    assert "learning_rate: 'fast' is not a valid value" in _one_line(_train_cli("--config", str(cfg), cwd=tmp_path))


def test_yaml_numbers_read_as_text_are_typed_like_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("learning_rate: 1e-5\nmax_steps: '3'\n")  # YAML 1.1 reads 1e-5 as a string
    _, grpo, _ = parse_train_args(["--config", str(cfg)])
    assert grpo.learning_rate == 1e-5 and grpo.max_steps == 3


def test_a_service_that_is_down_stops_train_with_one_line(tiny_model: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = _one_line(_train_cli("--service_url", url, "--source", "exact", "--model_name_or_path", str(tiny_model),
                                "--output_dir", str(tmp_path / "run"), "--max_steps", "1", cwd=tmp_path))
    assert f"the reward service at {url} is not reachable" in line


def test_unscored_watch_names_the_reason_and_resets_on_a_scored_step() -> None:
    args = RefereeArgs(source="code", dataset="arithmetic", max_unscored_steps=2)
    watch = UnscoredWatch(args)
    unscored = [Score.unscored(UnscoredReason.INVALID_REFERENCE, "the reference holds no tests", source="code",
                               version="1")] * 4
    watch.observe(unscored)
    watch.observe([*unscored[:3], Score(value=0.0, source="code", version="1")])  # one scored item: signal
    watch.observe(unscored)
    with pytest.raises(TrainingError, match=r"last 2 steps was unscored \(invalid_reference: 8\) \(e\.g\. the "
                       r"reference holds no tests\).*Column 'reference' of dataset 'arithmetic' does not hold what "
                       r"source 'code' checks.*--reference_column NAME"):
        watch.observe(unscored)


def test_cli_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "referee", "train", "--source", "mathh", "--output_dir",
                          str(tmp_path / "run"), "--model_name_or_path", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "source 'mathh' is not registered; available:" in run.stderr and "math" in run.stderr
