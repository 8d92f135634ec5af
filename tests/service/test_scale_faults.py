"""How the Ray ingress turns a replica's failure into a retry or an unscored result: the handle is the one seam
faked here (the real replica death, under load on a real cluster, is in test_scale.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from pydantic import TypeAdapter

from referee.verifiers import Sample, Score, UnscoredReason

pytestmark = pytest.mark.ray

_SAMPLES = TypeAdapter(list[Sample])
_SCORES = TypeAdapter(list[Score])


def echo(payload: bytes) -> bytes:
    """What a healthy replica answers: 1.0 for a completion "1", else 0.0 (so order shows)."""
    return _SCORES.dump_json([Score(value=float(s.completion == "1"), source="exact", version="1.0")
                              for s in _SAMPLES.validate_json(payload)])


class Handle:
    """A DeploymentHandle whose `score.remote` answers with `outcomes` in turn: an exception, or a replica."""

    def __init__(self, *outcomes: BaseException | Callable[..., Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.score = self.call = self

    def remote(self, options: dict[str, Any], operator: bool, *payload: Any) -> Coroutine[Any, Any, Any]:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]

        async def answer() -> Any:
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome(*payload)

        return answer()


def score(handle: Handle, completions: list[str], *, chunk_size: int = 2, retries: int = 2) -> list[Score]:
    from referee.service.scale.proxy import DeploymentSource

    source = DeploymentSource("exact", "1.0", {}, handle, chunk_size=chunk_size, retries=retries)
    return asyncio.run(source.score([Sample(completion=c) for c in completions]))


def died() -> BaseException:
    from ray.exceptions import ActorDiedError

    return ActorDiedError()


def test_chunks_come_back_in_order() -> None:
    handle = Handle(echo)
    assert [s.value for s in score(handle, ["1", "0", "1", "1", "0"])] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert handle.calls == 3  # chunks of 2, 2 and 1


def test_a_chunk_whose_replica_died_is_sent_again() -> None:
    handle = Handle(died(), echo)
    assert [s.value for s in score(handle, ["1", "0"])] == [1.0, 0.0]
    assert handle.calls == 2


def test_replicas_dying_past_the_retries_leave_the_chunk_unscored_never_zero() -> None:
    from ray.serve.exceptions import ReplicaUnavailableError

    handle = Handle(died(), ReplicaUnavailableError("r1"), died())
    scores = score(handle, ["1", "0"], retries=2)
    assert handle.calls == 3
    assert [(s.value, s.reason) for s in scores] == [(None, UnscoredReason.WORKER_ERROR)] * 2
    assert "3 times" in scores[0].details["error"] and len(scores[0].details["ray_errors"]) == 3
    assert "ActorDiedError" in scores[0].details["ray_errors"][0]


def test_an_exception_inside_the_replica_is_a_source_error_and_not_retried() -> None:
    from ray.exceptions import RayTaskError

    handle = Handle(RayTaskError("score", "Traceback ...", ValueError("bug in the source")), echo)
    scores = score(handle, ["1"])
    assert handle.calls == 1
    assert scores[0].value is None and scores[0].reason == UnscoredReason.SOURCE_ERROR
    assert "bug in the source" in scores[0].details["ray_errors"][0]


def test_other_methods_are_forwarded_with_the_same_retries() -> None:
    from referee.service.scale.proxy import DeploymentSource, ReplicasFailed

    def compare(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        return [f"{method}:{a}" for a in args[0]]

    source = DeploymentSource("judge", "1.0", {}, Handle(died(), compare), chunk_size=2, retries=1,
                              methods=frozenset({"compare"}))
    assert asyncio.run(source.compare(["x", "y"])) == ["compare:x", "compare:y"]
    assert not hasattr(source, "generate")  # only what the source's class has: isinstance checks stay honest
    gone = DeploymentSource("judge", "1.0", {}, Handle(died()), chunk_size=2, retries=1,
                            methods=frozenset({"compare"}))
    with pytest.raises(ReplicasFailed, match="2 times running compare"):
        asyncio.run(gone.compare(["x"]))
