"""OpenAI grader specs as pydantic models: what `/run` and `/validate` accept.

The fields follow OpenAI's API reference (`StringCheckGrader`, `TextSimilarityGrader`, `PythonGrader`,
`ScoreModelGrader`, `MultiGrader`). Unknown fields are refused (a typo such as `refrence` would otherwise be
silently ignored); `name` may be left out (it defaults to the type), as OpenAI's own guide examples do.
Structural checks that pydantic cannot express (templates, the formula, the python source, what this
service can run) live in `check.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Grader",
    "MultiGrader",
    "PythonGrader",
    "RunRequest",
    "SamplingParams",
    "ScoreModelGrader",
    "ScoreModelMessage",
    "StringCheckGrader",
    "SubGrader",
    "TextSimilarityGrader",
    "ValidateRequest",
]

MAX_PYTHON_SOURCE = 256 * 1024  # OpenAI's limit on a python grader's source


class _Grader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", description="The name of the grader (defaults to its type).")

    @model_validator(mode="after")
    def _default_name(self) -> Any:
        if not self.name:
            self.name = str(getattr(self, "type", ""))
        return self


class StringCheckGrader(_Grader):
    type: Literal["string_check"]
    input: str = Field(description="The text to check; may contain templates.")
    reference: str = Field(description="The text to check against; may contain templates.")
    operation: Literal["eq", "ne", "like", "ilike"] = Field(
        description="eq / ne: (in)equality; like: input contains reference; ilike: the same, ignoring case."
    )


class TextSimilarityGrader(_Grader):
    type: Literal["text_similarity"]
    input: str = Field(description="The text being graded; may contain templates.")
    reference: str = Field(description="The text graded against; may contain templates.")
    evaluation_metric: Literal["cosine", "fuzzy_match", "bleu", "gleu", "meteor", "rouge_1", "rouge_2", "rouge_3",
                               "rouge_4", "rouge_5", "rouge_l"] = Field(description="The similarity metric.")
    pass_threshold: float | None = Field(None, description="Score at or above which the sample passes.")


class PythonGrader(_Grader):
    type: Literal["python"]
    source: str = Field(description="Python source defining `grade(sample, item) -> float`.")
    image_tag: str | None = Field(None, description="OpenAI's runtime image; referee runs its own sandbox.")
    pass_threshold: float | None = Field(None, description="Score at or above which the sample passes.")

    @field_validator("source")
    @classmethod
    def _size(cls, v: str) -> str:
        if len(v.encode()) > MAX_PYTHON_SOURCE:
            raise ValueError(f"source is {len(v.encode())} bytes; at most {MAX_PYTHON_SOURCE} (256 kB)")
        return v


class ScoreModelMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[Any] = Field(description="Text (or text parts); may contain templates.")
    type: Literal["message"] | None = None


class SamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_completions_tokens: int | None = Field(None, ge=1, description="Most tokens the grader model may write.")
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    seed: int | None = None
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)


class ScoreModelGrader(_Grader):
    type: Literal["score_model"]
    input: list[ScoreModelMessage] = Field(min_length=1, description="The prompt messages; may contain templates.")
    model: str = Field(description="The grader model.")
    range: list[float] = Field(default_factory=lambda: [0.0, 1.0], description="[low, high] of the score.")
    sampling_params: SamplingParams | None = None
    pass_threshold: float | None = Field(None, description="Score at or above which the sample passes.")

    @field_validator("range")
    @classmethod
    def _range(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not v[0] < v[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {v}")
        return v


SubGrader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader, Field(discriminator="type")
]


class MultiGrader(_Grader):
    type: Literal["multi"]
    graders: dict[str, SubGrader] = Field(description="Sub-graders by the name the formula uses.")
    calculate_output: str = Field(description="Formula over the sub-graders' names, e.g. '0.5 * a + 0.5 * b'.")

    @field_validator("graders", mode="before")
    @classmethod
    def _mapping(cls, v: Any) -> Any:
        if isinstance(v, list):
            raise ValueError("graders must be an object mapping the names used in calculate_output to graders, "
                             'e.g. {"name": {...}, "email": {...}} with calculate_output "(name + email) / 2"')
        if isinstance(v, dict):
            for key, sub in v.items():
                if isinstance(sub, dict) and sub.get("type") == "multi":
                    raise ValueError(f"graders.{key}: a multi grader cannot contain another multi grader")
        return v

    @field_validator("graders")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("graders is empty; give at least one sub-grader")
        bad = [k for k in v if not k.isidentifier()]
        if bad:
            raise ValueError(f"grader names {bad} cannot appear in a formula; use letters, digits and _")
        return v


Grader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | MultiGrader,
    Field(discriminator="type"),
]


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grader: Grader


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grader: Grader
    model_sample: str = Field(description="The model's output; fills the `sample` namespace.")
    item: dict[str, Any] | None = Field(None, description="The dataset row; fills the `item` namespace.")
    reference_answer: Any = Field(None, description="Sent by early SDK versions; becomes item.reference_answer.")

    def item_namespace(self) -> dict[str, Any]:
        item = dict(self.item or {})
        if self.reference_answer is not None:
            item.setdefault("reference_answer", self.reference_answer)
        return item
