"""Reward-hacking monitors in /metrics, driven through the real service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referee.service.local import LocalService
from referee.service.monitors import ProxyGoldTrend


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_monitors_see_repeats_length_and_unscored_spikes(service: LocalService) -> None:
    with httpx.Client(base_url=service.url) as http:
        before = http.get("/metrics").text
        same = {"completion": "the exploit string", "reference": "x"}
        http.post("/v1/score", json={"source": "wordcount", "samples": [same] * 5})
        http.post("/v1/score", json={"source": "exact", "samples": [{"completion": "z" * 3000}] * 2})
        after = http.get("/metrics").text
    repeated = 'referee_repeated_completions_total{source="wordcount"}'
    assert _metric(after, repeated) - _metric(before, repeated) >= 4  # 5 identical: at least 4 repeats
    assert _metric(after, 'referee_completion_chars_ewma{source="exact"}') > 0
    assert 'referee_completion_chars_bucket{le="4096.0",source="exact"}' in after
    assert _metric(after, 'referee_unscored_rate_ewma{source="exact"}') > 0  # no reference: unscored


@pytest.mark.slow
def test_verifier_judge_disagreement_is_counted(service: LocalService) -> None:
    """A real judge (the embedded model) beside a verifier: every pair is counted, and the disagreements
    counted are exactly those visible in the components the service returned."""
    samples = [{"prompt": "What is 2+2?", "completion": "The answer is 4.", "reference": "4"},
               {"prompt": "What is 2+2?", "completion": "The answer is 5.", "reference": "4"},
               {"prompt": "What is 2+2?", "completion": "I refuse. The answer is 22.", "reference": "4"}]
    mix = [{"source": "exact", "weight": 1.0}, {"source": "judge", "weight": 0.2}]
    labels = '{judge="judge",verifier="exact"}'
    with httpx.Client(base_url=service.url, timeout=600) as http:
        before = http.get("/metrics").text
        scores = http.post("/v1/score", json={"source": mix, "samples": samples}).json()["scores"]
        after = http.get("/metrics").text
    both = [s["components"] for s in scores if all(c["value"] is not None for c in s["components"])]
    expected = sum((v["value"] >= 0.5) != (j["value"] >= 0.5) for v, j in both)
    pairs = f"referee_verifier_judge_pairs_total{labels}"
    disagreements = f"referee_verifier_judge_disagreements_total{labels}"
    assert _metric(after, pairs) - _metric(before, pairs) == len(both) > 0
    assert _metric(after, disagreements) - _metric(before, disagreements) == expected


@pytest.fixture(scope="module")
def rm_service(tiny_reward_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    settings = tmp_path_factory.mktemp("rm-monitor") / "settings.yaml"
    settings.write_text(f"source_options:\n  reward_model: {{model: {tiny_reward_model}}}\n")
    with LocalService(sources=["reward_model", "exact"], extra_args=["--settings", str(settings)]) as svc:
        yield svc


@pytest.mark.slow
def test_proxy_rising_while_gold_falls_is_flagged(rm_service: LocalService) -> None:
    """A reward model (the proxy) beside a verifier (the gold), real scores from the service: requests whose
    answers are right but score low with the reward model, then requests whose answers are wrong but score high.
    The gold's mean falls while the proxy's rises: the flag goes up, and only then."""
    right = ["4", "The answer is 4.", "It is 4", "2 + 2 = 4", "4.", "four: 4", "Answer: 4", "We get 4"]
    wrong = ["5", "The answer is 5.", "It is 22", "2 + 2 = 3", "7.", "five: 5", "Answer: 8", "We get 0"]
    mix = [{"source": "exact", "weight": 1.0}, {"source": "reward_model", "weight": 0.0}]
    labels = '{proxy="reward_model",verifier="exact"}'

    def post(completions: list[str]) -> list[dict[str, Any]]:
        samples = [{"prompt": "What is 2+2?", "completion": c, "reference": "4"} for c in completions]
        r = httpx.post(rm_service.url + "/v1/score", json={"source": mix, "samples": samples}, timeout=120)
        assert r.status_code == 200, r.text
        return list(r.json()["scores"])

    def proxy(scores: list[dict[str, Any]]) -> list[float]:
        return [next(c["value"] for c in s["components"] if c["source"] == "reward_model") for s in scores]

    probe = post(right + wrong)  # what the reward model and the verifier make of each
    rewards = dict(zip(right + wrong, proxy(probe), strict=True))
    gold = {c: s["value"] for c, s in zip(right + wrong, probe, strict=True)}
    low_right = sorted((c for c in right if gold[c] == 1.0), key=rewards.__getitem__)[:3]
    high_wrong = sorted((c for c in wrong if gold[c] == 0.0), key=rewards.__getitem__)[-3:]
    assert len(low_right) == len(high_wrong) == 3, gold
    assert max(rewards[c] for c in high_wrong) > min(rewards[c] for c in low_right), rewards

    for _ in range(3):  # gold 1.0 at a low proxy
        scores = post(low_right)
        assert all(s["value"] == 1.0 for s in scores)
    flag = f"referee_proxy_up_gold_down{labels}"
    assert _metric(httpx.get(rm_service.url + "/metrics").text, flag) == 0.0
    for _ in range(3):  # gold 0.0 at a higher proxy
        post(high_wrong)
    after = httpx.get(rm_service.url + "/metrics").text
    assert _metric(after, flag) == 1.0
    assert _metric(after, f"referee_gold_drop{labels}") > 0.05
    assert _metric(after, f"referee_proxy_gain{labels}") > 0


def test_the_proxy_gold_rule() -> None:
    trend = ProxyGoldTrend(alpha=1.0, tolerance=0.1)
    for proxy, gold, diverging in [(0.0, 0.3, False), (1.0, 0.5, False),  # both rise: learning
                                   (2.0, 0.45, False),  # a fall within the tolerance
                                   (3.0, 0.3, True),  # the proxy still rises, the gold fell by 0.2
                                   (0.5, 0.3, False),  # the gold is down, but so is the proxy: no over-optimisation
                                   (4.0, 0.6, False)]:  # a new best
        trend.update(proxy, gold)
        assert trend.diverging is diverging, (proxy, gold)
    assert trend.best_gold == 0.6 and trend.proxy_at_best == 4.0
