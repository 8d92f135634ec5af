"""OpenAI grader-compatible endpoints: `/v1/fine_tuning/alpha/graders/run` and `/validate`.

Grader types: `string_check`, `text_similarity` (fuzzy_match, bleu, gleu, rouge_1..5, rouge_l), `multi` (a
formula over sub-graders, parsed by an AST whitelist), `python` (in referee's code sandbox) and
`score_model` (on referee's judge backends); templates `{{ item.x }}` and `{{ sample.output_text }}`.
"""

from .formula import Formula, FormulaError
from .routes import router
from .templating import render

__all__ = ["Formula", "FormulaError", "render", "router"]
