"""The `reward_model` source on a tiny real reward model (`tiny_reward_model`: random weights, real shapes).

The weights mean nothing, so these tests check what must hold whatever the model thinks: the value is the
model's own output for the tokens it was trained on, batching and padding do not change it, provenance
pins the exact model, too-long items follow the stated policy, normalisation uses the manifest, compare is
Bradley-Terry, and every misconfiguration is an error naming the fix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from referee.judges import Pair
from referee.judges.method import sigmoid
from referee.judges.reward_model import (
    MANIFEST_NAME,
    ORDER_SWAP,
    DataRecord,
    EvalRecord,
    Normalization,
    RewardModel,
    RewardModelConfig,
    RewardModelManifest,
    TrainingRecord,
    fit,
    read_manifest,
    reward_input_ids,
    weights_sha256,
    write_manifest,
)
from referee.judges.reward_model.local import plan_batches
from referee.verifiers import ConfigError, Registry, Runtime, Sample, UnscoredReason, score_batch

pytestmark = pytest.mark.slow

SAMPLES = [
    Sample(prompt="What is the capital of France?", completion="The capital of France is Paris."),
    Sample(prompt="What is 2 + 2?", completion="5"),
    Sample(prompt="Say hi.", completion="Hi! " * 40),
]


def rm(rt: Runtime, folder: Path, **options: Any) -> RewardModel:
    return RewardModel(RewardModelConfig.model_validate({"model": str(folder), **options}), rt)


def direct_rewards(folder: Path, rows: list[list[int]]) -> list[float]:
    """The model's reward for each row on its own, by plain transformers: what training computed."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        return [float(model(input_ids=torch.tensor([r])).logits[0, 0]) for r in rows]


def manifest_for(folder: Path, normalization: Normalization | None) -> RewardModelManifest:
    return RewardModelManifest(
        base_model="tiny", weights_sha256=weights_sha256(folder),
        data=DataRecord(path="pairs.jsonl", sha256="0" * 64, rows=10, train_rows=8, eval_rows=2),
        training=TrainingRecord(steps=3, trl_version="1.16.0"),
        eval=EvalRecord(accuracy=0.5, mean_margin=0.0, pairs=2), normalization=normalization)


@pytest.fixture
def rm_copy(tiny_reward_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny reward model, to add a manifest to or break."""
    return Path(shutil.copytree(tiny_reward_model, tmp_path / "my-rm"))


async def test_scores_are_the_models_rewards_with_provenance(runtime: Runtime, tiny_reward_model: Path) -> None:
    from transformers import AutoTokenizer

    source = Registry().create("reward_model", {"model": str(tiny_reward_model)}, runtime)
    scores = await score_batch(source, SAMPLES)
    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model)
    rows = [reward_input_ids(tokenizer, s.prompt, s.completion) for s in SAMPLES]
    expected = direct_rewards(tiny_reward_model, rows)
    for s, want, row in zip(scores, expected, rows, strict=True):
        assert s.value == pytest.approx(want, abs=1e-4), s
        d = s.details
        assert (d["value"], d["normalization"], d["max_length"], d["truncation"]) == ("raw", None, 512, "unscored")
        assert d["tokens"] == len(row)
        m = d["reward_model"]
        assert m["model"] == tiny_reward_model.name and m["architecture"] == "LlamaForSequenceClassification"
        assert m["weights_sha256"] == weights_sha256(tiny_reward_model)
        assert m["chat_template_sha256"] == hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()
        assert m["format"] == "chat_template" and len(m["tokenizer_sha256"]) == 64
        assert (m["backend"], m["device"], m["dtype"], m["manifest"]) == ("local", "cpu", "float32", None)
    assert len({s.value for s in scores}) == 3  # the fixture's head spreads rewards: they differ


def test_weights_fingerprint_is_what_sha256sum_says(tiny_reward_model: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum on this machine")
    listing = subprocess.run("sha256sum model.safetensors | sha256sum", shell=True, cwd=tiny_reward_model,
                             capture_output=True, text=True, check=True).stdout.split()[0]
    assert weights_sha256(tiny_reward_model) == listing


async def test_batching_padding_and_repeats_do_not_change_rewards(runtime: Runtime, tiny_reward_model: Path) -> None:
    big = rm(runtime, tiny_reward_model)
    small = rm(runtime, tiny_reward_model, backend={"local": {"batch_tokens": 256}})
    together = await big.score(SAMPLES)
    again = await big.score(SAMPLES)
    assert [s.value for s in together] == [s.value for s in again]  # deterministic: same batch, same bits
    alone = [(await big.score([s]))[0] for s in SAMPLES]
    budgeted = await small.score(SAMPLES)
    for t, a, b in zip(together, alone, budgeted, strict=True):
        assert t.value == pytest.approx(a.value, abs=1e-5) and t.value == pytest.approx(b.value, abs=1e-5)


@pytest.mark.parametrize("lengths, budget", [([5, 300, 20, 20, 7], 64), ([100] * 10, 350), ([1], 1), ([], 10)])
def test_batches_stay_within_the_token_budget(lengths: list[int], budget: int) -> None:
    batches = plan_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget


async def test_too_long_items_are_unscored_and_say_why(runtime: Runtime, tiny_reward_model: Path) -> None:
    long = Sample(prompt="word " * 600, completion="ok")
    scores = await rm(runtime, tiny_reward_model).score([SAMPLES[0], long, SAMPLES[1]])
    assert scores[0].scored and scores[2].scored  # one bad item never fails its batch
    s = scores[1]
    assert s.value is None and s.reason == UnscoredReason.INVALID_INPUT
    assert "max_length=512" in s.details["error"] and "left_truncate_prompt" in s.details["error"]
    assert s.details["tokens"] > 512 and s.details["reward_model"]["weights_sha256"]  # provenance when unscored too
    assert (await rm(runtime, tiny_reward_model, max_chars=100).score([long]))[0].details["chars"] > 100


async def test_left_truncation_keeps_the_end_of_the_prompt(runtime: Runtime, tiny_reward_model: Path) -> None:
    from transformers import AutoTokenizer

    source = rm(runtime, tiny_reward_model, truncation="left_truncate_prompt", max_length=64)
    prompt = " ".join(f"w{i}" for i in range(200))
    cut, short, hopeless = await source.score([Sample(prompt=prompt, completion="fine"), SAMPLES[1],
                                                Sample(prompt="hi", completion="long " * 100)])
    assert cut.value is not None and cut.details["truncated_prompt_tokens"] > 0 and cut.details["tokens"] > 64
    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model)
    fitted = fit(tokenizer, prompt, "fine", 64, "left_truncate_prompt")
    assert fitted.ids is not None and len(fitted.ids) <= 64
    assert tokenizer.decode(fitted.ids).rstrip().endswith("w199<|im_end|>\n<|im_start|>assistant\nfine<|im_end|>")
    assert cut.value == pytest.approx(direct_rewards(tiny_reward_model, [fitted.ids])[0], abs=1e-4)
    assert short.scored and "truncated_prompt_tokens" not in short.details
    assert hopeless.value is None and hopeless.reason == UnscoredReason.INVALID_INPUT
    assert "completion alone does not fit" in hopeless.details["error"]


async def test_normalize_is_the_zscore_from_the_manifest(runtime: Runtime, rm_copy: Path) -> None:
    write_manifest(rm_copy, manifest_for(rm_copy, Normalization(mean=0.25, std=2.0, count=16)))
    raw = await rm(runtime, rm_copy).score(SAMPLES)
    z = await rm(runtime, rm_copy, normalize=True).score(SAMPLES)
    for r, s in zip(raw, z, strict=True):
        assert r.value is not None and s.value == pytest.approx((r.value - 0.25) / 2.0)
        assert s.details["value"] == "zscore" and s.details["raw_reward"] == r.value
        assert s.details["normalization"] == {"mean": 0.25, "std": 2.0, "count": 16, "split": "train",
                                              "from": MANIFEST_NAME}
        assert s.details["reward_model"]["manifest"] == MANIFEST_NAME and r.details["value"] == "raw"


async def test_compare_is_bradley_terry_with_no_order_swap(runtime: Runtime, tiny_reward_model: Path) -> None:
    source = rm(runtime, tiny_reward_model)
    a, b = SAMPLES[0].completion, "Lyon, I think."
    prompt = SAMPLES[0].prompt
    ab, ba, broken = await source.compare([Pair(prompt=prompt, a=a, b=b), Pair(prompt=prompt, a=b, b=a),
                                           Pair(prompt="x " * 600, a=a, b=b)])
    ra, rb = (s.value for s in await source.score([Sample(prompt=prompt, completion=t) for t in (a, b)]))
    assert ra is not None and rb is not None
    assert ab.p_a_better == pytest.approx(sigmoid(ra - rb), abs=1e-5)
    assert ab.p_a_better is not None and ba.p_a_better is not None
    assert ab.p_a_better + ba.p_a_better == pytest.approx(1.0, abs=1e-9)  # exactly antisymmetric
    assert ab.consistent is True and ab.principles == {}
    assert ab.details["order_swap"] == ORDER_SWAP and ab.details["value"] == "bradley_terry"
    assert ab.details["reward_a"] == pytest.approx(ra, abs=1e-5)
    assert broken.p_a_better is None and broken.reason == UnscoredReason.INVALID_INPUT
    assert broken.error is not None and broken.error.startswith("reply a:")


# -- misconfiguration: errors that name the fix ------------------------------------------------------------


def test_no_folder_is_a_config_error_naming_the_setting(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match=r"source_options: \{reward_model: \{model: DIR\}\}"):
        Registry().create("reward_model", {}, runtime)
    with pytest.raises(ConfigError, match="does not exist"):
        Registry().create("reward_model", {"model": "/no/such/folder"}, runtime)


async def test_a_causal_lm_folder_is_refused(runtime: Runtime, tiny_model: Path) -> None:
    source = rm(runtime, tiny_model)
    with pytest.raises(ConfigError, match="LlamaForCausalLM, not a sequence classifier"):
        await source.start()
    [s] = await source.score([SAMPLES[0]])  # used without start(): data, not an exception
    assert s.reason == UnscoredReason.BACKEND_ERROR and "not a sequence classifier" in s.details["error"]


async def test_a_classifier_with_two_outputs_is_refused(runtime: Runtime, rm_copy: Path) -> None:
    config = json.loads((rm_copy / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "bad", "1": "good"}, {"bad": 0, "good": 1}
    (rm_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="with 2 outputs"):
        await rm(runtime, rm_copy).start()


async def test_normalize_without_statistics_is_a_config_error(runtime: Runtime, rm_copy: Path) -> None:
    with pytest.raises(ConfigError, match=f"has no {MANIFEST_NAME}.*rm train"):
        rm(runtime, rm_copy, normalize=True)
    write_manifest(rm_copy, manifest_for(rm_copy, None))
    with pytest.raises(ConfigError, match="has no normalization"):
        rm(runtime, rm_copy, normalize=True)


async def test_a_manifest_for_other_weights_is_refused(runtime: Runtime, rm_copy: Path) -> None:
    manifest = manifest_for(rm_copy, Normalization(mean=0, std=1, count=4))
    write_manifest(rm_copy, manifest.model_copy(update={"weights_sha256": "1" * 64}))
    with pytest.raises(ConfigError, match="changed after training"):
        await rm(runtime, rm_copy).start()


def test_max_length_beyond_the_context_is_a_config_error(runtime: Runtime, tiny_reward_model: Path) -> None:
    with pytest.raises(ConfigError, match="max_length=4096 exceeds the reward model's context of 512"):
        rm(runtime, tiny_reward_model, max_length=4096)


def test_manifest_round_trip_and_malformed_files(rm_copy: Path) -> None:
    manifest = manifest_for(rm_copy, Normalization(mean=-1.5, std=0.5, count=100))
    path = write_manifest(rm_copy, manifest)
    assert read_manifest(rm_copy) == manifest and not list(rm_copy.glob(f".{MANIFEST_NAME}*"))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_manifest(rm_copy)
    path.write_text(json.dumps({**json.loads(manifest.model_dump_json()), "format": 99}))
    with pytest.raises(ConfigError, match="format 99"):
        read_manifest(rm_copy)
    with pytest.raises(ValueError, match="greater than 0"):
        Normalization(mean=0, std=0, count=10)
