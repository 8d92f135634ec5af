"""LLM judges that score responses against versioned constitutions (RLAIF).

    from referee.judges import Judge, JudgeConfig, Pair
    async with Runtime() as rt:
        judge = Judge(JudgeConfig(constitution="hhh@1", method="likelihood"), rt)
        scores = await judge.score([Sample(prompt="...", completion="...")])
        comparisons = await judge.compare([Pair(prompt="...", a="...", b="...")])

Constitutions are files (`constitutions/<name>/v<N>.md`, parsed by `referee.judges.parser`, found by
`ConstitutionLibrary`); the judge model runs locally (transformers) or behind an OpenAI-compatible server.
Heavy imports (torch, transformers) happen only when a local backend opens.
"""

from .cache import JudgeCache
from .constitution import Constitution, InlineConstitution, Principle, inline_constitution
from .diff import ConstitutionDiff, diff
from .embedded import EMBEDDED_MODEL_ID, embedded_model_id, embedded_model_path
from .environment import (
    JudgeEnvironment,
    cache_dir,
    configure_judges,
    constitution_dirs,
    constitution_library,
    default_cache_dir,
    env_constitution_dirs,
)
from .errors import BackendError, ConstitutionError, ConstitutionNotFound, InvalidConstitution
from .library import ConstitutionLibrary, parse_ref, released_manifest
from .lint import lint_bytes, lint_path
from .parser import Issue, parse
from .source import Comparison, Judge, JudgeConfig, Pair, PrincipleComparison

__all__ = [
    "EMBEDDED_MODEL_ID",
    "BackendError",
    "Comparison",
    "Constitution",
    "ConstitutionDiff",
    "ConstitutionError",
    "ConstitutionLibrary",
    "ConstitutionNotFound",
    "InlineConstitution",
    "InvalidConstitution",
    "Issue",
    "Judge",
    "JudgeCache",
    "JudgeConfig",
    "JudgeEnvironment",
    "Pair",
    "Principle",
    "PrincipleComparison",
    "cache_dir",
    "configure_judges",
    "constitution_dirs",
    "constitution_library",
    "default_cache_dir",
    "diff",
    "embedded_model_id",
    "embedded_model_path",
    "env_constitution_dirs",
    "inline_constitution",
    "lint_bytes",
    "lint_path",
    "parse",
    "parse_ref",
    "released_manifest",
]
