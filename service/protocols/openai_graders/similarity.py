"""`text_similarity` metrics, each from a well-kept library, each a float in [0, 1].

- `fuzzy_match`: rapidfuzz `fuzz.WRatio` with `utils.default_process`, / 100 (the scorer OpenAI's grader
  guide uses in its own fuzzy example).
- `bleu`: sacrebleu `sentence_bleu` (its defaults: 13a tokenizer, exponential smoothing), / 100.
- `gleu`: NLTK `sentence_gleu` (Google BLEU) over whitespace tokens.
- `rouge_1` ... `rouge_5`, `rouge_l`: rouge-score's F-measure (`rouge1` ... `rouge5`, `rougeL`), stemming off.

Not available: `meteor` (NLTK needs its WordNet corpus, which referee never downloads at run time) and
`cosine` (OpenAI computes it with a hosted embedding model; it is evals-only there too). `/validate` names
them as unavailable rather than returning made-up numbers.

The libraries are the optional extra `similarity` (`pip install 'referee[similarity]'`; `dev` includes it), so
the base install stays small. Without it the service starts as usual and `/validate` and `/run` refuse a
`text_similarity` grader with a 422 naming the extra; `missing` finds that out without importing anything.

`similarity` is a module-level function so the service runs it in its worker pool under a deadline; the
libraries are imported there, on first use.
"""

from __future__ import annotations

import importlib.util

__all__ = ["AVAILABLE", "EXTRA", "UNAVAILABLE", "missing", "similarity"]

EXTRA = "similarity"

AVAILABLE = ("fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")
UNAVAILABLE = {
    "meteor": "METEOR needs NLTK's WordNet corpus, which referee does not download; use rouge_l, bleu or "
              "fuzzy_match, or a python grader",
    "cosine": "cosine similarity needs a hosted embedding model (OpenAI offers it for evals only); use "
              "rouge_l, bleu or fuzzy_match, or a score_model grader",
}


_LIBRARY = {"fuzzy_match": ("rapidfuzz", "rapidfuzz"), "bleu": ("sacrebleu", "sacrebleu"), "gleu": ("nltk", "nltk"),
            **{m: ("rouge_score", "rouge-score") for m in AVAILABLE if m.startswith("rouge_")}}


def missing(metric: str) -> str | None:
    """Why `metric` cannot run here (its library is not installed), or None."""
    module, package = _LIBRARY[metric]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return (f"{metric} needs the package {package}, which is not installed; install the extra: "
            f"pip install 'referee[{EXTRA}]'")


def similarity(metric: str, text: str, reference: str) -> float:
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz, utils

        value = fuzz.WRatio(text, reference, processor=utils.default_process) / 100.0
    elif metric == "bleu":
        import sacrebleu

        value = sacrebleu.sentence_bleu(text, [reference]).score / 100.0
    elif metric == "gleu":
        from nltk.translate.gleu_score import sentence_gleu

        value = sentence_gleu([reference.split()], text.split()) if reference.split() and text.split() else 0.0
    elif metric.startswith("rouge_"):
        from rouge_score import rouge_scorer

        key = "rougeL" if metric == "rouge_l" else "rouge" + metric.removeprefix("rouge_")
        value = rouge_scorer.RougeScorer([key]).score(reference, text)[key].fmeasure
    else:
        raise ValueError(f"unknown metric {metric!r}; available: {', '.join(AVAILABLE)}")
    return min(1.0, max(0.0, float(value)))
