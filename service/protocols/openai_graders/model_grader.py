"""`score_model` graders, on the registered `judge` source's model.

OpenAI's hosted models cannot be reached from here, so `model` names a judge model of this service:

- `judge`: the model of the `judge` source as the operator configured it (`source_options.judge.backend` in
  the service settings: a local model, or an OpenAI-compatible server such as vLLM); the embedded model when
  none is configured;
- `embedded`: the embedded SmolLM2-135M-Instruct, in this process (transformers), through the same source.

Both go through the service's enabled `judge` source (`Judge.generate`); without it, score_model graders are
refused as not available. Which model runs and which servers the service calls are the operator's choice, as
for the `judge` source (its `backend` option is operator-only): a request cannot point the service at a model
folder or a URL. Any other name (`gpt-4o-2024-08-06`, ...) is refused by `/validate` and `/run` with a 422.

The messages are rendered (templates filled; the text inserted from the model sample is neutralised first so
it cannot forge chat turns, see `referee.judges.neutralise`; a sample the templates do not use is not touched)
and OpenAI's output contract is appended as a last system
instruction: `{"steps": [{"description", "conclusion"}...], "result": <number>}`, reasons before the score.
The judge backends generate greedily without a grammar, so the contract is held in two steps: the reply is
started with `{"steps": [` and generated up to `sampling_params.max_completions_tokens` (default 256; the
other sampling parameters do not apply to a greedy judge and are ignored); if it has no `"result": <number>`
by then, the reasoning so far is closed with `], "result": ` and a few more tokens are generated. The last
such number is the score, clipped to `range` as OpenAI does; no number even then is
`model_grader_parse_error` (not a 0), a backend failure `model_grader_server_error`.
`metadata.referee.error` keeps the start of a reply that did not parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from referee.judges.neutralise import neutralise

from .check import message_texts
from .engine import Context, Outcome
from .templating import render

__all__ = ["DEFAULT_MAX_TOKENS", "judge_options", "messages", "parse_result", "run", "unavailable"]

DEFAULT_MAX_TOKENS = 256
RESULT_TOKENS = 8
_OPEN = '{"steps": ['
_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_RESULT = re.compile(r"[\"']?result[\"']?\s*[:=]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", re.IGNORECASE)


# What each model name asks of the `judge` source: the operator's configuration as it is, or the embedded
# model (the service's own choice of backend, never a request's).
_BACKENDS: dict[str, dict[str, Any]] = {"judge": {}, "embedded": {"backend": {"kind": "local"}}}


def judge_options(model: str) -> dict[str, Any]:
    """The options (over the operator's) of the `judge` source that `model` names; ValueError for others."""
    if model not in _BACKENDS:
        raise ValueError(f"model {model!r} is not reachable from referee; model must be 'judge' (the judge backend "
                         "the operator configured, source_options.judge.backend; by default the embedded model) "
                         "or 'embedded'")
    return _BACKENDS[model]


def unavailable(grader: Any, app: Any) -> str | None:
    """Why this score_model grader cannot run on this service, or None."""
    try:
        judge_options(grader.model)
    except ValueError as exc:
        return str(exc)
    sources = app.state.sources
    if "judge" in sources.names():
        return None
    if "judge" in sources.unavailable:
        return f"the `judge` source cannot run on this host: {sources.unavailable['judge']}"
    return "the `judge` source is not enabled on this service (service setting `sources`)"


def parse_result(reply: str) -> float | None:
    """The number after the last `"result":` in the reply; None when there is none."""
    matches = _RESULT.findall(reply)
    return float(matches[-1]) if matches else None


def _close(reply: str) -> str:
    """The reply's reasoning, closed and followed by `"result": ` so that the next tokens are the score."""
    cut = reply.rfind('"result"')
    body = (reply if cut < 0 else reply[:cut]).rstrip().rstrip(",").rstrip()
    return body + ("" if body.endswith("]") else "]") + ', "result": '


def _contract(low: float, high: float) -> str:
    return ("Answer with only a JSON object of this form, and nothing after it: "
            '{"steps": [{"description": "<what you checked>", "conclusion": "<what you found>"}], '
            f'"result": <a number from {low:g} to {high:g}>}}')


def messages(grader: Any, ctx: Context, *, inert: Callable[[str], str] = neutralise) -> list[dict[str, str]]:
    """The grader's chat messages, rendered, with text from the model sample made `inert` where inserted."""
    out = []
    for message in grader.input:
        text = "".join(render(t, ctx.item, ctx.sample, inert=inert, max_insert=ctx.max_insert_chars)
                       for t in message_texts(message.content))
        out.append({"role": "system" if message.role == "developer" else message.role, "content": text})
    return out


async def run(grader: Any, ctx: Context, *, sources: Any) -> Outcome:
    """Grade with the `judge` source's model that `grader.model` names."""
    chat = messages(grader, ctx)
    low, high = grader.range
    chat.append({"role": "system", "content": _contract(low, high)})
    params = grader.sampling_params
    max_tokens = (params.max_completions_tokens if params and params.max_completions_tokens else DEFAULT_MAX_TOKENS)
    try:
        judge = sources.build("judge", judge_options(grader.model), operator=True)
        reply, model = await judge.generate(chat, _OPEN, max_tokens)
        reply = _OPEN + reply
        value = parse_result(reply)
        if value is None:
            forced = _close(reply)
            tail, model = await judge.generate(chat, forced, RESULT_TOKENS)
            number = _NUMBER.match(tail)
            value = float(number.group(1)) if number else None
            reply = forced + tail
    except Exception as exc:  # the source missing, a model that will not load, a server out of reach
        details = f"{type(exc).__name__}: {exc}"
        return Outcome.failed("model_grader_server_error", f"{grader.name}: judge backend failed: {details}",
                              model_grader_server_error_details=details)
    if value is None:
        return Outcome(None, {"model_grader_parse_error": True},
                       f"{grader.name}: the grader model's reply has no \"result\" number: {json.dumps(reply[:300])}",
                       model=model)
    return Outcome(min(high, max(low, value)), model=model)
