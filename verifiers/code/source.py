"""Reward source `code`: the fraction of unit tests that model-written Python passes, run in the sandbox.

    referee score code --options '{"timeout_s": 3}' samples.jsonl

Per sample: the code is taken from `completion` (extract.py), the tests from `reference` (tests_spec.py,
with `metadata["entry_point"]` for HumanEval's `check(candidate)`), and both run in a fresh sandbox
(sandbox.py, inside/). `value` = tests passed / tests run, and `details["tests"]` lists each test with
`passed`, its `kind` (ok, fail, error, timeout, crash, load_error, not_run, limit, output_limit, exit N,
signal N) and the error; a test that hit a resource limit has kind `limit` and names it in `limit` (memory,
file_size, disk, processes, open_files, cpu_time) and in its error, with the setting that sets it.
`details["hidden_names"]` lists the candidate's names that the tests use but did not get from the candidate
(a builtin, a module, a helper the prompt gives: see inside/namespace.py).

What counts against the candidate (a failed test, value < 1): wrong answers, exceptions, code that does not
compile or raises while loading (every test fails), timeouts, crashes, hitting a memory, process, file or
output limit, `sys.exit` at any point. What is unscored instead: no reference (`no_reference`), tests that
cannot be read or need what the sandbox cannot pass (`invalid_reference`), and any failure of the sandbox
itself (`sandbox_error`: bwrap missing or failing, the harness crashing or missing its deadline), never 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..contract import Sample, Score, UnscoredReason
from ..runtime import Runtime
from .extract import assemble_program, given_helpers, prompt_is_code, redefined_names
from .sandbox import Isolation, Limits, Sandbox, SandboxFailure, SandboxUnavailable, preflight, shared_sandbox
from .tests_spec import InvalidReference, TestSpec, outputs_match, parse_reference

__all__ = ["CodeConfig", "CodeVerifier"]

_MAX_CODE_CHARS = 200_000
_KEEP_CHARS = 2_000  # of stdout/stderr/code kept in details


class CodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(5.0, gt=0, le=60, description="Wall-clock seconds allowed for each test (an assert, "
                             "a test function, a check() call or a stdin/stdout case); past it the test fails.")
    total_timeout_s: float = Field(30.0, gt=0, le=300, description="Wall-clock seconds for one sample's whole run; "
                                   "tests not reached by then fail.")
    memory_mb: int = Field(512, ge=32, le=4096, description="Address-space limit of each candidate process, MiB; "
                           "at most memory_mb_ceiling.")
    max_processes: int = Field(16, ge=4, le=256, description="Processes and threads alive at once in one run, "
                               "the harness and the candidate included; at most max_processes_ceiling.")
    disk_mb: int = Field(128, ge=1, le=1024, description="Size of the private writable /tmp (and of the largest "
                         "file), MiB; at most disk_mb_ceiling. The default leaves room for scratch files of tens "
                         "of MiB.")
    # Ceilings on what a request may ask for, set by the operator only (service setting source_options.code).
    # The defaults suit a shared host: the service runs about one sandbox run per CPU at once, and each run
    # may hold up to max_processes x memory_mb of address space (RLIMIT_AS is per process) plus disk_mb of
    # tmpfs, which is RAM. 1 GiB per process is what competitive-programming judges allow (256 MiB-1 GiB);
    # 64 processes fit a pool of workers with a few threads each; 512 MiB of /tmp fits scratch files of
    # hundreds of MiB. An operator with a dedicated host raises them, up to the hard bounds above.
    memory_mb_ceiling: int = Field(1024, ge=32, le=4096, description="The largest memory_mb a request may ask "
                                   "for, MiB; a lower ceiling lowers the default too. Operator only.",
                                   json_schema_extra={"operator_only": True})
    max_processes_ceiling: int = Field(64, ge=4, le=256, description="The largest max_processes a request may ask "
                                       "for; a lower ceiling lowers the default too. Operator only.",
                                       json_schema_extra={"operator_only": True})
    disk_mb_ceiling: int = Field(512, ge=1, le=1024, description="The largest disk_mb a request may ask for, MiB; "
                                 "a lower ceiling lowers the default too. Operator only.",
                                 json_schema_extra={"operator_only": True})
    output_kb: int = Field(1024, ge=1, le=65536, description="Stdout kept per stdin/stdout case, KiB; more fails "
                           "the case.")
    with_prompt: Literal["auto", "always", "never"] = Field(
        "auto", description="Put the prompt in front of the code: 'auto' when the prompt compiles as Python "
        "(HumanEval-style signature and docstring).")
    isolation: Isolation = Field(
        "strict", description="'strict': namespaces and seccomp; 'namespaces': without seccomp (non-x86_64); "
        "'rlimits': no namespaces, development only. Weaker levels are an explicit opt-in, by the operator only.",
        json_schema_extra={"operator_only": True})

    @model_validator(mode="after")
    def _within_ceilings(self) -> Self:
        for name in ("memory_mb", "max_processes", "disk_mb"):
            value, ceiling = getattr(self, name), getattr(self, f"{name}_ceiling")
            if value <= ceiling:
                continue
            if name not in self.model_fields_set:  # a default above a lowered ceiling follows it down
                setattr(self, name, ceiling)
                continue
            raise ValueError(f"{name}={value} is above the operator's ceiling {name}_ceiling={ceiling}; ask for "
                             f"at most {ceiling}, or have the operator raise {name}_ceiling (service setting "
                             "source_options.code)")
        return self


class CodeVerifier:
    name = "code"
    version = "1.0"
    description = ("Fraction of unit tests (asserts, test_* functions, HumanEval check(), stdin/stdout cases) "
                   "that the completion's Python code passes in an isolated sandbox.")
    Config = CodeConfig

    def __init__(self, config: CodeConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        preflight(config.isolation)  # refuse at once, with the fix, when the host cannot isolate
        self.limits = Limits(timeout_s=config.timeout_s, total_timeout_s=max(config.total_timeout_s, config.timeout_s),
                             memory_mb=config.memory_mb, max_processes=config.max_processes,
                             disk_mb=config.disk_mb, output_kb=config.output_kb)

    def _sandbox(self) -> Sandbox:
        return shared_sandbox(self.runtime, self.config.isolation)

    async def start(self) -> None:
        """Start the sandbox now (the first `score` does it otherwise): a service can call this at start-up
        to refuse to run, with `SandboxUnavailable` (a `ConfigError`) naming the fix, when the host cannot
        isolate code."""
        await self._sandbox().start()

    def _unscored(self, reason: UnscoredReason, error: str, **details: Any) -> Score:
        return Score.unscored(reason, error, source=self.name, version=self.version, **details)

    async def score(self, batch: Sequence[Sample]) -> list[Score]:
        sandbox = self._sandbox()
        try:
            await sandbox.start()
        except SandboxUnavailable as exc:
            return [self._unscored(UnscoredReason.SANDBOX_ERROR, str(exc)) for _ in batch]
        group = object()  # this batch: the sandbox's queue shares slots fairly between batches (runqueue.py)
        return list(await asyncio.gather(*(self._one(sandbox, s, group) for s in batch)))

    async def _one(self, sandbox: Sandbox, sample: Sample, group: Hashable) -> Score:
        if sample.reference is None or not sample.reference.strip():
            return self._unscored(UnscoredReason.NO_REFERENCE, "code needs `reference`: the tests to run")
        entry_point = sample.metadata.get("entry_point")
        if entry_point is not None and not isinstance(entry_point, str):
            return self._unscored(UnscoredReason.INVALID_INPUT, "metadata.entry_point must be a string naming the "
                                  f"function under test, got {type(entry_point).__name__}")
        try:
            spec = parse_reference(sample.reference, entry_point)
        except InvalidReference as exc:
            return self._unscored(UnscoredReason.INVALID_REFERENCE, str(exc))
        entry_point = spec.entry_point or entry_point  # also when inferred from a top-level check(NAME)
        code = assemble_program(sample.prompt, sample.completion, entry_point, self.config.with_prompt)
        if len(code) > _MAX_CODE_CHARS:
            return self._fail_all(spec, code, f"the code is {len(code)} characters (limit {_MAX_CODE_CHARS})")
        hidden: dict[str, str] = {}
        if spec.mode == "rpc" and entry_point and prompt_is_code(sample.prompt, self.config.with_prompt):
            given = given_helpers(sample.prompt, entry_point)
            if given:
                spec = dataclasses.replace(spec, given={"source": sample.prompt, "names": given})
                redefined = redefined_names(code)
                hidden = {name: "prompt" for name in given if name in redefined and name in spec.used}
        try:
            report = await sandbox.run(code, spec, self.limits, entry_point, group=group)
        except SandboxFailure as exc:
            return self._unscored(UnscoredReason.SANDBOX_ERROR, str(exc), tests_format=spec.format)
        if spec.mode == "stdio":
            tests = [_stdio_result(name, r, want) for name, r, want in zip(spec.names, report["results"],
                                                                              spec.outputs, strict=True)]
        else:
            tests = [_rpc_result(name, r) for name, r in zip(spec.names, report["results"], strict=True)]
        unsupported = [t for t in tests if t["kind"] == "unsupported"]
        if unsupported:
            return self._unscored(UnscoredReason.INVALID_REFERENCE, "the tests do something the sandbox cannot "
                                  f"pass to the candidate: {unsupported[0]['error']}", tests=tests)
        passed = sum(t["passed"] for t in tests)
        details: dict[str, Any] = {"passed": passed, "total": len(tests), "tests_format": spec.format,
                                   "tests": tests, "code": code[:_KEEP_CHARS], "seconds": round(report["seconds"], 4),
                                   "interpreter": sandbox.interpreter, "isolation": sandbox.isolation}
        for key in ("load_error", "setup_errors"):
            if key in report:
                details[key] = report[key]
        if isinstance(report.get("hidden_names"), dict):
            hidden = {**report["hidden_names"], **hidden}
        if hidden:
            details["hidden_names"] = dict(sorted(hidden.items()))
        return Score(value=passed / len(tests), source=self.name, version=self.version, details=details)

    def _fail_all(self, spec: TestSpec, code: str, error: str) -> Score:
        tests = [{"name": n, "passed": False, "kind": "load_error", "error": error} for n in spec.names]
        return Score(value=0.0, source=self.name, version=self.version,
                     details={"passed": 0, "total": len(tests), "tests_format": spec.format, "tests": tests,
                              "load_error": error, "code": code[:_KEEP_CHARS]})


def _rpc_result(name: str, r: dict[str, Any]) -> dict[str, Any]:
    out = {"name": name, "passed": r.get("passed") is True, "kind": str(r.get("kind", "error"))}
    if r.get("limit"):
        out["limit"] = str(r["limit"])
    if r.get("error"):
        out["error"] = str(r["error"])
    return out


def _stdio_result(name: str, r: dict[str, Any], expected: str) -> dict[str, Any]:
    status = str(r.get("status"))
    stdout = str(r.get("stdout", ""))
    out: dict[str, Any] = {"name": name, "passed": False, "kind": status}
    if status == "ok":
        if outputs_match(stdout, expected):
            out["passed"] = True
        else:
            out["kind"] = "fail"
            out["error"] = "wrong output"
            out["stdout"] = stdout[:_KEEP_CHARS]
            out["expected"] = expected[:_KEEP_CHARS]
    elif status == "limit":
        out["limit"] = str(r.get("limit"))
        out["error"] = str(r.get("error"))
    elif r.get("stderr"):
        out["error"] = str(r["stderr"])[-_KEEP_CHARS:]
    return out
