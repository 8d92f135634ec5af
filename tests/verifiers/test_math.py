"""The `math` reward source: the regression table, the source end to end through real worker processes,
pathological inputs, unscored reasons and options."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from referee.verifiers import ConfigError, Registry, Runtime, Sample, UnscoredReason, score_batch
from referee.verifiers.exact import final_answer
from referee.verifiers.math import TooExpensive, extract_answer, parse_answer, read_answer, verify
from referee.verifiers.math.choice import chosen_letter
from referee.verifiers.math.extract import extract_reference
from referee.verifiers.math.numbers import fast_verdict

from .math_table import (
    ALL,
    ANTI_GAMING,
    APPROXIMATIONS,
    CONSTANTS,
    EXTRACTION,
    LABELS,
    LATEX_NOISE,
    MALFORMED,
    NUMBER_FORMATS,
    NUMBERS,
    PROSE,
    RELATIONS,
    STRUCTURES,
    SYMBOLIC,
    TEXT_AND_CHOICES,
    UNITS,
    WILD,
    Row,
)

_GROUPS = {"extraction": EXTRACTION, "numbers": NUMBERS, "constants": CONSTANTS, "structures": STRUCTURES,
           "symbolic": SYMBOLIC, "choices": TEXT_AND_CHOICES, "latex": LATEX_NOISE, "wild": WILD,
           "gaming": ANTI_GAMING, "approx": APPROXIMATIONS, "prose": PROSE, "malformed": MALFORMED,
           "labels": LABELS, "relations": RELATIONS, "formats": NUMBER_FORMATS, "units": UNITS}
_ROWS = [pytest.param(*row, id=f"{group}-{i}") for group, rows in _GROUPS.items() for i, row in enumerate(rows)]


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    # as the service does: the pool preloads the source's modules (pint among them) in its forkserver
    async with Runtime(workers=2, preload=["sympy", *Registry().worker_preload(["math"])]) as rt:
        yield rt


@pytest.mark.parametrize(("gold", "completion", "expected"), _ROWS)
def test_table(gold: str, completion: str, expected: bool) -> None:
    assert verify(parse_answer(gold, gold=True), parse_answer(completion)) is expected


def test_fast_path_agrees_with_the_full_check() -> None:
    decided = 0
    for gold, completion, _ in ALL:
        answer = extract_answer(completion).answer
        if answer is None:
            continue
        fast = fast_verdict(extract_reference(gold), answer, 0.0)
        if fast is not None:
            decided += 1
            full = verify(read_answer(extract_reference(gold), gold=True), read_answer(answer, gold=False))
            assert fast is full, (gold, answer)
    assert decided >= 20  # the table exercises the fast path, not only the worker path


async def test_source_scores_the_table_end_to_end(runtime: Runtime) -> None:
    source = Registry().create("math", {}, runtime)
    scores = await score_batch(source, [Sample(completion=c, reference=g) for g, c, _ in ALL])
    wrong = [(g, c, s.value, s.reason, s.details) for (g, c, want), s in zip(ALL, scores, strict=True)
             if s.value != float(want)]
    assert not wrong
    paths = {s.details.get("path") for s in scores}
    assert {"fast", "worker"} <= paths
    first = scores[0]
    assert first.source == "math" and first.version == source.version
    assert first.details["method"] == "boxed" and first.details["extracted"] == "\\frac{2}{4}"


# Inputs whose exact check is absurdly expensive: refused at once by the budgets in `limits`, or killed at
# the deadline (a sum of powers each under the budget, together many seconds of big-integer arithmetic).
_PATHOLOGICAL = [
    "\\boxed{10^{10^{10}}}",
    "\\boxed{(10^{7})!}",
    "\\boxed{" + "{" * 400 + "1" + "}" * 400 + "}",
    "\\boxed{" + "\\frac{1}{" * 100 + "2" + "}" * 100 + "}",
    "\\boxed{\\sum_{k=1}^{10^{9}} k}",  # a sum of a billion terms: refused by its budget
    "\\boxed{" + " + ".join(f"3^{{{2_600_000 + k}}}" for k in range(12)) + "}",
]


async def test_pathological_inputs_time_out_and_never_block_other_items(runtime: Runtime) -> None:
    source = Registry().create("math", {"timeout_s": 0.5}, runtime)
    normal = [Sample(completion="\\boxed{x^2 - 1}", reference="(x-1)(x+1)"),
              Sample(completion="The answer is \\sqrt{8}.", reference="2\\sqrt{2}"),
              Sample(completion="#### 12", reference="12")]
    bad = [Sample(completion=c, reference="5") for c in _PATHOLOGICAL]
    scores = await score_batch(source, [*bad[:2], *normal, *bad[2:]])
    timed_out = [*scores[:2], *scores[5:]]
    assert [s.reason for s in timed_out] == [UnscoredReason.TIMEOUT] * len(bad)
    assert all(s.value is None and s.details["error"] for s in timed_out)
    assert "bits" in timed_out[0].details["error"] and "nests deeper" in timed_out[2].details["error"]
    assert "worker was killed" in timed_out[-1].details["error"]  # the deadline, not a budget
    assert [s.value for s in scores[2:5]] == [1.0, 1.0, 1.0]
    # the pool is healthy afterwards: its killed worker was replaced
    again = await score_batch(source, normal)
    assert [s.value for s in again] == [1.0, 1.0, 1.0]


# Hostile text for the extraction scanners and regexes: openers that never close, long runs of one
# character, many candidate answers. Each must cost time linear in its length.
_HOSTILE = ["\\[", "\\(", "$", "$ a ", " ", "1,", "**", "\\", "answer is ", "not A or ", "{,}", "1,\\!", "x = 1 or ",
            "\\boxed{1} x ", "字", "\"", "<|"]


def _cost(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        verify(parse_answer("12", gold=True), parse_answer(text))
        chosen_letter(text, "ABCDE")
        extract_reference.__wrapped__(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("unit", _HOSTILE)
def test_extraction_is_linear_on_hostile_input(unit: str) -> None:
    small, large = unit * (8000 // len(unit)), unit * (32000 // len(unit))
    ratio = _cost(large) / max(_cost(small), 1e-4)
    assert ratio < 12, f"4x the text cost {ratio:.1f}x the time: quadratic somewhere"  # quadratic: 16x


def test_budgets_refuse_before_computing() -> None:
    with pytest.raises(TooExpensive):
        verify(read_answer("5", gold=True), read_answer("10^{10^{10}}", gold=False))
    with pytest.raises(TooExpensive):
        read_answer("{" * 400 + "1" + "}" * 400, gold=False)


async def test_unscored_reasons(runtime: Runtime) -> None:
    source = Registry().create("math", {}, runtime)
    scores = await score_batch(source, [
        Sample(completion="\\boxed{1}", reference=None),
        Sample(completion="\\boxed{1}", reference="  "),
        Sample(completion="\\boxed{1}", reference="The answer is \\boxed{}"),
        Sample(completion="\\boxed{1}", reference="\\frac{1}{"),
    ])
    assert [s.reason for s in scores] == [UnscoredReason.NO_REFERENCE, UnscoredReason.NO_REFERENCE,
                                          UnscoredReason.INVALID_REFERENCE, UnscoredReason.INVALID_REFERENCE]
    assert all(s.value is None and "reference" in s.details["error"] for s in scores)


async def test_no_answer_and_truncation_score_zero_with_a_note(runtime: Runtime) -> None:
    source = Registry().create("math", {}, runtime)
    scores = await score_batch(source, [
        Sample(completion="Let me think about it.", reference="4"),
        Sample(completion="2 + 2 = 4, so \\boxed{4}", reference="4", metadata={"finish_reason": "length"}),
        Sample(completion="So the answer is \\boxed{4", reference="4"),
        Sample(completion="\\boxed{3} hmm.\n\nNo: \\boxed{4}", reference="4"),
    ])
    assert [s.value for s in scores] == [0.0, 0.0, 0.0, 0.0]
    assert scores[3].details["other_boxed"] == ["3"]
    notes = [s.details["note"] for s in scores[:3]]
    assert "no final answer" in notes[0] and "token limit" in notes[1]
    assert "never closes" in notes[2] and "other_boxed" not in scores[2].details


async def test_options(runtime: Runtime) -> None:
    registry = Registry()
    approx = Sample(completion="\\boxed{1.414}", reference="\\sqrt{2}")
    phrase = Sample(completion="The answer is 7.", reference="7")
    unmarked = Sample(completion="So there are 7 left.", reference="7")
    letter_e = Sample(completion="The answer is (E).", reference="E")

    async def values(options: dict[str, object], samples: list[Sample]) -> list[float | None]:
        return [s.value for s in await score_batch(registry.create("math", options, runtime), samples)]

    assert await values({}, [approx, phrase, unmarked, letter_e]) == [0.0, 1.0, 1.0, 1.0]
    assert await values({"tolerance": 1e-3}, [approx]) == [1.0]
    assert await values({"extraction": "boxed"}, [approx, phrase]) == [0.0, 0.0]
    assert await values({"last_number_fallback": False}, [unmarked]) == [0.0]
    # with four options, 'E' is no letter choice: the gold is the symbol E and "(E)" still matches it,
    # but "E or D" is a hedge either way
    assert await values({"mc_letters": "ABCD"}, [letter_e]) == [1.0]
    hedge = Sample(completion="The answer is (E) or (D).", reference="E")
    assert await values({}, [hedge]) == [0.0]
    for bad in ({"mc_letters": "abc"}, {"mc_letters": "AA"}, {"timeout_s": 0}, {"tolerance": -1},
                {"extraction": "anything"}, {"nope": 1}):
        with pytest.raises(ConfigError):
            registry.config("math", bad)


def test_extraction_details() -> None:
    assert extract_answer("x = \\boxed{2} or x = \\boxed{3}").answer == "2, 3"
    assert extract_answer("\\boxed{\\frac{a}{\\sqrt{b}}}").answer == "\\frac{a}{\\sqrt{b}}"
    assert extract_answer("Final Answer: The final answer is $x^2$. I hope it is correct.").answer == "x^2"
    assert extract_answer("The answer is $3.5$ or $4$.").answer == "$3.5$ or $4$"
    assert extract_answer("The answer is: \n$$\\frac{1}{2}$$").answer == "\\frac{1}{2}"
    found = extract_answer("It is 12 or 13")
    assert (found.answer, found.method) == ("12 or 13", "last_number")
    assert extract_answer("<think>the answer is 5").method == "refused"
    assert extract_answer("The answer is 5.", mode="boxed").answer is None
    assert extract_reference("Natalia sold 24 clips.\n#### 72") == "72"
    assert extract_reference("so $\\boxed{\\frac{1}{2}}$") == "\\frac{1}{2}"


def test_exact_source_reuses_the_extractor() -> None:
    assert final_answer("<think>The answer is 5</think>The answer is 6.") == "6"
    assert final_answer("So \\boxed{\\{1, 2\\}} is it") == "\\{1, 2\\}"
    assert final_answer("The answer is \\boxed{4") == ""
    assert final_answer("Paris\n") == "Paris"


def _fails(rows: list[Row]) -> list[Row]:
    return [r for r in rows if verify(parse_answer(r[0], gold=True), parse_answer(r[1])) is not r[2]]


def test_the_check_is_asymmetric() -> None:
    # a gold list is a set of answers; the same text as a response to a single gold is a hedge
    assert verify(parse_answer("2, 3", gold=True), parse_answer("\\boxed{3, 2}"))
    assert not verify(parse_answer("2", gold=True), parse_answer("\\boxed{3, 2}"))
    # a decimal gold sets a precision; a decimal response does not
    assert verify(parse_answer("3.14", gold=True), parse_answer("\\boxed{\\pi}"))
    assert not verify(parse_answer("\\pi", gold=True), parse_answer("\\boxed{3.14}"))
    # the gold's base applies to an unsubscripted response; the response's never to the gold
    assert verify(parse_answer("101_2", gold=True), parse_answer("\\boxed{101}"))
    assert not verify(parse_answer("101", gold=True), parse_answer("\\boxed{101_2}"))
    assert not _fails(ANTI_GAMING)
