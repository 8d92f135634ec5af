"""The HTTP backend's error paths, faked at one seam: the httpx transport of the shared client.

Whatever the server does (429s, 5xx, timeouts, garbage, silence), the judge answers with a value or an
unscored reason, never an exception and never a made-up 0. The real server path is in test_vllm.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from referee.judges import Judge, JudgeConfig, Pair
from referee.judges.backends.openai import HTTP_CLIENT_KEY
from referee.verifiers import Runtime, Sample, UnscoredReason

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
ONE = {"principles": [{"id": "correct", "text": "The reply is correct."}]}


def use_transport(rt: Runtime, handler: Handler) -> None:
    rt.resource(HTTP_CLIENT_KEY, lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def judge(rt: Runtime, **options: Any) -> Judge:
    openai = {"base_url": "http://judge.test/v1", "model": "smollm2", "max_retries": 2, "timeout_s": 5,
              **options.pop("openai", {})}
    config = JudgeConfig.model_validate({"constitution": ONE, "cache": False,
                                         "backend": {"kind": "openai", "openai": openai}, **options})
    return Judge(config, rt)


def next_token(top: dict[str, float]) -> httpx.Response:
    token = max(top, key=lambda t: top[t])
    return httpx.Response(200, json={"choices": [{"text": token, "logprobs": {
        "tokens": [token], "token_logprobs": [top[token]], "text_offset": [0], "top_logprobs": [top]}}]})


SAMPLE = Sample(prompt="What is the capital of France?", completion="Paris.")


async def test_verdict_is_the_expected_value_of_top_logprobs(runtime: Runtime) -> None:
    bodies: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return next_token({"Yes": -0.5, " No": -1.2, "The": -3.0})

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    p_yes, p_no = math.exp(-0.5), math.exp(-1.2)
    assert score.value == pytest.approx(p_yes / (p_yes + p_no), abs=1e-5)
    assert bodies[0]["max_tokens"] == 1 and bodies[0]["logprobs"] == 20 and bodies[0]["temperature"] == 0
    assert bodies[0]["prompt"].endswith("<|im_start|>assistant\n") and "Paris." in bodies[0]["prompt"]
    judge_info = score.details["judge"]
    assert (judge_info["backend"], judge_info["model"], judge_info["base_url"]) == ("openai", "smollm2",
                                                                                     "http://judge.test/v1")
    assert score.details["constitution"] == "inline" and len(score.details["constitution_sha256"]) == 64


async def test_429_is_retried(runtime: Runtime) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, text="slow down")
        return next_token({"Yes": -0.1, "No": -3.0})

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    assert score.scored and calls == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_retried_then_backend_error(runtime: Runtime, status: int) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, headers={"Retry-After": "0"}, text="overloaded")

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    assert score.value is None and score.reason == UnscoredReason.BACKEND_ERROR
    assert calls == 3 and f"HTTP {status}" in score.details["error"]


async def test_4xx_is_not_retried(runtime: Runtime) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": "logprobs must be <= 5"})

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    assert score.reason == UnscoredReason.BACKEND_ERROR and calls == 1 and "HTTP 400" in score.details["error"]


async def test_timeouts_are_retried_then_backend_error(runtime: Runtime) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("timed out", request=request)

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    assert score.reason == UnscoredReason.BACKEND_ERROR and calls == 3 and "no reply within" in score.details["error"]


@pytest.mark.parametrize(("response", "reason", "says"), [
    (httpx.Response(200, text="<html>502 Bad Gateway</html>"), UnscoredReason.BACKEND_ERROR, "non-JSON"),
    (httpx.Response(200, json={"choices": []}), UnscoredReason.BACKEND_ERROR, "top_logprobs"),
    (httpx.Response(200, json=[1, 2]), UnscoredReason.BACKEND_ERROR, "not an object"),
    (httpx.Response(200, json={"choices": [{"logprobs": {"top_logprobs": [None]}}]}),
     UnscoredReason.BACKEND_ERROR, "top_logprobs"),
    (next_token({"The": -0.1, "I": -2.0}), UnscoredReason.JUDGE_PARSE_FAILURE, "0.00% probability"),
])
async def test_garbage_answers_are_unscored(runtime: Runtime, response: httpx.Response, reason: UnscoredReason,
                                            says: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return response

    use_transport(runtime, handler)
    [score] = await judge(runtime).score([SAMPLE])
    assert score.value is None and score.reason == reason and says in score.details["error"]
    assert score.details["constitution"] == "inline"  # provenance even when unscored


async def test_reasoned_parses_the_last_verdict_and_keeps_the_reply(runtime: Runtime) -> None:
    replies = {"Paris.": "Looks right. Verdict: No... wait, it is correct.\nVerdict: Yes",
               "Lyon.": "I am not sure what to say here."}
    prompts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        prompts.append(body["prompt"])
        if body["max_tokens"] > 1:  # the written reason
            text = next(r for k, r in replies.items() if k in body["prompt"])
            return httpx.Response(200, json={"choices": [{"text": text}]})
        return next_token({" Yes": -0.2, " No": -1.9})  # the distribution at the parsed verdict

    use_transport(runtime, handler)
    good, bad = await judge(runtime, method="reasoned").score(
        [SAMPLE, Sample(prompt="What is the capital of France?", completion="Lyon.")])
    assert good.value == pytest.approx(math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.9)), abs=1e-5)
    assert good.details["principles"]["correct"]["verdict"] == "Yes"
    assert any(p.endswith("wait, it is correct.\nVerdict:") for p in prompts)
    assert bad.value is None and bad.reason == UnscoredReason.JUDGE_PARSE_FAILURE
    assert bad.details["principles"]["correct"]["reply"] == replies["Lyon."]


async def test_likelihood_reads_the_echoed_continuation(runtime: Runtime) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        text: str = body["prompt"]
        assert body["echo"] is True
        per_token = -0.5 if "follow this principle" in text else -1.0
        cut = text.index("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")
        pieces = [text[:cut]] + [text[i:i + 3] for i in range(cut, len(text), 3)] + ["!"]  # + a generated token
        offsets = [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
        lps = [None] + [per_token] * (len(pieces) - 1)
        return httpx.Response(200, json={"choices": [{"text": text + "!", "logprobs": {
            "tokens": pieces, "token_logprobs": lps, "text_offset": offsets}}]})

    use_transport(runtime, handler)
    [score] = await judge(runtime, method="likelihood").score([SAMPLE])
    continuation_tokens = math.ceil(len("Paris.<|im_end|>") / 3)
    gain = 0.5 * continuation_tokens
    assert score.details["principles"]["correct"]["gain"] == pytest.approx(gain)
    assert score.value == pytest.approx(1 / (1 + math.exp(-0.25 * gain)))


async def test_pairwise_cancels_a_judge_that_always_says_a(runtime: Runtime) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return next_token({"A": -0.05, "B": -3.0})

    use_transport(runtime, handler)
    [c] = await judge(runtime).compare([Pair(prompt="2+2?", a="4", b="5")])
    assert c.p_a_better == pytest.approx(0.5) and c.consistent is False
    p = c.principles["correct"]
    assert p.p_a_first == pytest.approx(1 - p.p_a_second) and p.p_a_first > 0.9  # type: ignore[operator]


async def test_concurrency_is_bounded_per_server(runtime: Runtime) -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return next_token({"Yes": -0.1, "No": -2.0})

    use_transport(runtime, handler)
    scores = await judge(runtime, openai={"max_concurrency": 2}).score([SAMPLE] * 8)
    assert all(s.scored for s in scores) and peak <= 2


async def test_backend_down_is_backend_error_not_zero(runtime: Runtime) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = JudgeConfig.model_validate({"constitution": "hhh", "cache": False, "backend": {
        "kind": "openai", "openai": {"base_url": f"http://127.0.0.1:{port}/v1", "timeout_s": 5}}})
    scores = await Judge(config, runtime).score([SAMPLE, SAMPLE])
    assert [s.reason for s in scores] == [UnscoredReason.BACKEND_ERROR] * 2
    assert "unreachable" in scores[0].details["error"] and scores[0].details["constitution"] == "hhh@1"
    [c] = await Judge(config, runtime).compare([Pair(a="x", b="y")])
    assert c.p_a_better is None and c.reason == UnscoredReason.BACKEND_ERROR
