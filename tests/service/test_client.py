"""RewardClient / AsyncRewardClient: against the real service, and retry policy at the transport seam."""

from __future__ import annotations

import httpx
import pytest

from referee.service import AsyncRewardClient, RewardClient, RewardServiceError
from referee.service.local import LocalService, free_port
from referee.verifiers import Sample
from tests.conftest import API_KEY


def _samples(n: int) -> list[dict[str, str]]:
    return [{"completion": f"\\boxed{{{i}}}", "reference": str(i if i % 2 else -1)} for i in range(n)]


def test_sync_client_chunks_and_keeps_order(service: LocalService) -> None:
    with RewardClient(service.url, max_batch=7, concurrency=3) as client:
        scores = client.score("exact", _samples(50))
        assert [s.value for s in scores] == [float(i % 2) for i in range(50)]
        assert "exact" in {s.name for s in client.sources()}
        assert client.ready()


async def test_async_client_chunks_and_keeps_order(service: LocalService) -> None:
    async with AsyncRewardClient(service.url, max_batch=5, concurrency=4) as client:
        scores = await client.score("exact", [Sample(**s) for s in _samples(33)])
        assert [s.details["extracted"] for s in scores] == [str(i) for i in range(33)]


def test_client_sends_api_key(keyed_service: LocalService) -> None:
    with RewardClient(keyed_service.url, api_key=API_KEY) as client:
        assert client.score("exact", _samples(2))[1].value == 1.0
    with RewardClient(keyed_service.url, retries=0) as client, pytest.raises(RewardServiceError) as err:
        client.score("exact", _samples(2))
    assert err.value.status == 401


def test_4xx_raises_at_once_with_the_detail(service: LocalService) -> None:
    with RewardClient(service.url) as client, pytest.raises(RewardServiceError, match="not registered") as err:
        client.score("nope", _samples(1))
    assert err.value.status == 404


def _flaky(statuses: list[int]) -> tuple[httpx.MockTransport, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if status == 200:
            return httpx.Response(200, json={"scores": [{"value": 1.0, "source": "x", "version": "1"}],
                                             "request_id": "r"})
        return httpx.Response(status, json={"detail": "busy"}, headers={"retry-after": "0"})

    return httpx.MockTransport(handler), calls


@pytest.mark.parametrize(("statuses", "tries", "ok"), [
    ([429, 503, 200], 3, True), ([500, 500, 500, 500], 3, False), ([422], 1, False), ([404, 200], 1, False),
])
def test_retries_only_on_429_and_5xx(statuses: list[int], tries: int, ok: bool) -> None:
    transport, calls = _flaky(statuses)
    with RewardClient("http://svc", retries=2, backoff=0.001, transport=transport) as client:
        if ok:
            assert client.score("x", _samples(1))[0].value == 1.0
        else:
            with pytest.raises(RewardServiceError):
                client.score("x", _samples(1))
    assert len(calls) == tries


async def test_async_retries_on_429_then_succeeds() -> None:
    transport, calls = _flaky([429, 502, 200])
    async with AsyncRewardClient("http://svc", retries=3, backoff=0.001, transport=transport) as client:
        assert (await client.score("x", _samples(1)))[0].value == 1.0
    assert len(calls) == 3


def test_unreachable_service_fails_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with RewardClient(url, retries=2, backoff=0.001) as client, pytest.raises(RewardServiceError, match="3 tries"):
        client.score("exact", _samples(1))
