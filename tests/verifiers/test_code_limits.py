"""Usability of the code source (issue 13): HumanEval tests that call check() themselves, numeric
references, room for scratch files by default, resource limits named in the results, operator ceilings on
per-request limits, and a fair queue between batches."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from referee.verifiers import ConfigError, Registry, Runtime, Sample
from referee.verifiers.code import (
    CodeConfig,
    CodeVerifier,
    InvalidReference,
    Limits,
    Sandbox,
    parse_reference,
    shared_sandbox,
)

from .test_code_sandbox import score_many, score_one

# --------------------------------------------------------------------------------------- check(NAME) at the end

SELF_CHECKING_TESTS = """
METADATA = {}


def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0


check(add)
"""


def test_a_top_level_check_call_names_the_entry_point() -> None:
    spec = parse_reference(SELF_CHECKING_TESTS)
    assert (spec.format, spec.entry_point, spec.names) == ("check", "add", ["check(add)"])
    # the call is the one test: it is not also run as setup (line numbers of the rest are kept)
    (setup, check) = spec.items
    assert "check(add)" not in setup["source"] and setup["source"].count("\n") == SELF_CHECKING_TESTS.count("\n")
    assert check == {"kind": "check", "source": "check"}
    # metadata wins over the call; a call sharing its line with another statement is dropped on its own
    assert parse_reference(SELF_CHECKING_TESTS, "plus").entry_point == "plus"
    spec = parse_reference("def check(candidate):\n    assert candidate(1) == 1\nx = 1; check(f)\n")
    assert spec.entry_point == "f" and all("check(f)" not in item["source"] for item in spec.items)


def test_check_calls_on_different_functions_need_metadata() -> None:
    with pytest.raises(InvalidReference, match="different functions"):
        parse_reference("def check(candidate):\n    pass\ncheck(a)\ncheck(b)\n")


async def test_humaneval_tests_that_call_check_themselves_are_scored() -> None:
    right, wrong = await score_many([
        Sample(completion="def add(a, b):\n    return a + b\n", reference=SELF_CHECKING_TESTS),
        Sample(completion="def add(a, b):\n    return a * b\n", reference=SELF_CHECKING_TESTS),
    ])
    assert right.value == 1.0, right.details
    assert wrong.value == 0.0 and wrong.reason is None, wrong.details
    assert "setup_errors" not in wrong.details  # check(add) ran once, as the test, not also as setup


# ------------------------------------------------------------------------------------------ numeric reference

@pytest.mark.parametrize(("given", "text"), [(42, "42"), (-3, "-3"), (2.5, "2.5"), ("7", "7"), (None, None)])
def test_a_numeric_reference_is_taken_as_its_text(given: object, text: str | None) -> None:
    assert Sample(completion="x", reference=given).reference == text


@pytest.mark.parametrize(("given", "message"), [
    (True, "got bool"), ([{"input": "", "output": "1"}], "got list; send"), ({"a": 1}, "got dict"),
    (float("inf"), "finite"),
])
def test_other_reference_types_are_refused_with_the_fix(given: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Sample(completion="x", reference=given)


# ------------------------------------------------------------------------------------------------- disk room

SCRATCH_FILE = """
import os
def work():
    with open("scratch.bin", "wb") as f:  # in the working directory
        for _ in range(50):
            f.write(b"x" * (1 << 20))
    size = os.path.getsize("scratch.bin")
    os.remove("scratch.bin")
    return size
"""


async def test_a_correct_program_may_write_a_50_mb_scratch_file_by_default() -> None:
    score = await score_one(SCRATCH_FILE, "assert work() == 50 << 20")
    assert score.value == 1.0, score.details


# ------------------------------------------------------------------------------------------- limits, named

@pytest.mark.parametrize(("code", "tests", "options", "limit", "setting"), [
    (SCRATCH_FILE, "assert work() == 50 << 20", {"disk_mb": 8}, "file_size", "disk_mb=8"),
    ("def work():\n    return len(bytearray(400 << 20))\n", "assert work() == 400 << 20", {"memory_mb": 128},
     "memory", "memory_mb=128"),
    ("import os, time\ndef work():\n    for _ in range(64):\n        if os.fork() == 0:\n            time.sleep(30)\n"
     "            os._exit(0)\n    return 0\n", "assert work() == 0", {"max_processes": 8}, "processes",
     "max_processes=8"),
    ("import threading, time\ndef work():\n    for _ in range(64):\n"
     "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n    return 0\n",
     "assert work() == 0", {"max_processes": 8}, "processes", "max_processes=8"),
    ("def work():\n    return [open('/dev/null') for _ in range(500)] and 0\n", "assert work() == 0", {},
     "open_files", "64 open files"),
    # at load time: the whole program hits the limit before any test runs
    ("data = bytearray(400 << 20)\ndef work():\n    return 0\n", "assert work() == 0", {"memory_mb": 128},
     "memory", "memory_mb=128"),
])
async def test_a_resource_limit_is_named_in_the_result(code: str, tests: str, options: dict[str, int], limit: str,
                                                        setting: str) -> None:
    score = await score_one(code, tests, **options)
    assert score.reason is None and score.value == 0.0, score.details
    (test,) = score.details["tests"]
    assert (test["kind"], test.get("limit")) == ("limit", limit), test
    assert setting in test["error"] and "limit" in test["error"], test


async def test_a_resource_limit_is_named_in_stdio_mode() -> None:
    score = await score_one("""
        data = bytearray(400 << 20)
        print(len(data))
        """, '[{"input": "", "output": "419430400"}]', memory_mb=128)
    (test,) = score.details["tests"]
    assert (test["kind"], test.get("limit")) == ("limit", "memory"), test
    assert "memory_mb=128" in test["error"]


# --------------------------------------------------------------------------------------- operator ceilings

@pytest.mark.parametrize(("field", "over", "ceiling"), [
    ("memory_mb", 2048, 1024), ("max_processes", 128, 64), ("disk_mb", 1024, 512),
])
def test_a_request_may_not_ask_for_more_than_the_ceiling(field: str, over: int, ceiling: int) -> None:
    registry = Registry()
    with pytest.raises(ConfigError) as info:
        registry.config("code", {field: over})
    message = str(info.value)
    assert f"{field}={over}" in message and f"{field}_ceiling={ceiling}" in message and "operator" in message
    assert registry.config("code", {field: ceiling})  # at the ceiling is fine
    # an operator may raise the ceiling, and then the request is allowed
    assert registry.config("code", {field: over, f"{field}_ceiling": over})


def test_a_default_above_a_lowered_ceiling_follows_it() -> None:
    config = CodeConfig(disk_mb_ceiling=64, memory_mb_ceiling=256)
    assert (config.disk_mb, config.memory_mb) == (64, 256)


def test_ceilings_are_operator_only_fields() -> None:
    fields = CodeConfig.model_fields
    for name in ("memory_mb_ceiling", "max_processes_ceiling", "disk_mb_ceiling"):
        assert fields[name].json_schema_extra == {"operator_only": True}


# ------------------------------------------------------------------------------------------------- fairness

SPIN = "while True:\n    pass\n"


async def queued(sandbox: Sandbox, n: int) -> None:
    """Until `n` runs wait in the sandbox's queue (polled: the queue has no event for it)."""
    for _ in range(3000):
        if sandbox.queued >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{sandbox.queued} runs queued, expected {n}")


async def test_one_run_is_not_stuck_behind_a_batch_of_slow_runs() -> None:
    """One slot; a batch of three candidates that each hold it to their deadline, then one quick run from
    another batch. In arrival order the quick run would finish last; it finishes after the first slow one."""
    sandbox = Sandbox(concurrency=1)
    await sandbox.start()
    done: list[str] = []
    slow_limits = Limits(timeout_s=1.0, total_timeout_s=1.0)
    spec = parse_reference("assert f() == 1")

    async def run(name: str, code: str, limits: Limits, group: object) -> None:
        await sandbox.run(code, spec, limits, group=group)
        done.append(name)

    slow_batch = object()
    slow = [asyncio.create_task(run(f"slow {i}", SPIN, slow_limits, slow_batch)) for i in range(3)]
    try:
        await queued(sandbox, 2)  # the first slow run holds the slot, the others wait
        await run("quick", "def f():\n    return 1\n", Limits(), object())
    finally:
        await asyncio.gather(*slow)
        await sandbox.aclose()
    assert done == ["slow 0", "quick", "slow 1", "slow 2"]


async def test_a_one_sample_request_finishes_while_a_slow_batch_still_runs() -> None:
    """The same through the source: two `score()` calls, as two concurrent requests would make."""
    async with Runtime(workers=1) as runtime:  # one sandbox slot
        source = CodeVerifier(CodeConfig(timeout_s=1, total_timeout_s=1), runtime)
        await source.start()
        sandbox = shared_sandbox(runtime, "strict")
        slow = asyncio.create_task(source.score([Sample(completion=SPIN, reference="assert f() == 1")] * 4))
        try:
            await queued(sandbox, 3)
            (quick,) = await source.score([Sample(completion="def f():\n    return 1\n",
                                                  reference="assert f() == 1")])
            slow_still_running = not slow.done()  # at least two slow candidates are still queued or running
        finally:
            slow_scores = await slow  # nothing left running when the runtime closes, pass or fail
    assert quick.value == 1.0
    assert slow_still_running
    assert [s.value for s in slow_scores] == [0.0] * 4
