"""`referee prefs` and `RewardClient.compare`: safe defaults (inconsistent and unconfident pairs dropped, and
counted), labelling through a running service (judge and reward model), and bad input named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from referee.cli import main
from referee.judges import Comparison, Pair
from referee.service import AsyncRewardClient, RewardClient, RewardServiceError
from referee.service.local import LocalService
from referee.service.preferences import select_pairs
from referee.verifiers import UnscoredReason

PAIRS = [
    {"prompt": "What is the capital of France?", "a": "I think it might be Lyon, but I am not sure.", "b": "Paris."},
    {"prompt": "2 + 2?", "a": "4", "b": "4"},
    {"prompt": "Say hello politely.", "a": "Hello! How can I help you today?", "b": "go away"},
    {"prompt": "2 + 3?", "a": "5", "b": "6"},
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _c(p: float | None, consistent: bool | None = True, reason: UnscoredReason | None = None) -> Comparison:
    return Comparison(p_a_better=p, consistent=consistent, reason=reason, principles={}, details={})


# --- Which pairs are kept: the rules on real Comparison values ---------------------------------------------------

@pytest.mark.parametrize(("comparison", "a", "b", "dropped_as"), [
    (_c(0.9), "x", "y", None),
    (_c(0.2), "x", "y", None),                      # b preferred: kept, b is chosen
    (_c(0.9, consistent=False), "x", "y", "inconsistent"),
    (_c(0.55), "x", "y", "low_confidence"),
    (_c(0.45), "x", "y", "low_confidence"),
    (_c(0.6), "x", "y", None),                      # the floor itself is kept: |p - 0.5| >= 0.1
    (_c(None, None, UnscoredReason.JUDGE_PARSE_FAILURE), "x", "y", "unscored"),
    (_c(0.99), "x", "x", "identical"),
])
def test_default_rules(comparison: Comparison, a: str, b: str, dropped_as: str | None) -> None:
    rows, dropped = select_pairs([Pair(prompt="p", a=a, b=b)], [comparison], min_confidence=0.6,
                                 keep_inconsistent=False)
    assert (len(rows) == 0) == (dropped_as is not None)
    assert dict(dropped.reasons) == ({dropped_as: 1} if dropped_as else {})
    if rows:
        assert rows[0]["chosen"] == (a if comparison.p_a_better >= 0.5 else b)  # type: ignore[operator]
        assert rows[0]["confidence"] == pytest.approx(max(comparison.p_a_better, 1 - comparison.p_a_better))  # type: ignore[arg-type]


def test_the_user_may_keep_what_the_defaults_drop() -> None:
    pairs = [Pair(prompt="p", a="x", b="y")] * 4 + [Pair(prompt="p", a="z", b="z")]
    comparisons = [_c(0.9, consistent=False), _c(0.52), _c(None, None, UnscoredReason.BACKEND_ERROR), _c(0.5),
                   _c(0.5)]
    rows, dropped = select_pairs(pairs, comparisons, min_confidence=0, keep_inconsistent=True)
    # Not even --min_confidence 0 keeps an exact tie: its "chosen" would be whichever came first.
    assert len(rows) == 2 and dict(dropped.reasons) == {"unscored": 1, "tie": 1, "identical": 1}
    assert dropped.summary(5) == ("kept 2 of 5 pairs; dropped 3: unscored 1 (the comparison could not be made: "
                                  "backend_error 1); tie 1 (P(a better) is exactly 0.5: no preference); identical 1 "
                                  "(a and b are the same text)")


# --- The command, with the embedded judge in this process and through the service ---------------------------------

@pytest.mark.slow
def test_prefs_drops_inconsistent_and_unconfident_pairs_by_default(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    pairs = _write(tmp_path, PAIRS)
    out = tmp_path / "dpo.jsonl"
    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out))
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"kept {len(rows)} of 4 pairs; dropped {4 - len(rows)}: ")
    assert "identical 1 (a and b are the same text)" in summary
    # What the defaults keep is consistent and confident; the embedded 135M judge follows the position on most of
    # these (the "Lyon over Paris" pair among them), so they are dropped and counted, not written.
    assert all(r["consistent"] and r["confidence"] >= 0.6 for r in rows)
    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out), "--keep_inconsistent", "--min_confidence", "0")
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and len(kept) == 3 and "kept 3 of 4 pairs; dropped 1: identical 1" in err
    assert len(kept) > len(rows) and any(not r["consistent"] or r["confidence"] < 0.6 for r in kept)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_prefs_with_an_inline_constitution_and_a_model_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               fmt: str) -> None:
    from referee.judges import cache_dir, embedded_model_path

    pairs = _write(tmp_path, [{"prompt": "Capital of France?", "a": "Paris.", "b": "Berlin, I think."},
                              {"prompt": "2 + 2?", "a": "5", "b": "4"}])
    out_path = tmp_path / "dpo.jsonl"
    options = {"backend": {"local": {"model": str(embedded_model_path(cache_dir()))}},
               "constitution": {"principles": [{"id": "correct", "text": "The reply is correct."}]}}
    keep_all = ("--keep_inconsistent", "--min_confidence", "0")
    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out_path), "--method", "likelihood",
                        "--options", json.dumps(options), "--format", fmt, *keep_all)
    assert code == 0 and "kept 2 of 2 pairs" in err
    rows = [json.loads(line) for line in out_path.read_text().splitlines()]
    for row, (a, b) in zip(rows, [("Paris.", "Berlin, I think."), ("5", "4")], strict=True):
        chosen = row["chosen"] if fmt == "standard" else row["chosen"][0]["content"]
        rejected = row["rejected"] if fmt == "standard" else row["rejected"][0]["content"]
        assert {chosen, rejected} == {a, b}
        assert 0.5 <= row["confidence"] <= 1 and (chosen == a) == (row["p_a_better"] >= 0.5)
        assert row["judge"]["constitution"] == "inline" and row["judge"]["method"] == "likelihood"
    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out_path), "--method", "likelihood",
                        "--options", json.dumps(options), "--keep-inconsistent", "--min-confidence", "1.0")
    assert code == 0 and "kept 0 of 2 pairs; dropped 2: low_confidence 2" in err


@pytest.fixture(scope="module")
def compare_service(tiny_reward_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """The real service with the judge (embedded model) and a reward model folder the operator configured."""
    settings = tmp_path_factory.mktemp("settings") / "settings.yaml"
    settings.write_text(f"source_options:\n  reward_model: {{model: {tiny_reward_model}}}\n")
    with LocalService(sources=["judge", "reward_model", "exact"], extra_args=["--settings", str(settings)]) as svc:
        yield svc


@pytest.mark.slow
def test_prefs_through_the_service_matches_the_service_compare(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               compare_service: LocalService) -> None:
    pairs = _write(tmp_path, PAIRS)
    out = tmp_path / "dpo.jsonl"
    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out), "--url", compare_service.url, "--method",
                        "likelihood", "--keep_inconsistent", "--min_confidence", "0", "--format", "conversational")
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    with RewardClient(compare_service.url) as client:
        direct = client.compare([Pair(**p) for p in PAIRS if p["a"] != p["b"]], constitution="hhh",
                                options={"method": "likelihood"})
    assert [r["p_a_better"] for r in rows] == [round(c.p_a_better or 0, 6) for c in direct]
    for row, pair in zip(rows, [p for p in PAIRS if p["a"] != p["b"]], strict=True):
        assert row["prompt"] == [{"role": "user", "content": pair["prompt"]}]
        assert {row["chosen"][0]["content"], row["rejected"][0]["content"]} == {pair["a"], pair["b"]}
        assert row["judge"]["constitution"] == "hhh@1" and len(row["judge"]["sha256"]) == 64

    code, _, err = _run(capsys, "prefs", str(pairs), "-o", str(out), "--url", compare_service.url, "--source",
                        "reward_model", "--min_confidence", "0")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and "kept 3 of 4 pairs" in err, err
    assert all(r["consistent"] is True and r["reward_model"]["weights_sha256"] for r in rows)


@pytest.mark.slow
def test_client_compare_chunks_keeps_order_sync_and_async(compare_service: LocalService) -> None:
    pairs = [Pair(prompt="Q?", a=f"answer {i}", b=f"reply {i * i}") for i in range(5)]
    swapped = [Pair(prompt=p.prompt, a=p.b, b=p.a) for p in pairs]
    with RewardClient(compare_service.url, max_batch=2, concurrency=2) as client:
        forward = client.compare(pairs + swapped, source="reward_model")
    assert len(forward) == 10
    for one, other in zip(forward[:5], forward[5:], strict=True):  # Bradley-Terry: P(a > b) + P(b > a) = 1
        assert one.p_a_better + other.p_a_better == pytest.approx(1.0, abs=1e-6)  # type: ignore[operator]

    async def run() -> list[Comparison]:
        async with AsyncRewardClient(compare_service.url, max_batch=3) as client:
            return await client.compare(pairs + swapped, source="reward_model")

    import asyncio

    assert [c.p_a_better for c in asyncio.run(run())] == pytest.approx([c.p_a_better for c in forward], abs=1e-6)


def test_client_compare_retries_on_503_then_parses() -> None:
    calls: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.content)
        if len(calls) == 1:
            return httpx.Response(503, json={"detail": "busy"}, headers={"retry-after": "0"})
        return httpx.Response(200, json={"request_id": "r", "comparisons": [
            {"p_a_better": 0.8, "consistent": True, "principles": {}, "details": {"constitution": "hhh@1"}}]})

    with RewardClient("http://svc", retries=2, backoff=0.001, transport=httpx.MockTransport(handler)) as client:
        [c] = client.compare([{"prompt": "p", "a": "x", "b": "y"}], constitution="concise")
    assert c.p_a_better == 0.8 and len(calls) == 2
    assert json.loads(calls[0])["constitution"] == "concise" and json.loads(calls[0])["source"] == "judge"


# --- Bad input: one line naming the row, the name or the flag -------------------------------------------------------

def test_bad_rows_and_flags_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "a": "y", "b": "z"}\n{"prompt": "x", "a": "y"}\n')
    code, _, err = _run(capsys, "prefs", str(bad))
    assert code == 2 and "bad.jsonl:2: expected a JSON object with prompt, a, b: missing b" in err
    good = _write(tmp_path, PAIRS[:1])
    code, _, err = _run(capsys, "prefs", str(good), "--source", "reward_model")
    assert code == 2 and "--source reward_model labels through a running service" in err and "--url" in err
    code, _, err = _run(capsys, "prefs", str(good), "--options", '{"methd": "x"}')
    assert code == 2 and "methd" in err
    code, _, err = _run(capsys, "prefs", str(good), "--min_confidence", "1.5")
    assert code == 2 and "min_confidence must lie in [0, 1]" in err
    code, _, err = _run(capsys, "prefs", str(good), "--constitution", "no-such-constitution")
    assert code == 2 and "no-such-constitution" in err and "hhh" in err  # names the missing one and the available


@pytest.mark.slow
def test_unknown_constitution_through_the_service(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  compare_service: LocalService) -> None:
    good = _write(tmp_path, PAIRS[:1])
    code, _, err = _run(capsys, "prefs", str(good), "--url", compare_service.url, "--constitution", "nope@3")
    assert code == 2 and "no constitution named 'nope'; available: concise, hhh" in err
    with RewardClient(compare_service.url) as client, pytest.raises(RewardServiceError, match="cannot compare"):
        client.compare([PAIRS[0]], source="exact")
