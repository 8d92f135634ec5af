"""What every trainer protocol shares: naming a source (or mix) in a URL, and scoring through /v1/score's path.

A route names its source in one path segment: `math`, or a weighted mix `math:1,wordcount:0.2` (each
component `name` or `name:weight`, weight 1 when left out). Options come from the query string, because the
trainers' clients only let their users configure a URL:

- `options`: a JSON object: the source's options, or for a mix `{"<component>": {its options}}`;
- `on_unscored`: for a mix, `fail` (default) or `skip`, as in `/v1/score`.

Scoring goes through `scoring.run_scoring` (admission, deadline, metrics, audit log) after the same limits as
`/v1/score`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from referee.verifiers import Sample, Score
from referee.verifiers import parse_source as verifiers_parse_source

from ..errors import ApiError
from ..schemas import ComponentSpec
from ..scoring import check_limits, run_scoring

__all__ = ["SourceSpec", "json_body", "parse_options", "parse_source", "score_resolved", "score_samples",
           "source_label", "with_options"]

SourceSpec = str | list[ComponentSpec]


def parse_source(text: str) -> SourceSpec:
    """`math` -> "math"; `math:1,wordcount:0.2` -> a weighted mix. The grammar is `referee.verifiers.parse_source`,
    shared with `referee score` and `referee train`; a malformed one is a ConfigError, answered 422."""
    mix = verifiers_parse_source(text)
    if not mix.is_mix:
        return mix.names[0]
    return [ComponentSpec(source=name, weight=weight) for name, weight in mix.components]


def parse_options(raw: str | None, what: str = "options") -> dict[str, Any]:
    """A JSON object from a query parameter; ApiError(422) if it is not one."""
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(422, f"query parameter {what}: not JSON ({exc.msg} at character {exc.pos}); send a "
                       "URL-encoded JSON object such as %7B%22tolerance%22%3A0.01%7D") from exc
    if not isinstance(value, dict):
        raise ApiError(422, f"query parameter {what}: expected a JSON object, got {type(value).__name__}")
    return value


def with_options(spec: SourceSpec, options: Mapping[str, Any],
                 on_unscored: str | None) -> tuple[SourceSpec, dict[str, Any]]:
    """Distribute `options` over a mix's components; what `EnabledSources.resolve` takes."""
    if isinstance(spec, str):
        if on_unscored is not None:
            raise ApiError(422, f"on_unscored={on_unscored!r} applies to a mix only; source {spec!r} is one source")
        return spec, dict(options)
    names = [c.source for c in spec]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ApiError(422, f"options: {', '.join(unknown)} not in the mix {names}; for a mix, options maps "
                       "each component's name to its options")
    for key, value in options.items():
        if not isinstance(value, dict):
            raise ApiError(422, f"options.{key}: expected a JSON object of that source's options")
    components = [c.model_copy(update={"options": dict(options.get(c.source, c.options))}) for c in spec]
    return components, ({} if on_unscored is None else {"on_unscored": on_unscored})


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a route's JSON body (routes parse their bodies themselves, from bytes).

    The model's schema is inlined (its `$defs` resolved in place, no recursive models), since the app's
    OpenAPI components do not hold it.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline({**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}})
            # a discriminator's mapping points into $defs too; oneOf alone describes the same bodies
            return {k: inline(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def source_label(spec: SourceSpec) -> str:
    return spec if isinstance(spec, str) else ",".join(f"{c.source}:{c.weight:g}" for c in spec)


async def score_samples(request: Request, spec: SourceSpec, options: Mapping[str, Any], samples: Sequence[Sample],
                        on_unscored: str | None = None) -> list[Score]:
    """Score `samples` exactly as `/v1/score` would: same limits, source cache, deadline and metrics."""
    resolved_spec, resolved_options = with_options(spec, options, on_unscored)
    return await score_resolved(request, resolved_spec, resolved_options, samples)


async def score_resolved(request: Request, spec: SourceSpec, options: Mapping[str, Any],
                         samples: Sequence[Sample]) -> list[Score]:
    """Score with `spec` and `options` as `/v1/score` takes them (for a mix: MixOptions)."""
    items = list(samples)
    check_limits(request, items)
    source = request.app.state.sources.resolve(spec, options)
    return await run_scoring(request, source, items)
