"""`score_model` graders, mapped onto referee's judge backends.

Not wired yet: the judge backends (`referee.judges.backends`) are not released. Until they are, `/validate`
and `/run` answer 422 "not available: score_model graders: ..." for any spec containing one.
"""

from __future__ import annotations

from typing import Any

from .engine import Context, Outcome

__all__ = ["run", "unavailable"]

REASON = "the judge backends (referee.judges.backends) are not released yet"


def unavailable(app: Any) -> str | None:
    """Why score_model graders cannot run on this service, or None when they can."""
    return REASON


async def run(grader: Any, ctx: Context) -> Outcome:
    return Outcome.failed("model_grader_server_error", REASON, model_grader_server_error_details=REASON)
