"""What the tests see (issue 13): builtins, modules and prompt-given helpers are the tests' own, whatever the
candidate binds; the names the tests are meant to call (the entry point, the candidate's helpers and classes)
are the candidate's.

Each forgery below pairs a wrong solution with a trick that made the tests compute something else (a
shadowed builtin, a rebound or patched module, a redefined helper); it must score 0, scored. Each control
shows that the same tests pass a right solution, so a 0 is the trick failing, not the tests being broken.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from referee.verifiers import Sample, Score

from .test_code_sandbox import score_many, score_one


@dataclass(frozen=True)
class Case:
    code: str
    tests: str
    right: str = ""
    entry_point: str | None = None


MBPP_TESTS = "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))\n"
MBPP_RIGHT = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"
MAD_TESTS = """
def check(candidate):
    assert abs(candidate([1.0, 2.0, 3.0]) - 2.0 / 3.0) < 1e-6
    assert abs(candidate([1.0, 2.0, 3.0, 4.0]) - 1.0) < 1e-6
"""
MAD_RIGHT = """
def mean_absolute_deviation(numbers):
    mean = sum(numbers) / len(numbers)
    return sum(abs(x - mean) for x in numbers) / len(numbers)
"""
AREA_RIGHT = "def area(r):\n    return 3.141592653589793 * r * r\n"
AREA_RIGHT_IMPORTING = "import math\ndef area(r):\n    return math.pi * r * r\n"
# MBPP keeps `import math` in a separate test_imports list, which some pipelines drop: the tests then rely
# on the module name the reference solution happened to import.
AREA_TESTS_RELYING = "assert math.isclose(area(2), 12.566, rel_tol=1e-3)\n"
AREA_TESTS_IMPORTING = "import math\nassert math.isclose(area(2), 12.566, rel_tol=1e-3)\n"
SQUARES_RIGHT = "def square(x):\n    return x * x\n"

# One wrong solution per trick; `right` is the control: the same tests pass it.
FORGERIES: dict[str, Case] = {
    "def set() beside a wrong answer (issue 13)": Case(
        "def similar_elements(a, b):\n    return (1,)\ndef set(*a):\n    return 1\n", MBPP_TESTS, MBPP_RIGHT),
    "abs = lambda x: 0.0 beside a wrong answer (issue 13)": Case(
        "def mean_absolute_deviation(numbers):\n    return 99.0\nabs = lambda x: 0.0\n", MAD_TESTS, MAD_RIGHT,
        "mean_absolute_deviation"),
    "sorted() returning its input": Case(
        "def sort_desc(xs):\n    return xs\ndef sorted(xs, **k):\n    return list(xs)\n",
        "assert sort_desc([1, 3, 2]) == sorted([1, 3, 2], reverse=True)\n",
        "def sort_desc(xs):\n    return sorted(xs, reverse=True)\n"),
    "len() constant": Case(
        "def dedupe(xs):\n    return xs\nlen = lambda x: 2\n", "assert len(dedupe([1, 1, 2])) == 2\n",
        "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n"),
    "isinstance() always true": Case(
        "def parse(s):\n    return s\ndef isinstance(*a):\n    return True\n",
        "assert isinstance(parse('12'), int)\n",
        "def parse(s):\n    return int(s)\n"),
    "range() empty: the loop of asserts never runs": Case(
        "def square(x):\n    return 0\ndef range(*a):\n    return []\n",
        "def test_squares():\n    for i in range(1, 4):\n        assert square(i) == i * i\n", SQUARES_RIGHT),
    "all() always true": Case(
        "def square(x):\n    return 0\nall = lambda it: True\n",
        "assert all(square(i) == i * i for i in [1, 2, 3])\n", SQUARES_RIGHT),
    "a builtin rebound in the builtins module, then `from builtins import *`": Case(
        "import builtins\nbuiltins.sorted = lambda xs, **k: list(xs)\nfrom builtins import *\n"
        "def sort_list(xs):\n    return xs\n",
        "assert sort_list([3, 1, 2]) == sorted([3, 1, 2])\nassert sort_list([2, 1, 3]) == sorted([2, 1, 3])\n",
        "def sort_list(xs):\n    return sorted(xs)\n"),
    "builtins.abs patched in the builtins module": Case(
        "import builtins\nbuiltins.abs = lambda x: 0.0\ndef mean_absolute_deviation(numbers):\n    return 99.0\n",
        MAD_TESTS, MAD_RIGHT, "mean_absolute_deviation"),
    "__builtins__['len'] patched": Case(
        "import builtins\nbuiltins.__dict__['len'] = lambda x: 2\n__builtins__ = {'len': lambda x: 2}\n"
        "def dedupe(xs):\n    return xs\n", "assert len(dedupe([1, 1, 2])) == 2\n",
        "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n"),
    "math rebound to an object whose isclose() is always true": Case(
        "import types\nmath = types.SimpleNamespace(isclose=lambda *a, **k: True)\ndef area(r):\n    return 0\n",
        AREA_TESTS_RELYING, AREA_RIGHT_IMPORTING),
    "math rebound to a class whose isclose() is always true": Case(
        "class math:\n    isclose = staticmethod(lambda *a, **k: True)\ndef area(r):\n    return 0\n",
        AREA_TESTS_RELYING, AREA_RIGHT_IMPORTING),
    "math.isclose monkeypatched, tests rely on the candidate's import": Case(
        "import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0\n",
        AREA_TESTS_RELYING, AREA_RIGHT_IMPORTING),
    "math.isclose monkeypatched, tests import math themselves": Case(
        "import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0\n",
        AREA_TESTS_IMPORTING, AREA_RIGHT),
    "a fake module registered as math": Case(
        "import sys, types\nfake = types.ModuleType('math')\nfake.isclose = lambda *a, **k: True\n"
        "sys.modules['math'] = fake\nimport math\ndef area(r):\n    return 0\n",
        AREA_TESTS_RELYING, AREA_RIGHT_IMPORTING),
    "re.fullmatch monkeypatched": Case(
        "import re\nre.fullmatch = lambda *a, **k: True\ndef digits(n):\n    return 'abc'\n",
        "assert re.fullmatch(r'[0-9]+', digits(5))\nassert len(digits(5)) == 5\n",
        "import re\ndef digits(n):\n    return '7' * n\n"),
    "returns a list of always-equal objects": Case(
        "class Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def pair():\n    return [Any(), Any()]\n", "assert pair() == [1, 2]\n",
        "def pair():\n    return [1, 2]\n"),
    "returns a str subclass that equals everything": Case(
        "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
        "def greet():\n    return S('no')\n", "assert greet() == 'hello'\n", "def greet():\n    return 'hello'\n"),
    "returns a float subclass that is close to everything": Case(
        "class F(float):\n    def __sub__(self, other):\n        return 0.0\n    __rsub__ = __sub__\n"
        "def mean_absolute_deviation(numbers):\n    return F(99.0)\n", MAD_TESTS, MAD_RIGHT,
        "mean_absolute_deviation"),
}

# Programs that must keep passing: the names the tests are meant to call stay the candidate's.
CONTROLS: dict[str, Case] = {
    "helper functions and a helper class the tests construct": Case(
        "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
        "    def norm1(self):\n        return abs(self.x) + abs(self.y)\n"
        "def make(x, y):\n    return Point(x, y)\ndef helper():\n    return 41\n",
        "p = Point(3, -4)\nassert p.norm1() == 7\nassert make(1, 1).norm1() == 2\nassert helper() + 1 == 42\n"),
    "the candidate imports modules itself and the tests use them": Case(
        "import math\nimport collections as c\nfrom itertools import accumulate\n"
        "def area(r):\n    return math.pi * r * r\n",
        "assert math.isclose(area(2), 12.566, rel_tol=1e-3)\nassert list(accumulate([1, 2])) == [1, 3]\n"
        "assert c.Counter('aab')['a'] == 2\n"),
    "`from math import *` in the candidate does not take the tests' pow()": Case(
        "from math import *\ndef hyp(a, b):\n    return sqrt(a * a + b * b)\n",
        "assert hyp(3, 4) == 5.0\nassert pow(int(hyp(3, 4)), 2, 7) == 4\nassert sqrt(16) == 4.0\n"),
    "an entry point named like a builtin, declared in metadata": Case(
        "def sum(xs):\n    total = 0\n    for x in xs:\n        total += 2 * x\n    return total\n",
        "def check(candidate):\n    assert candidate([1, 2]) == 6\n    assert sum([1, 2]) == 6\n", entry_point="sum"),
    "the candidate's module-level constants and a generator": Case(
        "LIMIT = 3\nTABLE = {'a': 1}\ndef gen():\n    yield from range(LIMIT)\n",
        "assert LIMIT == 3 and TABLE['a'] == 1\nassert list(gen()) == [0, 1, 2]\n"),
    "HumanEval-style prompt helper the candidate calls itself": Case(
        "import math\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n"
        "def find_zero(xs):\n    lo, hi = -100.0, 100.0\n    while hi - lo > 1e-10:\n        mid = (lo + hi) / 2\n"
        "        if poly(xs, lo) * poly(xs, mid) <= 0:\n            hi = mid\n        else:\n            lo = mid\n"
        "    return lo\n",
        "def check(candidate):\n    import math\n    assert math.fabs(poly([1, 2], candidate([1, 2]))) < 1e-4\n",
        entry_point="find_zero"),
}


def assert_scored_zero(score: Score) -> None:
    assert score.reason is None, score.details
    assert score.value == 0.0, score.details["tests"]


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_shadowing_forgery_scores_zero(name: str) -> None:
    case: Case = FORGERIES[name]
    assert_scored_zero(await score_one(case.code, case.tests, case.entry_point))


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_the_same_tests_pass_a_right_solution(name: str) -> None:
    case: Case = FORGERIES[name]
    score = await score_one(case.right, case.tests, case.entry_point)
    assert score.value == 1.0, score.details


@pytest.mark.parametrize("name", list(CONTROLS))
async def test_legitimate_programs_still_pass(name: str) -> None:
    case: Case = CONTROLS[name]
    score = await score_one(case.code, case.tests, case.entry_point)
    assert score.value == 1.0, score.details


async def test_hidden_names_are_reported() -> None:
    """A user whose tests failed because a name was hidden sees which name and why."""
    score = await score_one("def f():\n    return 2\ndef sum(xs):\n    return 3\n", "assert sum([f(), 1]) == 3")
    assert score.value == 1.0, score.details
    assert score.details["hidden_names"] == {"sum": "builtin"}


HELPER_PROMPT = '''
def encode(s: str) -> str:
    """Shift every letter by one."""
    return "".join(chr(ord(c) + 1) for c in s)


def decode(s: str) -> str:
    """Undo encode()."""
'''
HELPER_TESTS = """
def check(candidate):
    for word in ("abc", "hello", "xyz"):
        assert candidate(encode(word)) == word
"""


def helper_sample(completion: str) -> Sample:
    return Sample(prompt=HELPER_PROMPT, completion=completion, reference=HELPER_TESTS,
                  metadata={"entry_point": "decode"})


async def test_a_helper_the_prompt_gives_cannot_be_redefined_by_the_candidate() -> None:
    """HumanEval/32 (`poly`), /38 (`encode_cyclic`), /50 (`encode_shift`): the tests check the answer with a
    helper that the prompt defines. A completion that redefines it (identity encode, identity decode) must not
    change what the tests compute."""
    forged, right, chat = await score_many([
        helper_sample("    return s\n\n\ndef encode(s):\n    return s\n"),
        helper_sample('    return "".join(chr(ord(c) - 1) for c in s)\n'),
        # a chat answer repeats the whole prompt: the helper is redefined identically, and that is fine
        helper_sample("```python\n" + HELPER_PROMPT + '    return "".join(chr(ord(c) - 1) for c in s)\n```\n'),
    ])
    assert_scored_zero(forged)
    assert forged.details["hidden_names"] == {"encode": "prompt"}
    assert right.value == 1.0, right.details
    assert chat.value == 1.0, chat.details
