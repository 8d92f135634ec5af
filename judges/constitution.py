"""The constitution model: a named, versioned set of weighted principles with a free-text preamble.

A constitution comes from a released file (`constitutions/<name>/v<N>.md`, see `referee.judges.parser`) or
from an inline object in a request (`{"principles": [{"id": "p1", "text": "...", "weight": 1.0}]}`) for
quick experiments. Either way `sha256` identifies its exact content and `ref` is what provenance records:
`name@version` for a file, `"inline"` for an inline object.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ID_PATTERN", "Constitution", "InlineConstitution", "Principle", "inline_constitution"]

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""A principle id: lower-case letters, digits, `_` and `-`, starting with a letter or digit."""


class Principle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Short stable identifier, unique within the constitution (e.g. `honest`).")
    text: str = Field(description="The principle, phrased as what a good response does.")
    weight: float = Field(1.0, description="Relative weight of this principle in the total (> 0).")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError(f"principle id {v!r} must match {ID_PATTERN.pattern} (e.g. 'honest', 'no-padding')")
        return v

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("principle text is empty; write what a good response does")
        return v

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"weight must be a finite number > 0, got {v}")
        return v


class Constitution(BaseModel):
    """A parsed constitution. `version` is None only for inline constitutions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="The constitution's name (its folder name), or 'inline'.")
    version: int | None = Field(description="Its version N (file `v<N>.md`); None for inline.")
    description: str = Field("", description="One line saying what the constitution judges.")
    preamble: str = Field("", description="Free text shown to the judge before the principle.")
    principles: tuple[Principle, ...] = Field(description="The principles, in file order.")
    sha256: str = Field(description="sha256 of the file's bytes, or of the inline object's canonical JSON.")

    @model_validator(mode="after")
    def _unique(self) -> Constitution:
        seen: set[str] = set()
        for p in self.principles:
            if p.id in seen:
                raise ValueError(f"duplicate principle id {p.id!r}; ids must be unique")
            seen.add(p.id)
        if not self.principles:
            raise ValueError("a constitution needs at least one principle")
        return self

    @property
    def ref(self) -> str:
        """What provenance records: `name@version`, or `inline`."""
        return "inline" if self.version is None else f"{self.name}@{self.version}"

    @property
    def total_weight(self) -> float:
        return sum(p.weight for p in self.principles)

    def weighted(self, values: dict[str, float]) -> float:
        """The weighted mean of per-principle values (keys: principle ids)."""
        return sum(p.weight * values[p.id] for p in self.principles) / self.total_weight


class InlineConstitution(BaseModel):
    """A constitution given in a request instead of by name, for quick experiments."""

    model_config = ConfigDict(extra="forbid")

    principles: list[Principle] = Field(min_length=1, description="The principles (id, text, weight).")
    preamble: str = Field("", description="Optional free text shown to the judge before each principle.")


def inline_constitution(spec: InlineConstitution | dict[str, Any]) -> Constitution:
    """A `Constitution` named "inline" whose sha256 is that of the object's canonical JSON."""
    spec = spec if isinstance(spec, InlineConstitution) else InlineConstitution.model_validate(spec)
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Constitution(
        name="inline", version=None, description="inline constitution", preamble=spec.preamble.strip(),
        principles=tuple(spec.principles), sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )
