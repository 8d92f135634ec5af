"""Wire schemas of the HTTP API. The contract's `Sample` and `Score` are used as they are."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from referee.verifiers import Sample, Score, SourceInfo

__all__ = [
    "ComponentSpec",
    "ErrorBody",
    "MixOptions",
    "ScoreRequest",
    "ScoreResponse",
    "SourcesResponse",
]


class ComponentSpec(BaseModel):
    """One term of a weighted mix."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Registered source name.")
    weight: float = Field(1.0, description="Multiplier of this source's value in the sum.")
    options: dict[str, Any] = Field(default_factory=dict, description="Options for this source.")

    @field_validator("weight")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("weight must be a finite number")
        return v


class MixOptions(BaseModel):
    """`options` of a request whose `source` is a list."""

    model_config = ConfigDict(extra="forbid")

    on_unscored: Literal["fail", "skip"] = Field(
        "fail",
        description="'fail': a sample is unscored if any component is; 'skip': sum the scored components.",
    )


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | list[ComponentSpec] = Field(
        description="A registered source name, or a weighted list of them (a mix)."
    )
    samples: list[Sample] = Field(description="The responses to score; answers keep this order.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the source (see GET /v1/sources), or MixOptions when `source` is a list.",
    )


class ScoreResponse(BaseModel):
    scores: list[Score]
    request_id: str = Field(description="Also in the X-Request-ID header; quote it when reporting a problem.")


class SourcesResponse(BaseModel):
    sources: list[SourceInfo]


class ErrorBody(BaseModel):
    detail: str = Field(description="What was wrong, what was expected, and how to fix it.")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="Per-field errors, if any.")
