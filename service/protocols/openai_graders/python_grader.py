"""`python` graders: the spec's `grade(sample, item)`, run by the registered `code` source in its sandbox.

The service's `code` source (as the operator enabled and configured it: `source_options.code`, its isolation
and resource limits included; a request cannot change them) runs a small fixed driver program as one
stdin/stdout case. The case's stdin carries the grader's source, the sample, the item and a per-run random
marker; the driver runs the source (as `__main__`, so `from __future__` imports work), sends everything the
grader prints to stderr, calls `grade`, and prints only the result after the marker, so neither a `print` in
the grader nor text in the model sample can pass for the result. The case expects no output, so the code
source reports it as a failed case and keeps its stdout, which is where the result is read from. The sandbox
runs Python with `-I -S`: the standard library only (OpenAI's runtime also has numpy, rapidfuzz, ...; a
grader importing them fails here with `python_grader_runtime_error`). Deadline: the service's
`item_timeout_s` (at most the code source's 60 s per test).

Outcomes, as OpenAI flags them: a number -> the reward; an exception, a non-number, NaN or infinity, a
timeout or a crash -> `python_grader_runtime_error` with the details; the sandbox itself failing, or the
`code` source missing on this service -> `python_grader_server_error` (its type: the unscored reason).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

from referee.verifiers import Sample, Score, score_batch

from .engine import Context, Outcome

__all__ = ["DRIVER", "run", "unavailable"]

_MAX_TEST_TIMEOUT_S = 60.0  # the code source's ceiling per test

DRIVER = """\
import json as _json, sys as _sys

_given = _json.loads(_sys.stdin.read())
_out, _sys.stdout = _sys.stdout, _sys.stderr
_grader = {"__name__": "__main__"}
exec(compile(_given["source"], "grader.py", "exec"), _grader)
_value = _grader["grade"](_given["sample"], _given["item"])
if isinstance(_value, (int, float)) and not isinstance(_value, bool):
    _result = {"value": float(_value)}
else:
    _result = {"invalid": type(_value).__name__ + " " + repr(_value)[:200]}
_out.write("\\n" + _given["marker"] + _json.dumps(_result) + "\\n")
_out.flush()
"""


def unavailable(app: Any) -> str | None:
    """Why python graders cannot run on this service (no usable `code` source), or None."""
    sources = app.state.sources
    if "code" in sources.names():
        return None
    if "code" in sources.unavailable:
        return f"the `code` source cannot run on this host: {sources.unavailable['code']}"
    return "the `code` source is not enabled on this service (service setting `sources`)"


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


def _server_error(grader: Any, kind: str, error: str) -> Outcome:
    return Outcome.failed("python_grader_server_error", f"{grader.name}: the code sandbox failed: {error}",
                          python_grader_server_error_type=kind)


async def run(grader: Any, ctx: Context, *, sources: Any) -> Outcome:
    timeout = min(ctx.timeout, _MAX_TEST_TIMEOUT_S)
    try:
        code = sources.build("code", {"timeout_s": timeout, "total_timeout_s": timeout})
    except Exception as exc:  # not enabled, or cannot run here
        return _server_error(grader, type(exc).__name__, str(exc))
    marker = "__referee_result_" + secrets.token_hex(16) + "__"
    stdin = json.dumps({"source": grader.source, "sample": ctx.python_sample, "item": ctx.item, "marker": marker})
    sample = Sample(completion=DRIVER, reference=json.dumps([{"input": stdin, "output": ""}]))
    [score] = await score_batch(code, [sample])
    return _outcome(grader, score, marker, timeout)


def _outcome(grader: Any, score: Score, marker: str, timeout: float) -> Outcome:
    if score.value is None:
        reason = score.reason.value if score.reason is not None else "unscored"
        return _server_error(grader, reason, str(score.details.get("error", reason)))
    tests = score.details.get("tests") or [{}]
    case = tests[0]
    kind = str(case.get("kind", "error"))
    if kind in ("fail", "ok"):  # the program finished; its only output should be the result line
        result = _result(str(case.get("stdout", "")), marker)
        if result is None:
            return _runtime_error(grader, "grade() finished but its result was not found (did the source exit?)")
        if "invalid" in result:
            return _runtime_error(grader, f"grade() must return a float, it returned {result['invalid']}")
        value = float(result["value"])
        if not math.isfinite(value):
            return _runtime_error(grader, f"grade() returned {value}, not a finite number")
        return Outcome(value)
    if kind == "timeout":
        return _runtime_error(grader, f"grade() did not finish within {timeout:g}s")
    error = str(case.get("error") or score.details.get("load_error") or "").strip()
    return _runtime_error(grader, f"{error or 'grade() failed'} ({kind})")
