"""Code extraction from markdown and reading the reference into tests: table-driven, no sandbox needed
(except the last few, which check the formats end to end)."""

from __future__ import annotations

import pytest

from referee.verifiers import UnscoredReason
from referee.verifiers.code import (
    InvalidReference,
    assemble_program,
    code_blocks,
    extract_code,
    outputs_match,
    parse_reference,
)

FENCE = "```"

EXTRACT_ROWS = [
    # (completion, entry_point, expected code)
    ("def f():\n    return 1\n", None, "def f():\n    return 1\n"),
    (f"Here:\n{FENCE}python\ndef f():\n    return 1\n{FENCE}\nDone.", None, "def f():\n    return 1\n"),
    (f"{FENCE}\nx = 1\n{FENCE}", None, "x = 1\n"),
    (f"{FENCE}py\na = 1\n{FENCE}\ntext\n{FENCE}python\nb = 2\n{FENCE}", None, "b = 2\n"),
    # the block that defines the entry point wins over a later example block
    (f"{FENCE}python\ndef f(x):\n    return x\n{FENCE}\nUsage:\n{FENCE}python\nprint(f(1))\n{FENCE}", "f",
     "def f(x):\n    return x\n"),
    # other languages are ignored; only they: the whole completion
    (f"{FENCE}bash\npip install x\n{FENCE}\n{FENCE}python\ny = 2\n{FENCE}", None, "y = 2\n"),
    (f"{FENCE}bash\nls\n{FENCE}", None, f"{FENCE}bash\nls\n{FENCE}"),
    # truncated answer: an open fence runs to the end
    (f"{FENCE}python\ndef f():\n    return", None, "def f():\n    return"),
    # tildes and longer fences, with a nested shorter fence inside
    ("~~~python\nz = 3\n~~~", None, "z = 3\n"),
    (f"````python\ns = '''\n{FENCE}\n'''\n````", None, f"s = '''\n{FENCE}\n'''\n"),
    ("```Python title=x\nq = 1\n```", None, "q = 1\n"),
]


@pytest.mark.parametrize(("completion", "entry_point", "expected"), EXTRACT_ROWS)
def test_extract_code(completion: str, entry_point: str | None, expected: str) -> None:
    assert extract_code(completion, entry_point) == expected


def test_code_blocks_lists_tags_in_order() -> None:
    text = f"{FENCE}python\na\n{FENCE}\n{FENCE}js\nb\n{FENCE}\n{FENCE}\nc\n{FENCE}"
    assert code_blocks(text) == [("python", "a\n"), ("js", "b\n"), ("", "c\n")]


HUMANEVAL_PROMPT = 'def add(a, b):\n    """Add two numbers."""\n'


@pytest.mark.parametrize(("prompt", "completion", "mode", "expected"), [
    (HUMANEVAL_PROMPT, "    return a + b\n", "auto", HUMANEVAL_PROMPT + "    return a + b\n"),
    (HUMANEVAL_PROMPT, f"{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}", "auto",
     HUMANEVAL_PROMPT + "def add(a, b):\n    return a + b\n"),
    ("Write a function add(a, b).", "def add(a, b):\n    return a + b\n", "auto",
     "def add(a, b):\n    return a + b\n"),
    (HUMANEVAL_PROMPT, "    return a + b\n", "never", "    return a + b\n"),
    ("x = 1", "y = 2", "always", "x = 1\ny = 2"),
])
def test_assemble_program(prompt: str, completion: str, mode: str, expected: str) -> None:
    assert assemble_program(prompt, completion, "add", mode) == expected  # type: ignore[arg-type]


def test_reference_formats() -> None:
    spec = parse_reference('[{"input": "1 2", "output": "3"}]')
    assert (spec.mode, spec.format, spec.inputs, spec.outputs) == ("stdio", "stdio", ["1 2"], ["3"])

    spec = parse_reference("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 1\n", "f")
    assert (spec.format, spec.names) == ("check", ["check(f)"])

    spec = parse_reference("import math\n\ndef helper():\n    return 1\n\ndef test_a():\n    pass\n\n"
                           "def test_b(x=1):\n    pass\n")
    assert (spec.format, spec.names) == ("functions", ["test_a", "test_b"])

    spec = parse_reference("x = f(1)\nassert x == 1\nassert f(2) == 2, 'msg'\n")
    assert spec.format == "asserts" and spec.names == ["assert at line 2", "assert at line 3"]
    assert [i["kind"] for i in spec.items] == ["setup", "assert", "assert"]


@pytest.mark.parametrize(("reference", "entry_point", "message"), [
    ("def check(candidate):\n    pass\n", None, "entry_point"),
    ("def test_a(tmp_path):\n    pass\n", None, "fixtures"),
    ("async def test_a():\n    pass\n", None, "async"),
    ("x = 1\n", None, "no tests found"),
    ("def f(:\n", None, "valid Python"),
    ('[{"input": 1, "output": "2"}]', None, "string 'input'"),
    ("[]", None, "empty list"),
    ("def check(candidate):\n    pass\n", "not an identifier", "identifier"),
])
def test_invalid_references(reference: str, entry_point: str | None, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(reference, entry_point)


@pytest.mark.parametrize(("got", "expected", "match"), [
    ("3\n", "3", True), ("1 2\n3 \n", "1 2 3", True), ("3", "4", False), ("", "0", False), ("0 0", "0", False),
])
def test_outputs_match_token_by_token(got: str, expected: str, match: bool) -> None:
    assert outputs_match(got, expected) is match


# end to end ---------------------------------------------------------------------------------------------

async def test_missing_and_invalid_references_are_unscored_not_zero() -> None:
    from referee.verifiers import Sample

    from .test_code_sandbox import score_many

    scores = await score_many([
        Sample(completion="x = 1"),
        Sample(completion="x = 1", reference="x = 2"),
        Sample(completion="def f(g):\n    return g()\n", reference="assert f(lambda: 1) == 1"),
        Sample(completion="x = 1", reference="def check(candidate):\n    pass\n", metadata={"entry_point": 3}),
    ])
    assert [s.reason for s in scores] == [UnscoredReason.NO_REFERENCE, UnscoredReason.INVALID_REFERENCE,
                                          UnscoredReason.INVALID_REFERENCE, UnscoredReason.INVALID_INPUT]
    assert all(s.value is None for s in scores)


async def test_stdio_program_reads_stdin_and_fails_on_error_exit() -> None:
    from .test_code_sandbox import score_one

    score = await score_one("""
        import sys
        a, b = map(int, sys.stdin.read().split())
        print(a + b)
        if a < 0:
            raise SystemExit(2)
        """, '[{"input": "1 2\\n", "output": "3"}, {"input": "5 5", "output": "10"}, '
        '{"input": "-1 4", "output": "3"}, {"input": "2 2", "output": "5"}]')
    assert [t["kind"] for t in score.details["tests"]] == ["ok", "ok", "exit 2", "fail"]
    assert score.value == 0.5


async def test_markdown_completion_with_humaneval_prompt_end_to_end() -> None:
    from referee.verifiers import Sample

    from .test_code_sandbox import score_many

    completion = f"Sure!\n{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}\nExample:\n{FENCE}python\n" \
        f"print(add(1, 2))\n{FENCE}"
    (score,) = await score_many([Sample(prompt=HUMANEVAL_PROMPT, completion=completion,
                                        reference="def check(candidate):\n    assert candidate(1, 2) == 3\n",
                                        metadata={"entry_point": "add"})])
    assert score.value == 1.0, score.details
