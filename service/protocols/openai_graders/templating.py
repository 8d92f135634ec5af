"""OpenAI grader templates: `{{ item.reference_answer }}`, `{{ sample.output_text }}`, `{{ sample.output_json.a[0] }}`.

One pass over the template with one regular expression (no `str.format`, no chained `replace`): substituted
text is never scanned again, so a model sample containing `{{ item.secret }}` stays literal text. The only
namespaces are `item` (the dataset row) and `sample` (the model's output); a path continues with `.key` and
`[index]`. Strings are inserted as they are; other values as JSON (`1.0`, `true`, `{"a": 1}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["NAMESPACES", "SampleParseError", "TemplateError", "VariableError", "parse_path", "references", "render"]

NAMESPACES = ("item", "sample")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STEP = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*(-?\d+)\s*\]|\[\s*[\"']([^\"'\]]*)[\"']\s*\]")
_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")

Step = str | int


class TemplateError(ValueError):
    """A placeholder that is not `namespace.path` with namespace item or sample (caught by /validate)."""


class VariableError(LookupError):
    """A placeholder names something the item or sample does not have (flag `invalid_variable_error`)."""


class SampleParseError(LookupError):
    """A placeholder needs `sample.output_json` and the model sample is not JSON (flag `sample_parse_error`)."""


def parse_path(expression: str) -> tuple[str, list[Step]]:
    """`item.a[0].b` -> ("item", ["a", 0, "b"]); TemplateError naming what is wrong."""
    head = _HEAD.match(expression)
    if head is None or head.group(1) not in NAMESPACES:
        raise TemplateError(f"{{{{{expression}}}}}: a template variable is `item.<path>` or `sample.<path>`, "
                            "e.g. {{ item.reference_answer }} or {{ sample.output_text }}")
    steps: list[Step] = []
    pos = head.end()
    rest = expression.rstrip()
    while pos < len(rest):
        step = _STEP.match(rest, pos)
        if step is None:
            raise TemplateError(f"{{{{{expression}}}}}: cannot read the path from {rest[pos:]!r}; use "
                                "`.key` and `[index]` steps")
        key, index, quoted = step.groups()
        steps.append(int(index) if index is not None else (key if key is not None else quoted))
        pos = step.end()
    if not steps:
        example = "{{ " + head.group(1) + ".x }}"
        raise TemplateError(f"{{{{{expression}}}}}: name a variable inside the namespace, e.g. {example}")
    return head.group(1), steps


def references(template: str) -> list[tuple[str, list[Step]]]:
    """Every placeholder of `template`, parsed (TemplateError on the first malformed one)."""
    return [parse_path(m.group(1)) for m in _PLACEHOLDER.finditer(template)]


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


def render(template: str, item: Mapping[str, Any], sample: Mapping[str, Any]) -> str:
    """Substitute every placeholder in one pass; raises TemplateError, VariableError or SampleParseError."""
    roots = {"item": item, "sample": sample}

    def one(match: re.Match[str]) -> str:
        namespace, steps = parse_path(match.group(1))
        return _text(_lookup(roots[namespace], namespace, steps))

    return _PLACEHOLDER.sub(one, template)
