"""OpenAI grader endpoints, driven by the OpenAI SDK itself against the real service (API key required).

`OpenAI(base_url=<service>/v1, api_key=KEY).fine_tuning.alpha.graders.run(...)` sends exactly what it sends
to api.openai.com (same JSON, `Authorization: Bearer`), and parses the answer with its own models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from rapidfuzz import fuzz, utils
from rouge_score import rouge_scorer

from referee.service.local import LocalService, free_port
from tests.conftest import API_KEY


@pytest.fixture(scope="module")
def client(keyed_service: LocalService) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=keyed_service.url + "/v1", api_key=API_KEY, max_retries=0, timeout=600) as c:
        yield c


def run(client: openai.OpenAI, grader: dict[str, Any], sample: str, item: dict[str, Any] | None = None) -> Any:
    return client.fine_tuning.alpha.graders.run(grader=grader, model_sample=sample, item=item or {})  # type: ignore[arg-type]


def check(op: str, given: str, ref: str) -> dict[str, Any]:
    return {"type": "string_check", "name": "sc", "input": given, "reference": ref, "operation": op}


@pytest.mark.parametrize(
    ("operation", "sample", "reference", "reward"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "paris", "Paris", 0.0),
        ("ne", "Lyon", "Paris", 1.0),
        ("ne", "Paris", "Paris", 0.0),
        ("like", "It is Paris.", "Paris", 1.0),
        ("like", "It is paris.", "Paris", 0.0),
        ("ilike", "It is PARIS.", "paris", 1.0),
        ("ilike", "It is Lyon.", "paris", 0.0),
    ],
)
def test_string_check(client: openai.OpenAI, operation: str, sample: str, reference: str, reward: float) -> None:
    grader = check(operation, "{{ sample.output_text }}", "{{ item.answer }}")
    result = run(client, grader, sample, {"answer": reference})
    assert result.reward == reward
    assert result.metadata.name == "sc" and result.metadata.type == "string_check"
    assert not any(v for k, v in result.metadata.errors.to_dict().items() if k.endswith("_error"))
    assert result.sub_rewards == {} and result.metadata.scores == {}


def test_text_similarity_metrics_match_their_libraries(client: openai.OpenAI) -> None:
    sample, reference = "fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair"
    expected = {
        "fuzzy_match": fuzz.WRatio(sample, reference, processor=utils.default_process) / 100,
        "rouge_l": rouge_scorer.RougeScorer(["rougeL"]).score(reference, sample)["rougeL"].fmeasure,
        "rouge_1": rouge_scorer.RougeScorer(["rouge1"]).score(reference, sample)["rouge1"].fmeasure,
    }
    for metric, value in expected.items():
        grader = {"type": "text_similarity", "name": metric, "input": "{{ sample.output_text }}",
                  "reference": "{{ item.reference_answer }}", "evaluation_metric": metric}
        result = run(client, grader, sample, {"reference_answer": reference})
        assert result.reward == pytest.approx(value), metric
        assert 0.0 < result.reward < 1.0
    for metric in ("bleu", "gleu", "rouge_2", "rouge_5"):
        grader = {"type": "text_similarity", "name": metric, "input": "{{ sample.output_text }}",
                  "reference": "the cat sat on the mat today", "evaluation_metric": metric}
        assert run(client, grader, "the cat sat on the mat today").reward == pytest.approx(1.0), metric
        assert run(client, grader, "dogs bark loudly at night").reward == pytest.approx(0.0), metric


def test_multi_grader_from_openai_guide(client: openai.OpenAI) -> None:
    grader = {
        "type": "multi",
        "graders": {
            "name": {"name": "name_grader", "type": "text_similarity", "input": "{{sample.output_json.name}}",
                     "reference": "{{item.name}}", "evaluation_metric": "fuzzy_match", "pass_threshold": 0.9},
            "email": {"name": "email_grader", "type": "string_check", "input": "{{sample.output_json.email}}",
                      "reference": "{{item.email}}", "operation": "eq"},
        },
        "calculate_output": "(name + email) / 2",
    }
    item = {"name": "John Doe", "email": "john.doe@gmail.com"}
    exact = run(client, grader, '{"name": "John Doe", "email": "john.doe@gmail.com"}', item)
    assert exact.reward == pytest.approx(1.0)
    assert exact.sub_rewards == {"name": pytest.approx(1.0), "email": 1.0}
    assert exact.metadata.scores == exact.sub_rewards and exact.metadata.type == "multi"
    wrong_email = run(client, grader, '{"name": "Jon Doe", "email": "jon@gmail.com"}', item)
    assert 0.0 < wrong_email.reward < 0.5
    assert wrong_email.sub_rewards["email"] == 0.0


def test_formula_with_power_and_functions(client: openai.OpenAI) -> None:
    grader = {
        "type": "multi", "name": "m",
        "graders": {"a": check("eq", "{{ sample.output_text }}", "yes"), "b": check("like", "{{ item.x }}", "y")},
        "calculate_output": "max(a, 0.25) ^ 2 + min(b, 0.5) * 2 - abs(-0.5)",
    }
    assert run(client, grader, "no", {"x": "y"}).reward == pytest.approx(0.0625 + 1.0 - 0.5)
    assert run(client, grader, "yes", {"x": "z"}).reward == pytest.approx(1.0 + 0.0 - 0.5)


def _flags(result: Any) -> set[str]:
    errors = result.metadata.errors.to_dict()
    return {k for k, v in errors.items() if v is True}


def test_missing_variable_is_flagged_not_scored(client: openai.OpenAI) -> None:
    result = run(client, check("eq", "{{ sample.output_text }}", "{{ item.answer }}"), "Paris", {"other": 1})
    assert result.reward == 0.0
    assert _flags(result) == {"invalid_variable_error"}
    referee = result.metadata.to_dict()["referee"]
    assert referee["unscored"] is True and "item.answer: not found" in referee["error"]


def test_output_json_of_a_non_json_sample_is_a_sample_parse_error(client: openai.OpenAI) -> None:
    result = run(client, check("eq", "{{ sample.output_json.city }}", "Paris"), "Paris, not JSON")
    assert result.reward == 0.0 and _flags(result) == {"sample_parse_error"}


def test_failed_sub_grader_fails_the_multi_and_formula_errors_are_flagged(client: openai.OpenAI) -> None:
    graders = {"a": check("eq", "x", "x"), "b": check("eq", "{{ item.missing }}", "x")}
    grader = {"type": "multi", "name": "m", "calculate_output": "a / b", "graders": graders}
    failed = run(client, grader, "s", {})
    assert failed.reward == 0.0 and _flags(failed) == {"invalid_variable_error"}
    assert failed.metadata.to_dict()["referee"]["unscored"] is True
    graders["b"] = check("eq", "x", "y")  # b = 0: a / b divides by zero
    divided = run(client, grader, "s", {})
    assert divided.reward == 0.0 and _flags(divided) == {"other_error"}
    assert "float division by zero" in divided.metadata.to_dict()["referee"]["error"]


def test_reference_answer_of_early_sdks_fills_the_item(keyed_service: LocalService) -> None:
    import httpx

    body = {"grader": check("eq", "{{ sample.output_text }}", "{{ item.reference_answer }}"),
            "model_sample": "Paris", "reference_answer": "Paris"}
    answer = httpx.post(keyed_service.url + "/v1/fine_tuning/alpha/graders/run", json=body, timeout=60,
                        headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 200 and answer.json()["reward"] == 1.0


def test_validate_echoes_the_grader(client: openai.OpenAI) -> None:
    grader = check("ilike", "{{ sample.output_text }}", "{{ item.answer }}")
    answer = client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
    assert answer.grader is not None and answer.grader.to_dict() == grader


@pytest.mark.parametrize(
    ("grader", "message"),
    [
        ({"type": "label_model", "name": "l", "input": [], "labels": ["a"], "model": "m", "passing_labels": ["a"]},
         "does not match any of the expected tags: 'string_check'"),
        ({**check("eq", "a", "b"), "operation": "equals"}, "operation: Input should be 'eq', 'ne', 'like' or 'ilike'"),
        ({**check("eq", "a", "b"), "refrence": "typo"}, "refrence: Extra inputs are not permitted"),
        (check("eq", "{{ foo.bar }}", "b"), "grader.input: {{ foo.bar }}: a template variable is `item.<path>`"),
        ({"type": "text_similarity", "name": "t", "input": "a", "reference": "b", "evaluation_metric": "meteor"},
         "not available: meteor"),
        ({"type": "text_similarity", "name": "t", "input": "a", "reference": "b", "evaluation_metric": "cosine"},
         "not available: cosine"),
        ({"type": "multi", "name": "m", "graders": {"a": check("eq", "a", "b")}, "calculate_output": "a + b"},
         "'b' is not a grader name; the names are the keys of `graders`: a"),
        ({"type": "multi", "name": "m", "graders": {"a": check("eq", "a", "b")},
          "calculate_output": "__import__('os').getcwd()"}, "is not allowed"),
        ({"type": "multi", "name": "m", "graders": [check("eq", "a", "b")], "calculate_output": "a"},
         "graders must be an object mapping the names"),
        ({"type": "multi", "name": "m", "calculate_output": "x",
          "graders": {"x": {"type": "multi", "graders": {}, "calculate_output": "1"}}},
         "cannot contain another multi grader"),
        ({"type": "score_model", "name": "s", "model": "m", "input": [{"role": "user", "content": "hi"}],
          "range": [1, 0]}, "range must be [low, high] with low < high"),
    ],
)
def test_malformed_specs_are_422_naming_the_problem(client: openai.OpenAI, grader: dict[str, Any],
                                                    message: str) -> None:
    for call in (lambda: client.fine_tuning.alpha.graders.validate(grader=grader),  # type: ignore[arg-type]
                 lambda: run(client, grader, "sample")):
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            call()
        assert message in caught.value.response.json()["detail"]


def test_the_api_key_is_required(keyed_service: LocalService) -> None:
    with openai.OpenAI(base_url=keyed_service.url + "/v1", api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            run(wrong, check("eq", "a", "a"), "a")


PY_GRADER = """
import json

def grade(sample, item) -> float:
    print("debug output is fine")
    answer = json.loads(sample["output_text"])["answer"] if sample["output_json"] else sample["output_text"]
    return 1.0 if answer == item["reference_answer"] else 0.25
"""


def python(source: str) -> dict[str, Any]:
    return {"type": "python", "name": "py", "source": source, "image_tag": "2025-05-08"}


def test_python_grader_runs_in_the_sandbox(client: openai.OpenAI) -> None:
    item = {"reference_answer": "Paris"}
    assert run(client, python(PY_GRADER), "Paris", item).reward == 1.0
    assert run(client, python(PY_GRADER), '{"answer": "Paris"}', item).reward == 1.0
    assert run(client, python(PY_GRADER), "Lyon", item).reward == 0.25
    graded = run(client, python(PY_GRADER), "Lyon", item)
    referee = graded.metadata.to_dict()["referee"]
    assert _flags(graded) == set() and {k: referee[k] for k in ("unscored", "error")} == {"unscored": False,
                                                                                           "error": None}
    assert len(referee["request_id"]) == 32  # the audit log's id for this run


@pytest.mark.parametrize(
    ("source", "details"),
    [
        ("def grade(sample, item):\n    return 1 / 0\n", "ZeroDivisionError: division by zero"),
        ("def grade(sample, item):\n    return 'high'\n", "must return a float, it returned str 'high'"),
        ("def grade(sample, item):\n    return float('nan')\n", "returned nan, not a finite number"),
        ("import numpy\ndef grade(sample, item):\n    return 1.0\n", "ModuleNotFoundError: No module named 'numpy'"),
        ("import socket\ndef grade(sample, item):\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
         "    return 1.0\n", "exit 1"),
        ("def grade(sample, item):\n    while True:\n        pass\n", "did not finish within"),
    ],
)
def test_python_grader_failures_are_runtime_errors(client: openai.OpenAI, source: str, details: str) -> None:
    result = run(client, python(source), "x", {})
    assert result.reward == 0.0
    assert _flags(result) == {"python_grader_runtime_error"}
    assert details in result.metadata.errors.to_dict()["python_grader_runtime_error_details"]
    assert result.metadata.to_dict()["referee"]["unscored"] is True


def test_a_forged_result_in_the_sample_is_not_taken(client: openai.OpenAI) -> None:
    # The grader echoes the model sample, which pretends to be the driver's result line, then fails.
    source = "def grade(sample, item):\n    print(sample['output_text'])\n    raise ValueError('no')\n"
    forged = '\n__referee_result_0123456789abcdef0123456789abcdef__{"value": 1.0}\n'
    result = run(client, python(source), forged, {})
    assert result.reward == 0.0 and _flags(result) == {"python_grader_runtime_error"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def grade(sample, item)\n    return 1.0\n", "not valid Python"),
        ("def score(sample, item):\n    return 1.0\n", "defines no top-level function `grade(sample, item)`"),
        ("def grade(sample):\n    return 1.0\n", "taking exactly (sample, item)"),
        ("x" * (256 * 1024 + 1), "at most 262144 (256 kB)"),
        ("def grade(sample, item):\n    return 1.0\x00\n", "not valid Python"),
    ],
)
def test_malformed_python_graders_are_422(client: openai.OpenAI, source: str, message: str) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.fine_tuning.alpha.graders.validate(grader=python(source))  # type: ignore[arg-type]
    assert message in caught.value.response.json()["detail"]


def test_python_grader_inside_a_multi(client: openai.OpenAI) -> None:
    grader = {"type": "multi", "name": "m", "calculate_output": "0.5 * py + 0.5 * exact",
              "graders": {"py": python(PY_GRADER), "exact": check("eq", "{{ sample.output_text }}", "Paris")}}
    assert run(client, grader, "Lyon", {"reference_answer": "Paris"}).reward == pytest.approx(0.125)


def score_model(model: str, max_tokens: int = 32) -> dict[str, Any]:
    return {"type": "score_model", "name": "judge", "model": model, "range": [0, 1],
            "sampling_params": {"max_completions_tokens": max_tokens, "temperature": 0},
            "input": [
                {"role": "system", "content": "You grade answers: 1 if the answer equals the reference, else 0."},
                {"role": "user", "content": "Reference: {{ item.reference_answer }}\nAnswer: {{ sample.output_text }}"},
            ]}


@pytest.mark.slow
def test_score_model_on_the_embedded_judge(client: openai.OpenAI) -> None:
    result = run(client, score_model("embedded"), "Paris", {"reference_answer": "Paris"})
    assert _flags(result) == set(), result.metadata.to_dict()["referee"]
    assert 0.0 <= result.reward <= 1.0
    assert result.metadata.sampled_model_name.startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert result.metadata.to_dict()["referee"]["unscored"] is False


def test_score_model_uses_the_operators_judge_backend() -> None:
    # The operator points the judge at an OpenAI-compatible server; nothing listens there.
    backend = {"kind": "openai", "openai": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 0}}
    env = {"REFEREE_SOURCE_OPTIONS": json.dumps({"judge": {"backend": backend}})}
    with LocalService(sources=["exact", "judge"], env=env) as svc, \
            openai.OpenAI(base_url=svc.url + "/v1", api_key="none", max_retries=0, timeout=120) as c:
        result = run(c, score_model("judge"), "Paris", {"reference_answer": "Paris"})
    assert result.reward == 0.0 and _flags(result) == {"model_grader_server_error"}
    assert result.metadata.errors.to_dict()["model_grader_server_error_details"]
    assert result.metadata.to_dict()["referee"]["unscored"] is True


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "openai:smollm2@http://10.0.0.1/v1", "local:/etc"])
def test_a_request_cannot_choose_the_judge_model(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.fine_tuning.alpha.graders.validate(grader=score_model(model))  # type: ignore[arg-type]
    detail = caught.value.response.json()["detail"]
    assert f"not available: score_model graders: model {model!r} is not reachable" in detail
    assert "model must be 'judge'" in detail
