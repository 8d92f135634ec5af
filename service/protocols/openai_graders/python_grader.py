"""`python` graders: the spec's `grade(sample, item)` run in referee's code sandbox (`referee.verifiers.code`).

The grader's source plus a small driver run as one stdin/stdout case of the sandbox (see
`referee.verifiers.code.sandbox`: fresh namespaces, seccomp, no network, rlimits), with the isolation the
operator chose for the `code` source (`source_options.code.isolation`, default "strict"; a request cannot
weaken it), sharing that source's sandbox instance. The driver reads
`{"sample": ..., "item": ...}` from stdin, calls `grade`, and writes the result after a per-run random marker,
so neither a `print` in the grader nor text in the model sample can pass for the result. The sandbox runs
Python with `-I -S`: the standard library only (OpenAI's runtime also has numpy, rapidfuzz, ...; a grader
importing them fails here with `python_grader_runtime_error`). Deadline: the service's `item_timeout_s`.

Outcomes, as OpenAI flags them: a number -> the reward; an exception, a non-number, NaN or infinity, a
timeout or a crash -> `python_grader_runtime_error` with the details; the sandbox itself failing or missing
on this host -> `python_grader_server_error` (type `SandboxFailure` / `SandboxUnavailable`).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

from referee.verifiers.code import Limits, SandboxUnavailable, TestSpec, preflight, shared_sandbox
from referee.verifiers.code.sandbox import Isolation

from .engine import Context, Outcome

__all__ = ["isolation", "run", "unavailable"]

MEMORY_MB = 1024

_DRIVER = """

def __referee_driver():
    import json as _json, sys as _sys
    _given = _json.loads(_sys.stdin.read())
    _value = grade(_given["sample"], _given["item"])
    if isinstance(_value, (int, float)) and not isinstance(_value, bool):
        _out = {"value": float(_value)}
    else:
        _out = {"invalid": type(_value).__name__ + " " + repr(_value)[:200]}
    _sys.stdout.write("\\n" + MARKER + _json.dumps(_out) + "\\n")
    _sys.stdout.flush()


__referee_driver()
"""


def isolation(settings: Any) -> Isolation:
    """The sandbox isolation the operator set for the `code` source; "strict" by default."""
    chosen = settings.source_options.get("code", {}).get("isolation", "strict")
    return chosen if chosen in ("strict", "namespaces", "rlimits") else "strict"


def unavailable(app: Any) -> str | None:
    """Why python graders cannot run on this service (the host cannot isolate), or None."""
    try:
        preflight(isolation(app.state.settings))
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def _result(stdout: str, marker: str) -> dict[str, Any] | None:
    at = stdout.rfind(marker)
    if at < 0:
        return None
    try:
        parsed = json.loads(stdout[at + len(marker):].strip())
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _runtime_error(grader: Any, details: str) -> Outcome:
    return Outcome.failed("python_grader_runtime_error", f"{grader.name}: {details}",
                          python_grader_runtime_error_details=details)


async def run(grader: Any, ctx: Context, *, isolation: Isolation = "strict") -> Outcome:
    marker = "__referee_result_" + secrets.token_hex(16) + "__"
    code = grader.source + _DRIVER.replace("MARKER", repr(marker))
    payload = json.dumps({"sample": ctx.python_sample, "item": ctx.item})
    spec = TestSpec(mode="stdio", format="stdio", names=["grade"], inputs=[payload], outputs=[""])
    limits = Limits(timeout_s=ctx.timeout, total_timeout_s=ctx.timeout, memory_mb=MEMORY_MB)
    sandbox = shared_sandbox(ctx.runtime, isolation)
    try:
        report = await sandbox.run(code, spec, limits)
    except Exception as exc:  # SandboxUnavailable, SandboxFailure, or the host refusing to start a process
        return Outcome.failed("python_grader_server_error", f"{grader.name}: the code sandbox failed: {exc}",
                              python_grader_server_error_type=type(exc).__name__)
    case = report["results"][0]
    status = str(case.get("status"))
    if status == "ok":
        result = _result(str(case.get("stdout", "")), marker)
        if result is None:
            return _runtime_error(grader, "grade() finished but its result was not found (did the source exit?)")
        if "invalid" in result:
            return _runtime_error(grader, f"grade() must return a float, it returned {result['invalid']}")
        value = float(result["value"])
        if not math.isfinite(value):
            return _runtime_error(grader, f"grade() returned {value}, not a finite number")
        return Outcome(value)
    stderr = str(case.get("stderr", "")).strip()
    if status == "timeout":
        return _runtime_error(grader, f"grade() did not finish within {ctx.timeout:g}s")
    return _runtime_error(grader, f"{stderr or 'grade() failed'} ({status})")
