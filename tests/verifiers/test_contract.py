"""The reward contract's invariants and the boundary that turns a misbehaving source into unscored results."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from referee.verifiers import Sample, Score, UnscoredReason, score_batch


def test_unscored_needs_reason_and_scored_forbids_it() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        Score(value=None, source="s", version="1")
    with pytest.raises(ValidationError, match="must not carry reason"):
        Score(value=1.0, reason=UnscoredReason.TIMEOUT, source="s", version="1")
    for bad in (math.nan, math.inf):
        with pytest.raises(ValidationError, match="finite"):
            Score(value=bad, source="s", version="1")
    s = Score.unscored(UnscoredReason.TIMEOUT, "too slow", source="s", version="1", timeout_s=3)
    assert s.value is None and s.details == {"error": "too slow", "timeout_s": 3} and not s.scored


def test_sample_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Sample(completion="x", answer="4")  # type: ignore[call-arg]


class _Source:
    name, version = "probe", "9"

    def __init__(self, result: object) -> None:
        self.result = result

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("result", "needle"),
    [
        (ValueError("kaput"), "raised ValueError: kaput"),
        ([], "returned 0 scores for 2 samples"),
        ("nope", "returned str scores"),
    ],
)
async def test_score_batch_turns_contract_breaches_into_source_error(result: object, needle: str) -> None:
    scores = await score_batch(_Source(result), [Sample(completion="a"), Sample(completion="b")])
    assert [s.reason for s in scores] == [UnscoredReason.SOURCE_ERROR] * 2
    assert needle in scores[0].details["error"]
    assert scores[0].source == "probe" and scores[0].version == "9"


async def test_score_batch_replaces_non_score_items_only() -> None:
    good = Score(value=0.5, source="probe", version="9")
    scores = await score_batch(_Source([good, {"value": 1}]), [Sample(completion="a"), Sample(completion="b")])
    assert scores[0] is good
    assert scores[1].reason == UnscoredReason.SOURCE_ERROR and "dict" in scores[1].details["error"]


async def test_empty_batch_does_not_call_source() -> None:
    assert await score_batch(_Source(RuntimeError("called")), []) == []


def test_unscored_error_survives_pickling_across_processes() -> None:
    import pickle

    from referee.judges.errors import BackendError
    from referee.verifiers import UnscoredError

    for exc in (UnscoredError(UnscoredReason.TIMEOUT, "too slow"), BackendError("server down")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and back.reason == exc.reason and str(back) == str(exc)
