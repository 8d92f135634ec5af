"""OpenRLHF's remote reward model protocol, against the real service, posted the way OpenRLHF posts it.

OpenRLHF (openrlhf/utils/remote_rm_utils.py) sends `requests.post(url, json={"query", "prompts", "labels"},
headers={"Content-Type": "application/json"}, timeout=180)` and reads `rewards`, `scores`, `extra_logs`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests

from referee.service.local import LocalService
from referee.service.protocols.openrlhf import completion_of
from tests.conftest import API_KEY

HEADERS = {"Content-Type": "application/json"}

# Queries as OpenRLHF decodes them: chat-templated prompt + response, special tokens kept (ChatML here).
PROMPT = "<|im_start|>user\nWhat is 6 times 7?<|im_end|>\n<|im_start|>assistant\n"
QUERIES = [
    PROMPT + "6 x 7 = 42, so the answer is \\boxed{42}.<|im_end|>",
    PROMPT + "The answer is \\boxed{41}<|im_end|><|endoftext|><|endoftext|>",
    PROMPT + "It is 42.",
]


def get_reward(url: str, data: dict[str, Any]) -> requests.Response:
    return requests.post(url=url, json=data, headers=HEADERS, timeout=180)


def test_rewards_scores_and_unscored_mask(service: LocalService) -> None:
    data = {"query": QUERIES, "prompts": [PROMPT] * 3, "labels": ["42", "42", ""]}
    response = get_reward(f"{service.url}/openrlhf/math/get_reward", data)
    assert response.status_code == 200, response.text
    body = response.json()
    # the third has no label: unscored, so the fill value (0.0) and 1.0 in the mask
    assert body["rewards"] == [1.0, 0.0, 0.0]
    assert body["scores"] == body["rewards"]
    assert body["extra_logs"] == {"referee/unscored": [0.0, 0.0, 1.0]}
    assert body["reasons"] == [None, None, "no_reference"]


def test_unscored_value_is_configurable(service: LocalService) -> None:
    data = {"query": QUERIES[2:], "prompts": [PROMPT], "labels": [""]}
    body = get_reward(f"{service.url}/openrlhf/math/get_reward?unscored_value=-1", data).json()
    assert body["rewards"] == [-1.0] and body["extra_logs"]["referee/unscored"] == [1.0]


def test_mix_in_the_path_with_options(service: LocalService) -> None:
    options = quote(json.dumps({"wordcount": {"target": 4}}))
    url = f"{service.url}/openrlhf/exact:1,wordcount:0.5/get_reward?options={options}"
    data = {"query": ["Q: 2+2?\nA: The answer is 4", "Q: 2+2?\nA: 5"], "prompts": ["Q: 2+2?\nA:"] * 2,
            "labels": ["4", "4"]}
    body = get_reward(url, data).json()
    assert body["extra_logs"]["referee/exact"] == [1.0, 0.0]
    wordcount = body["extra_logs"]["referee/wordcount"]
    assert body["rewards"] == pytest.approx([1.0 + 0.5 * wordcount[0], 0.5 * wordcount[1]])


def test_query_only_requests_of_older_clients(service: LocalService) -> None:
    body = get_reward(f"{service.url}/openrlhf/exact/get_reward", {"query": ["The answer is 4"]}).json()
    assert body["rewards"] == [0.0] and body["reasons"] == ["no_reference"]


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        ("/openrlhf/mathh/get_reward", {"query": ["x"]}, 404, "'mathh' is not registered"),
        ("/openrlhf/exact:heavy/get_reward", {"query": ["x"]}, 422, "weight 'heavy' of 'exact'"),
        ("/openrlhf/exact/get_reward", {"query": ["a", "b"], "labels": ["1"]}, 422, "labels: 1 items for 2 queries"),
        ("/openrlhf/exact/get_reward", {"prompts": ["x"]}, 422, "query: Field required"),
        ("/openrlhf/exact/get_reward?options=%7Bbad", {"query": ["x"]}, 422, "query parameter options: not JSON"),
        ("/openrlhf/exact/get_reward?options=%7B%22nope%22%3A1%7D", {"query": ["x"]}, 422, "nope"),
        ("/openrlhf/exact/get_reward?on_unscored=skip", {"query": ["x"]}, 422, "applies to a mix only"),
    ],
)
def test_bad_requests_name_the_problem(service: LocalService, path: str, data: dict[str, Any], status: int,
                                       message: str) -> None:
    response = get_reward(service.url + path, data)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_the_api_key_is_honoured(keyed_service: LocalService) -> None:
    url = f"{keyed_service.url}/openrlhf/exact/get_reward"
    assert get_reward(url, {"query": ["4"], "labels": ["4"]}).status_code == 401  # OpenRLHF sends no key
    response = requests.post(url, json={"query": ["4"], "labels": ["4"]}, timeout=30,
                             headers={**HEADERS, "Authorization": f"Bearer {API_KEY}"})
    assert response.json()["rewards"] == [1.0]


@pytest.mark.parametrize(
    ("query", "prompt", "completion"),
    [
        (PROMPT + "42<|im_end|>", PROMPT, "42"),
        ("<s>" + PROMPT + "42</s>", PROMPT, "42"),  # a BOS token before the prompt
        (PROMPT + "42<|eot_id|>\n<pad><pad>", PROMPT, "42"),
        ("no prompt match 42<|im_end|>", PROMPT, "no prompt match 42"),
        ("text with <|im_start|> inside stays", "", "text with <|im_start|> inside stays"),
    ],
)
def test_completion_of(query: str, prompt: str, completion: str) -> None:
    assert completion_of(query, prompt) == completion
