"""Property tests (hypothesis) for the two parsers that read untrusted text: the math answer extractor and
verifier (a policy's completions), and the constitution parser (users' files)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from referee.judges.parser import parse
from referee.verifiers.math import parse_answer, verify
from referee.verifiers.math.extract import extract_answer

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Prose a policy might write before its answer: no boxes, no think tags, no answer phrases, no digits.
prose = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Nd"]), max_size=300).filter(
    lambda t: not re.search(r"\\(boxed|fbox)|think>|answer|####", t, re.IGNORECASE))
integers = st.integers(min_value=-10**6, max_value=10**6)


@SETTINGS
@given(st.text(max_size=2000))
def test_extractor_is_total(text: str) -> None:
    result = extract_answer(text)
    assert result.answer is None or isinstance(result.answer, str)
    assert result.answer is not None or result.method in ("none", "refused")


@SETTINGS
@given(prose, integers)
def test_a_final_boxed_answer_is_the_answer(working: str, n: int) -> None:
    result = extract_answer(f"{working}\n\nSo the final result is \\boxed{{{n}}}.")
    assert result.answer == str(n) and result.method == "boxed"


@SETTINGS
@given(prose, integers)
def test_an_unclosed_box_is_no_answer(working: str, n: int) -> None:
    assert extract_answer(f"{working}\n\\boxed{{{n}").answer is None


@SETTINGS
@given(prose, integers)
def test_an_unclosed_think_is_no_answer(working: str, n: int) -> None:
    assert extract_answer(f"<think>{working} \\boxed{{{n}}}").answer is None


@SETTINGS
@given(prose, integers, integers)
def test_the_right_answer_is_credited_and_a_wrong_one_is_not(working: str, gold: int, other: int) -> None:
    g = parse_answer(str(gold), gold=True)
    assert verify(g, parse_answer(f"{working}\nThe answer is \\boxed{{{gold}}}."))
    assume(other != gold)
    assert not verify(g, parse_answer(f"{working}\nThe answer is \\boxed{{{other}}}."))


@SETTINGS
@given(prose, integers, st.lists(integers, min_size=1, max_size=4))
def test_hedging_over_several_answers_is_never_credited(working: str, gold: int, others: list[int]) -> None:
    assume(any(o != gold for o in others))
    g = parse_answer(str(gold), gold=True)
    options = [gold, *others]
    assert not verify(g, parse_answer(f"{working}\nThe answer is " + " or ".join(map(str, options)) + "."))
    assert not verify(g, parse_answer(f"{working}\n" + " ".join(f"\\boxed{{{o}}}" for o in options)))
    # a chain states its last part only: the gold earlier in it, before a wrong last value, never counts
    wrong_last = [o for o in others if o != gold][-1]
    chain = " = ".join(map(str, [*options, wrong_last]))
    assert not verify(g, parse_answer(f"{working}\n\\boxed{{{chain}}}"))


@SETTINGS
@given(st.binary(max_size=3000))
def test_constitution_parser_is_total(data: bytes) -> None:
    result = parse(data)
    assert (result.constitution is None) == bool(result.errors)
    lines = max(1, data.count(b"\n") + 1)
    assert all(1 <= issue.line <= lines + 1 for issue in result.issues)


ids = st.from_regex(r"\A[a-z][a-z0-9_-]{0,20}\Z")
sentences = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1,
                    max_size=80).map(str.strip).filter(lambda t: t and not t.startswith("#") and ":" not in t)


@SETTINGS
@given(st.lists(st.tuples(ids, st.integers(1, 9), sentences), min_size=1, max_size=6,
                unique_by=lambda p: p[0]), sentences)
def test_constitution_round_trips(principles: list[tuple[str, int, str]], preamble: str) -> None:
    text = "---\nname: prop\nversion: 3\ndescription: generated\n---\n\n" + preamble + "\n\n# Principles\n\n"
    text += "".join(f"## {pid}\nweight: {w}\n{body}\n\n" for pid, w, body in principles)
    result = parse(text)
    assert result.constitution is not None, [i.format() for i in result.issues]
    c = result.constitution
    assert (c.name, c.version, c.preamble) == ("prop", 3, preamble)
    assert [(p.id, p.weight, p.text) for p in c.principles] == [(i, float(w), b) for i, w, b in principles]


@SETTINGS
@given(st.lists(ids, min_size=2, max_size=5, unique=True))
def test_duplicate_principle_ids_are_reported_on_their_line(names: list[str]) -> None:
    names = [*names, names[0]]
    text = "---\nname: dup\nversion: 1\ndescription: d\n---\n\np\n\n# Principles\n\n"
    text += "".join(f"## {n}\nweight: 1\ntext of {n}\n\n" for n in names)
    result = parse(text)
    assert result.constitution is None
    lines = text.splitlines()
    second = lines.index(f"## {names[0]}", lines.index(f"## {names[0]}") + 1) + 1
    assert [i.line for i in result.errors] == [second]
