"""NeMo Gym's resources-server protocol, against the real service, called the way NeMo Gym's agents call it.

A NeMo Gym agent (responses_api_agents/simple_agent) posts the dataset row to `/seed_session`, runs the
policy, then posts the row plus `response` (an OpenAI Responses API response) to `/verify`; its client
(nemo_gym/server_utils.py) sends JSON bytes with `Content-Type: application/json` and passes cookies on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from referee.service.local import LocalService

HEADERS = {"Content-Type": "application/json"}


def row(expected: Any, **extra: Any) -> dict[str, Any]:
    """A dataset row as NeMo Gym dumps it (math_with_judge's layout), plus task fields."""
    params = {"background": None, "include": None, "instructions": None, "max_output_tokens": None,
              "metadata": None, "model": None, "parallel_tool_calls": True, "previous_response_id": None,
              "temperature": None, "tool_choice": "auto", "tools": [], "top_p": None, "stream": None,
              "input": [{"content": "What is 6 times 7? Put the answer in \\boxed{}.", "role": "user",
                         "type": "message"}]}
    return {"responses_create_params": params, "expected_answer": expected, **extra}


def response(*texts: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = [{"id": "rs_1", "type": "reasoning", "summary": [
        {"type": "summary_text", "text": "\\boxed{41} maybe"}]}]
    output += [{"id": f"msg_{i}", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"annotations": [], "text": t, "type": "output_text"}]} for i, t in enumerate(texts)]
    return {"id": "resp_1", "created_at": 1773381249.0, "error": None, "incomplete_details": None,
            "model": "policy", "object": "response", "output": output, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": []}


def agent_run(client: httpx.Client, body: dict[str, Any], verify_path: str = "/verify") -> httpx.Response:
    seeded = client.post("/seed_session", content=json.dumps(body), headers=HEADERS)
    assert seeded.status_code == 200, seeded.text
    verify_request = body | {"response": response("First try: 41.", "So 6 x 7 = \\boxed{42}.")}
    # the client's cookie jar carries /seed_session's cookies (if any) on, as the agent does
    return client.post(verify_path, content=json.dumps(verify_request), headers=HEADERS)


@pytest.fixture
def client(service: LocalService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60) as c:
        yield c


def test_verify_with_the_source_in_the_row(client: httpx.Client) -> None:
    body = row("42", referee={"source": "math"}, verifier_metadata={"difficulty": "easy"})
    answer = agent_run(client, body).json()
    assert answer["reward"] == 1.0  # the last assistant message is the answer, not the reasoning or first try
    assert answer["reward_components"] == {"math": 1.0}
    assert answer["mask_sample"] is False and answer["failure_kind"] is None and answer["failure_reason"] is None
    # the request comes back, as NeMo Gym's BaseVerifyResponse extends BaseVerifyRequest
    assert answer["responses_create_params"] == body["responses_create_params"]
    assert answer["expected_answer"] == "42" and answer["verifier_metadata"] == {"difficulty": "easy"}
    assert answer["response"]["output"][-1]["content"][0]["text"] == "So 6 x 7 = \\boxed{42}."
    assert answer["referee_score"]["source"] == "math" and answer["referee_score"]["value"] == 1.0


def test_wrong_answer_is_zero_and_unscored_is_masked(client: httpx.Client) -> None:
    wrong = agent_run(client, row("43", referee={"source": "math"})).json()
    assert wrong["reward"] == 0.0 and wrong["mask_sample"] is False
    unscored = agent_run(client, row(None, referee={"source": "math"})).json()
    assert unscored["mask_sample"] is True and unscored["reward"] == 0.0
    assert unscored["failure_kind"] == "referee:no_reference"
    assert "reference" in unscored["failure_reason"]
    assert unscored["referee_score"]["reason"] == "no_reference"


def test_mix_components_and_reference_field(client: httpx.Client) -> None:
    mix = [{"source": "math", "weight": 1.0}, {"source": "wordcount", "weight": 0.5, "options": {"target": 6}}]
    body = row(None, answer_key="42", referee={"source": mix, "reference_field": "answer_key"})
    answer = agent_run(client, body).json()
    components = answer["reward_components"]
    assert components["math"] == 1.0 and 0.0 <= components["wordcount"] <= 1.0
    assert answer["reward"] == pytest.approx(1.0 + 0.5 * components["wordcount"])


def test_source_in_the_path(client: httpx.Client) -> None:
    answer = agent_run(client, row("42"), "/nemo_gym/math:2/verify").json()
    assert answer["reward"] == 2.0 and answer["reward_components"] == {"math": 1.0}


def test_new_style_seed_session_echoes_its_id(client: httpx.Client) -> None:
    body = {"resources_session_id": "s-1", "episode_id": "e", "task_id": "t", "task_data": {}}
    assert client.post("/seed_session", json=body).json() == {"resources_session_id": "s-1"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (row("42"), "no source: give the dataset row a `referee` object"),
        (row("42", referee={"source": "mathh"}), "'mathh' is not registered"),
        (row("42", referee={"source": "math", "typo": 1}), "referee.typo: Extra inputs are not permitted"),
        ({"response": response("x"), "referee": {"source": "math"}}, "responses_create_params: Field required"),
    ],
)
def test_bad_requests_name_the_problem(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    verify_request = {"response": response("x"), **body}
    answer = client.post("/verify", content=json.dumps(verify_request), headers=HEADERS)
    assert answer.status_code in (404, 422)
    assert message in answer.json()["detail"]
