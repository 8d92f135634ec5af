"""Reward-hacking monitors in /metrics, driven through the real service."""

from __future__ import annotations

import httpx
import pytest

from referee.service.local import LocalService


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
