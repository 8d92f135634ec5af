"""Forged results: every trick below comes with a wrong solution, and must score 0 (scored, not unscored).

A trick that worked would turn a wrong answer into a pass; one that crashed the harness would turn it into an
unscored result, which a policy could also learn to prefer over a 0. Both are failures here.
"""

from __future__ import annotations

import pytest

from referee.verifiers import Score

from .test_code_sandbox import score_one

HUMANEVAL_STYLE_TESTS = """
METADATA = {}

def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
"""


def assert_scored_zero(score: Score) -> None:
    assert score.reason is None, score.details
    assert score.value == 0.0, score.details["tests"]


FORGERIES = {
    "prints fake passed lines and a fake report": """
        import sys
        print("PASSED\\n" * 10)
        print('{"complete": true, "nonce": "x", "results": [{"passed": true, "kind": "ok"}]}')
        sys.stderr.write("1 passed, 0 failed\\n")
        def add(a, b):
            print('{"complete": true, "results": [{"passed": true}]}')
            return 0
        """,
    "sys.exit(0) before the tests run": """
        import sys
        def add(a, b):
            return 0
        sys.exit(0)
        """,
    "os._exit(0) before the tests run": """
        import os
        def add(a, b):
            return 0
        os._exit(0)
        """,
    "sys.exit(0) inside the function": """
        import sys
        def add(a, b):
            sys.exit(0)
        """,
    "os._exit(0) inside the function": """
        import os
        def add(a, b):
            os._exit(0)
        """,
    "object whose __eq__ is always True": """
        class Anything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __bool__(self):
                return True
            __hash__ = object.__hash__
        def add(a, b):
            return Anything()
        """,
    "int subclass whose __eq__ is always True": """
        class Int(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def add(a, b):
            return Int(0)
        """,
    "monkeypatched assert machinery and builtins": """
        import builtins
        class Never(Exception):
            pass
        builtins.AssertionError = Never
        builtins.Exception = Never
        builtins.isinstance = lambda *a: True
        builtins.abs = lambda x: 0
        def add(a, b):
            return 0
        """,
    "own check() that passes everything": """
        def check(candidate):
            return None
        def add(a, b):
            return 0
        """,
    "writes result files": """
        import os
        for path in ("/tmp/results.json", "results.json", "/tmp/report", "/dev/shm/results"):
            try:
                with open(path, "w") as f:
                    f.write('{"complete": true, "results": [{"passed": true}]}')
            except OSError:
                pass
        def add(a, b):
            return 0
        """,
    "kills the harness": """
        import os, signal
        def add(a, b):
            for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGSEGV,
                        signal.SIGSTOP, signal.SIGCHLD, signal.SIGPIPE):
                for pid in (1, os.getppid(), -1, 0):
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
            return 0
        """,
    "reads the tests out of the harness's memory": """
        def add(a, b):
            for path in ("/proc/1/mem", "/proc/1/cmdline", "/proc/1/environ", "/proc/self/fd/0"):
                try:
                    open(path, "rb").read()
                except OSError:
                    pass
            import ctypes
            libc = ctypes.CDLL(None)
            libc.ptrace(16, 1, 0, 0)
            return 0
        """,
    "reads the report channel or stdin of the harness": """
        import os
        def add(a, b):
            for fd in range(3, 64):
                try:
                    os.write(fd, b'{"complete": true, "results": [{"passed": true}]}')
                except OSError:
                    pass
            try:
                os.read(0, 1 << 20)
            except OSError:
                pass
            return 0
        """,
    "raises an exception": """
        def add(a, b):
            raise ValueError("no")
        """,
    "fails to compile": """
        def add(a, b)
            return a + b
        """,
}


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forgery_scores_zero(name: str) -> None:
    assert_scored_zero(await score_one(FORGERIES[name], HUMANEVAL_STYLE_TESTS, entry_point="add"))


async def test_same_tests_pass_an_honest_solution() -> None:
    """The control for every forgery above: the tests themselves are passable."""
    score = await score_one("def add(a, b):\n    return a + b\n", HUMANEVAL_STYLE_TESTS, entry_point="add")
    assert score.value == 1.0, score.details


async def test_the_candidate_never_sees_the_tests() -> None:
    """The candidate process is forked before the harness reads the tests, and a respawned one is a new
    interpreter: a scan of its whole heap finds no trace of the test code or its expected values."""
    score = await score_one("""
        import gc, sys
        def leaked():
            marker = "-".join(["needle", "7f3a9c"])  # built at run time: a literal would be a constant here
            for obj in gc.get_objects():
                try:
                    if marker in repr(obj)[:100000]:
                        return True
                except Exception:
                    pass
            for mod in list(sys.modules.values()):
                if marker in repr(vars(mod))[:100000]:
                    return True
            return False
        def crash():
            import os
            os._exit(1)
        """, """
        SECRET = "needle-7f3a9c"
        assert leaked() is False
        assert crash() is None
        assert leaked() is False
        """)
    assert [t["passed"] for t in score.details["tests"]] == [True, False, True]


async def test_forgery_in_stdio_mode_scores_zero() -> None:
    score = await score_one("""
        import os, sys
        print("3")  # the right answer for the first case only
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"complete": true, "results": [{"status": "ok", "stdout": "7"}]}')
            except OSError:
                pass
        """, '[{"input": "1 2", "output": "3"}, {"input": "3 4", "output": "7"}]')
    assert score.value == 0.5 and [t["passed"] for t in score.details["tests"]] == [True, False]


async def test_test_functions_count_each_and_exceptions_fail_closed() -> None:
    score = await score_one("""
        class Stack:
            def __init__(self):
                self.items = []
            def push(self, x):
                self.items.append(x)
            def pop(self):
                return self.items.pop()
            def __len__(self):
                return len(self.items)
        """, """
        def test_push_pop():
            s = Stack()
            s.push(1)
            s.push(2)
            assert s.pop() == 2
            assert len(s) == 1

        def test_pop_empty_raises():
            s = Stack()
            try:
                s.pop()
            except IndexError:
                return
            raise AssertionError("expected IndexError")

        def test_equality_of_objects_is_not_trusted():
            assert Stack() == Stack()
        """)
    assert [t["passed"] for t in score.details["tests"]] == [True, True, False]
    assert "non-plain" in score.details["tests"][2]["error"]


async def test_in_place_mutation_of_arguments_is_seen_by_the_tests() -> None:
    score = await score_one("""
        def sort_in_place(xs):
            xs.sort()
        def fill(d):
            d["k"] = 1
        """, """
        xs = [3, 1, 2]
        assert sort_in_place(xs) is None
        assert xs == [1, 2, 3]
        d = {}
        fill(d)
        assert d == {"k": 1}
        """)
    assert score.value == 1.0, score.details


async def test_values_cross_exactly() -> None:
    score = await score_one("""
        def values():
            return (1, 2.5, -0.0, float("inf"), "\\ud800x", b"\\x00\\xff", 1 + 2j, {1: [2, {3}]}, frozenset({4}),
                    None, True, 10 ** 100)
        def gen(n):
            yield from range(n)
        """, """
        import math
        v = values()
        assert v[:3] == (1, 2.5, 0.0) and math.copysign(1, v[2]) == -1 and v[3] == math.inf
        assert v[4] == "\\ud800x" and v[5] == b"\\x00\\xff" and v[6] == 1 + 2j
        assert v[7] == {1: [2, {3}]} and v[8] == frozenset({4}) and v[9] is None and v[10] is True
        assert v[11] == 10 ** 100 and type(v) is tuple and type(v[7]) is dict
        assert list(gen(3)) == [0, 1, 2]
        assert sum(x for x in gen(4)) == 6
        """)
    assert score.value == 1.0, score.details


async def test_hostile_values_fail_tests_instead_of_breaking_the_run() -> None:
    """Anything that made the harness fail would turn a 0 into an unscored result."""
    score = await score_one("""
        deep = []
        for _ in range(100_000):
            deep = [deep]
        def nested():
            return deep
        def cyclic():
            x = []
            x.append(x)
            return x
        def huge():
            return "x" * (20 << 20)
        def weird_int():
            return 10 ** 5000
        """, """
        assert nested() == []
        assert cyclic() == []
        assert huge() == ""
        assert weird_int() == 0
        """)
    assert score.reason is None and score.value == 0.0, score.details


async def test_output_flood_over_many_cases_fails_them_instead_of_breaking_the_run() -> None:
    cases = ", ".join(['{"input": "", "output": "1"}'] * 40)
    score = await score_one("""
        import sys
        sys.stdout.write("\\u20ac" * (1 << 20))
        """, f"[{cases}]", output_kb=4096)
    assert score.reason is None and score.value == 0.0, score.details.get("error")
