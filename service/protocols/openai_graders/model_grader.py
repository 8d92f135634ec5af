"""`score_model` graders, on referee's judge backends (`referee.judges.backends`).

OpenAI's hosted models cannot be reached from here, so `model` names one of referee's judge backends:

- `judge`: the backend the operator configured for the `judge` source (`source_options.judge.backend` in
  the service settings: a local model, or an OpenAI-compatible server such as vLLM); the embedded model when
  none is configured;
- `embedded`: the embedded SmolLM2-135M-Instruct, in this process (transformers).

Which model runs and which servers the service calls are the operator's choice, as for the `judge` source
(its `backend` option is operator-only): a request cannot point the service at a model folder or a URL.
Any other name (`gpt-4o-2024-08-06`, ...) is refused by `/validate` and `/run` with a 422 saying so.

The messages are rendered (templates filled; the model sample's text neutralised first so it cannot forge
chat turns, see `referee.judges.neutralise`) and OpenAI's output contract is appended as a last system
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
from collections.abc import Mapping
from typing import Any

from referee.judges.backends import BackendConfig, open_backend
from referee.judges.neutralise import neutralise

from .check import message_texts
from .engine import Context, Outcome
from .templating import render

__all__ = ["DEFAULT_MAX_TOKENS", "backend_config", "parse_result", "run", "unavailable"]

DEFAULT_MAX_TOKENS = 256
RESULT_TOKENS = 8
_OPEN = '{"steps": ['
_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_RESULT = re.compile(r"[\"']?result[\"']?\s*[:=]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", re.IGNORECASE)
MODELS = ("judge", "embedded")


def backend_config(model: str, operator: Mapping[str, Any] | None) -> BackendConfig:
    """The judge backend `model` names; `operator` is the operator's `source_options.judge.backend`."""
    if model == "judge" and operator:
        return BackendConfig.model_validate(dict(operator))
    if model in MODELS:
        return BackendConfig(kind="local")  # local, no folder: the embedded model
    raise ValueError(f"model {model!r} is not reachable from referee; model must be 'judge' (the judge backend "
                     "the operator configured, source_options.judge.backend; by default the embedded model) or "
                     "'embedded'")


def unavailable(grader: Any) -> str | None:
    if grader.model not in MODELS:
        try:
            backend_config(grader.model, None)
        except ValueError as exc:
            return str(exc)
    return None


def parse_result(reply: str) -> float | None:
    """The number after the last `"result":` in the reply; None when there is none."""
    matches = _RESULT.findall(reply)
    return float(matches[-1]) if matches else None


def _inert(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, Mapping):
        return {k: _inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inert(v) for v in value]
    return value


def _close(reply: str) -> str:
    """The reply's reasoning, closed and followed by `"result": ` so that the next tokens are the score."""
    cut = reply.rfind('"result"')
    body = (reply if cut < 0 else reply[:cut]).rstrip().rstrip(",").rstrip()
    return body + ("" if body.endswith("]") else "]") + ', "result": '


def _contract(low: float, high: float) -> str:
    return ("Answer with only a JSON object of this form, and nothing after it: "
            '{"steps": [{"description": "<what you checked>", "conclusion": "<what you found>"}], '
            f'"result": <a number from {low:g} to {high:g}>}}')


async def run(grader: Any, ctx: Context, *, operator: Mapping[str, Any] | None = None) -> Outcome:
    """Grade with the judge backend `grader.model` names; `operator`: the operator's judge backend config."""
    sample = _inert(ctx.sample)
    messages = []
    for message in grader.input:
        text = "".join(render(t, ctx.item, sample) for t in message_texts(message.content))
        messages.append({"role": "system" if message.role == "developer" else message.role, "content": text})
    low, high = grader.range
    messages.append({"role": "system", "content": _contract(low, high)})
    params = grader.sampling_params
    max_tokens = (params.max_completions_tokens if params and params.max_completions_tokens else DEFAULT_MAX_TOKENS)
    try:
        backend = await open_backend(backend_config(grader.model, operator), ctx.runtime)
        prompt = backend.chat(messages)
        [reply] = await backend.generate([prompt + _OPEN], max_tokens)
        if isinstance(reply, Exception):
            raise reply
        reply = _OPEN + reply
        value = parse_result(reply)
        if value is None:
            forced = _close(reply)
            [tail] = await backend.generate([prompt + forced], RESULT_TOKENS)
            if isinstance(tail, Exception):
                raise tail
            number = _NUMBER.match(tail)
            value = float(number.group(1)) if number else None
            reply = forced + tail
    except Exception as exc:  # loading a model or reaching a server: any failure is the backend's
        details = f"{type(exc).__name__}: {exc}"
        return Outcome.failed("model_grader_server_error", f"{grader.name}: judge backend failed: {details}",
                              model_grader_server_error_details=details)
    if value is None:
        return Outcome(None, {"model_grader_parse_error": True},
                       f"{grader.name}: the grader model's reply has no \"result\" number: {json.dumps(reply[:300])}",
                       model=backend.model_id)
    return Outcome(min(high, max(low, value)), model=backend.model_id)
