"""The reward contract: what a reward source takes (`Sample`), gives (`Score`) and is (`RewardSource`).

`Score.value` is a float, or `None` meaning "could not score". `None` always carries a `reason` from the
closed set `UnscoredReason`; `0.0` means "checked, and wrong". An infrastructure failure is never 0:
a trainer would learn from fake zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["RewardSource", "Sample", "Score", "SourceFactory", "UnscoredReason"]


class UnscoredReason(StrEnum):
    """Why a sample could not be scored. A closed set: trainers and dashboards branch on it."""

    TIMEOUT = "timeout"
    """The item did not finish before its deadline; its worker was killed."""
    WORKER_ERROR = "worker_error"
    """The worker process scoring the item died (crash, out of memory)."""
    SANDBOX_ERROR = "sandbox_error"
    """The code sandbox itself failed (not the candidate code)."""
    BACKEND_ERROR = "backend_error"
    """A judge backend failed: unreachable, HTTP error, malformed reply."""
    JUDGE_PARSE_FAILURE = "judge_parse_failure"
    """The judge answered, but not with a verdict in the allowed set."""
    NO_REFERENCE = "no_reference"
    """The source needs `reference` (gold answer, tests) and the sample has none."""
    INVALID_REFERENCE = "invalid_reference"
    """The reference could not be understood (unparseable gold answer, malformed tests)."""
    INVALID_INPUT = "invalid_input"
    """The sample does not fit this source (for example a required metadata key is missing)."""
    SOURCE_ERROR = "source_error"
    """The source raised an unexpected exception or broke the contract: a bug to report."""
    COMPONENT_UNSCORED = "component_unscored"
    """A component of a weighted mix could not be scored; see `components`."""


class Sample(BaseModel):
    """One response to score."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", description="The prompt the policy answered, as plain text.")
    completion: str = Field(description="The policy's response, as plain text.")
    reference: str | None = Field(
        None, description="Gold answer, tests, or other ground truth the source checks against. A number is "
        "taken as its text (42 -> \"42\"), as the TRL, verl and OpenRLHF adapters do."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Source-specific extras (e.g. `entry_point` for code tests)."
    )

    @field_validator("reference", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # Datasets often store numeric answers as numbers (GSM8K-style columns, JSON from other tools).
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"reference must be a string (or a number, taken as its text), got "
                             f"{type(value).__name__}; send the gold answer or the tests as a string "
                             "(stdin/stdout cases as a JSON string)")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"reference must be a finite number or a string, got {value}")
        return str(value)


class Score(BaseModel):
    """The result for one sample: a value, or `None` with a reason, plus provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None = Field(description="The reward; null when the sample could not be scored.")
    reason: UnscoredReason | None = Field(None, description="Why value is null; null when scored.")
    source: str = Field(description="Name of the reward source that produced this score.")
    version: str = Field(description="Version of that source; with `details` it reproduces the score.")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Provenance and evidence: extracted answers, per-test results, judge model, "
        "constitution name@version and sha256, and `error` (a sentence) when unscored.",
    )
    components: list[Score] | None = Field(
        None, description="For a weighted mix: each component's score, in the order requested."
    )

    @model_validator(mode="after")
    def _value_xor_reason(self) -> Self:
        if self.value is None and self.reason is None:
            raise ValueError("an unscored Score (value=None) needs a reason from UnscoredReason")
        if self.value is not None and self.reason is not None:
            raise ValueError(f"a scored Score (value={self.value}) must not carry reason={self.reason}")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"Score.value must be finite, got {self.value}; return None with a reason")
        return self

    @property
    def scored(self) -> bool:
        return self.value is not None

    @classmethod
    def unscored(
        cls, reason: UnscoredReason, error: str, *, source: str, version: str, **details: Any
    ) -> Score:
        """An unscored result; `error` is one sentence naming what failed and, where known, the fix."""
        return cls(value=None, reason=reason, source=source, version=version, details={"error": error, **details})


@runtime_checkable
class RewardSource(Protocol):
    """Anything that scores a batch of samples.

    `score` returns exactly one `Score` per sample, in input order. It should turn a failure of one
    item into an unscored `Score` for that item; anything it raises anyway is turned into unscored
    `source_error` results for the whole batch by `referee.verifiers.score_batch`.
    """

    name: str
    version: str

    async def score(self, batch: Sequence[Sample]) -> list[Score]: ...


class SourceFactory(Protocol):
    """What a `referee.sources` entry point names: usually the source class itself.

    `Config` is a pydantic model of the source's options (its schema is what `GET /v1/sources`
    shows); calling the factory with a validated config and the caller's `Runtime` builds a source.
    Construction must be cheap: heavy resources (models, clients) come from `runtime.resource`.
    Optionally, `worker_preload` (a tuple of module names) lists what the worker pool's forkserver should
    import once, so a worker restarted after a kill is ready at once. Optionally, `batch_across_requests = True`
    asks `referee serve --ray` to join concurrent requests into one `score` call (Ray Serve's batching), for
    sources whose cost per call falls with its size (a model on a GPU).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __call__(self, config: Any, runtime: Runtime) -> RewardSource: ...
