"""`text_similarity` metrics, each from a well-kept library, each a float in [0, 1].

- `fuzzy_match`: rapidfuzz `fuzz.WRatio` with `utils.default_process`, / 100 (the scorer OpenAI's grader
  guide uses in its own fuzzy example).
- `bleu`: sacrebleu `sentence_bleu` (its defaults: 13a tokenizer, exponential smoothing), / 100.
- `gleu`: NLTK `sentence_gleu` (Google BLEU) over whitespace tokens.
- `rouge_1` ... `rouge_5`, `rouge_l`: rouge-score's F-measure (`rouge1` ... `rouge5`, `rougeL`), stemming off.

Not available: `meteor` (NLTK needs its WordNet corpus, which referee never downloads at run time) and
`cosine` (OpenAI computes it with a hosted embedding model; it is evals-only there too). `/validate` names
them as unavailable rather than returning made-up numbers.

`similarity` is a module-level function so the service runs it in its worker pool under a deadline; the
libraries are imported there, on first use.
"""

from __future__ import annotations

__all__ = ["AVAILABLE", "UNAVAILABLE", "similarity"]

AVAILABLE = ("fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")
UNAVAILABLE = {
    "meteor": "METEOR needs NLTK's WordNet corpus, which referee does not download; use rouge_l, bleu or "
              "fuzzy_match, or a python grader",
    "cosine": "cosine similarity needs a hosted embedding model (OpenAI offers it for evals only); use "
              "rouge_l, bleu or fuzzy_match, or a score_model grader",
}


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
