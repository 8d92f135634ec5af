"""OpenAI grader templates: `{{ item.reference_answer }}`, `{{ sample.output_text }}`, `{{ sample.output_json.a[0] }}`.

One pass over the template (no `str.format`, no chained `replace`): substituted text is never scanned again,
so a model sample containing `{{ item.secret }}` stays literal text. The only namespaces are `item` (the
dataset row) and `sample` (the model's output); a path continues with `.key` and `[index]`. Strings are
inserted as they are; other values as JSON (`1.0`, `true`, `{"a": 1}`).

Templates are request text, so the scan is linear: `str.find` from one `{{` to the next `}}` (a lazy
`{{(.*?)}}` regex searched at every `{{` of a template with no `}}` is quadratic), and the path patterns are
anchored where the last step ended. `render` inserts at most `max_insert` characters in all: a template
repeating a large value cannot multiply a small request into a large text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["NAMESPACES", "RenderTooLong", "SampleParseError", "TemplateError", "VariableError", "parse_path",
           "references", "render"]

NAMESPACES = ("item", "sample")
_STEP = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*(-?\d+)\s*\]|\[\s*[\"']([^\"'\]]*)[\"']\s*\]")
_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")

Step = str | int


class TemplateError(ValueError):
    """A placeholder that is not `namespace.path` with namespace item or sample (caught by /validate)."""


class VariableError(LookupError):
    """A placeholder names something the item or sample does not have (flag `invalid_variable_error`)."""


class SampleParseError(LookupError):
    """A placeholder needs `sample.output_json` and the model sample is not JSON (flag `sample_parse_error`)."""


class RenderTooLong(ValueError):
    """The placeholders would insert more text than allowed (flag `other_error`)."""


def _placeholders(template: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, expression) of each `{{ expression }}`, left to right, as `{{(.*?)}}` regex finds them."""
    pos = 0
    while (start := template.find("{{", pos)) >= 0:
        end = template.find("}}", start + 2)
        if end < 0:
            return  # no `}}` after this `{{`, so none after any later one either
        yield start, end + 2, template[start + 2 : end]
        pos = end + 2


def _shown(expression: str) -> str:
    return expression if len(expression) <= 80 else expression[:77] + "..."


def parse_path(expression: str) -> tuple[str, list[Step]]:
    """`item.a[0].b` -> ("item", ["a", 0, "b"]); TemplateError naming what is wrong."""
    head = _HEAD.match(expression)
    if head is None or head.group(1) not in NAMESPACES:
        raise TemplateError(f"{{{{{_shown(expression)}}}}}: a template variable is `item.<path>` or `sample.<path>`, "
                            "e.g. {{ item.reference_answer }} or {{ sample.output_text }}")
    steps: list[Step] = []
    pos = head.end()
    rest = expression.rstrip()
    while pos < len(rest):
        step = _STEP.match(rest, pos)
        if step is None:
            raise TemplateError(f"{{{{{_shown(expression)}}}}}: cannot read the path from {_shown(rest[pos:])!r}; use "
                                "`.key` and `[index]` steps")
        key, index, quoted = step.groups()
        steps.append(int(index) if index is not None else (key if key is not None else quoted))
        pos = step.end()
    if not steps:
        example = "{{ " + head.group(1) + ".x }}"
        raise TemplateError(f"{{{{{_shown(expression)}}}}}: name a variable inside the namespace, e.g. {example}")
    return head.group(1), steps


def references(template: str) -> list[tuple[str, list[Step]]]:
    """Every placeholder of `template`, parsed (TemplateError on the first malformed one)."""
    return [parse_path(expression) for _, _, expression in _placeholders(template)]


def _lookup(root: Any, namespace: str, steps: list[Step]) -> Any:
    value = root
    for n, step in enumerate(steps):
        where = namespace + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps[: n + 1])
        if isinstance(step, int) and isinstance(value, list):
            if not -len(value) <= step < len(value):
                raise VariableError(f"{where}: index out of range (length {len(value)})")
            value = value[step]
        elif isinstance(step, str) and isinstance(value, Mapping):
            if step not in value:
                if namespace == "sample" and n == 0 and step == "output_json":
                    raise SampleParseError("sample.output_json: the model sample is not valid JSON")
                raise VariableError(f"{where}: not found (has: {', '.join(map(str, value)) or 'nothing'})")
            value = value[step]
        else:
            raise VariableError(f"{where}: cannot take {step!r} of a {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def render(template: str, item: Mapping[str, Any], sample: Mapping[str, Any], *,
           inert: Callable[[str], str] | None = None, max_insert: int | None = None) -> str:
    """Substitute every placeholder in one pass; raises TemplateError, VariableError, SampleParseError or
    RenderTooLong. `inert` is applied to each text inserted from `sample` (the policy's output), and only to
    what is inserted: a sample the template does not use is never processed."""
    roots = {"item": item, "sample": sample}
    pieces: list[str] = []
    inserted = 0
    pos = 0
    for start, end, expression in _placeholders(template):
        namespace, steps = parse_path(expression)
        text = _text(_lookup(roots[namespace], namespace, steps))
        inserted += len(text)
        if max_insert is not None and inserted > max_insert:
            raise RenderTooLong(f"the template's placeholders insert more than {max_insert} characters "
                                f"(max_field_chars={max_insert}); use fewer or shorter variables")
        if inert is not None and namespace == "sample":
            text = inert(text)
        pieces += (template[pos:start], text)
        pos = end
    pieces.append(template[pos:])
    return "".join(pieces)
