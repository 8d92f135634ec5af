"""`python` graders: `grade(sample, item)` run in referee's code sandbox.

Not wired yet: the code sandbox (`referee.verifiers.code`) does not expose a way to run a function and
return its value. Until it does, `/validate` and `/run` answer 422 "not available: python graders: ..." for
any spec containing a python grader, rather than running untrusted code outside the sandbox.
"""

from __future__ import annotations

from typing import Any

from .engine import Context, Outcome

__all__ = ["run", "unavailable"]

REASON = ("the code sandbox (referee.verifiers.code) does not yet expose running a function and returning "
          "its value; use string_check, text_similarity or multi meanwhile")


def unavailable(app: Any) -> str | None:
    """Why python graders cannot run on this service, or None when they can."""
    return REASON


async def run(grader: Any, ctx: Context) -> Outcome:
    return Outcome.failed("python_grader_server_error", REASON, python_grader_server_error_type="unavailable")
