"""Preference pairs from a policy's own completions, labelled through the reward service (online DPO's labeller).

    result = label_by_score(client, "math", {}, rows, completions)          # the higher score wins
    result = label_by_compare(client, "judge", "hhh", {}, rows, completions, min_confidence=0.6,
                              keep_inconsistent=False)                     # /v1/compare decides
    result.pairs      # DPO rows {prompt (messages), chosen, rejected (assistant messages), ...}
    result.dropped    # Counter of why prompts gave no pair

`rows` are prompt rows as `referee.trainer.data.load_prompts` gives them (prompt as messages, reference,
metadata); `completions[i]` are the sampled completions of `rows[i]`.

- By score: every completion is scored with the source (a name or a weighted mix); the best and the worst of
  a prompt make its pair (`referee.trainer.best_of_n.pick`): only scored completions compete, a prompt whose
  scored completions all tie (both right, or both wrong) gives no pair (`tie`), nor one with fewer than two
  scored (`one_scored`, `all_unscored`). An unscored completion is never a rejected one.
- By comparison: the two completions of a prompt go to `/v1/compare` (`RewardClient.compare`: the judge in both
  presentation orders against a constitution, or a reward model by Bradley-Terry) and the safe-pair rules of
  `referee.service.preferences` decide (`inconsistent`, `low_confidence`, `unscored`, `identical` dropped).

`scores` holds one `Score` per completion (by comparison: per pair), for `UnscoredWatch`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from referee.judges import Pair
from referee.service.client import RewardClient, SourceSpec
from referee.service.preferences import select_pairs
from referee.verifiers import Score, UnscoredReason

from .best_of_n import pick
from .reward_fn import as_text
from .run import samples_of

__all__ = ["Labelled", "label_by_compare", "label_by_score"]


@dataclass
class Labelled:
    pairs: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    scores: list[Score] = field(default_factory=list)
    chosen: list[float] = field(default_factory=list)
    """The label of each kept pair's chosen completion: its score, or (by comparison) P(chosen is better)."""
    rejected: list[float] = field(default_factory=list)
    by_score: bool = True

    def metrics(self, prompts: int) -> dict[str, float]:
        """What a round logs about its labels, under `online/`."""
        scored = [s.value for s in self.scores if s.value is not None]
        out = {"online/prompts": float(prompts), "online/pairs_kept": float(len(self.pairs)),
               "online/unscored_frac": 1 - len(scored) / len(self.scores) if self.scores else 0.0}
        out.update({f"online/pairs_dropped/{why}": float(n) for why, n in self.dropped.items()})
        if scored and self.by_score:  # by comparison a "score" is P(a better than b): no mean of the samples
            out["online/score_mean"] = statistics.fmean(scored)
        if self.chosen:
            out["online/chosen_score"] = statistics.fmean(self.chosen)
            out["online/rejected_score"] = statistics.fmean(self.rejected)
        return out


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def label_by_score(client: RewardClient, source: SourceSpec, options: Mapping[str, Any],
                   rows: Sequence[Mapping[str, Any]], completions: Sequence[Sequence[str]]) -> Labelled:
    flat_rows = [dict(r) for r, group in zip(rows, completions, strict=True) for _ in group]
    flat = [c for group in completions for c in group]
    scores = client.score(source, samples_of(flat_rows, flat), options)
    out = Labelled(scores=list(scores))
    start = 0
    for row, group in zip(rows, completions, strict=True):
        group_scores = scores[start : start + len(group)]
        start += len(group)
        best, worst, why = pick(group_scores)
        if why is not None or best is None or worst is None:
            out.dropped[why or "all_unscored"] += 1
            continue
        chosen, rejected = float(group_scores[best].value or 0), float(group_scores[worst].value or 0)
        out.pairs.append({"prompt": list(row["prompt"]), "chosen": _assistant(group[best]),
                          "rejected": _assistant(group[worst]), "score_chosen": chosen, "score_rejected": rejected})
        out.chosen.append(chosen)
        out.rejected.append(rejected)
    return out


def label_by_compare(client: RewardClient, source: str, constitution: str | None, options: Mapping[str, Any],
                     rows: Sequence[Mapping[str, Any]], completions: Sequence[Sequence[str]], *,
                     min_confidence: float, keep_inconsistent: bool) -> Labelled:
    pairs = [Pair(prompt=as_text(row["prompt"]), a=group[0], b=group[1])
             for row, group in zip(rows, completions, strict=True)]
    todo = [i for i, p in enumerate(pairs) if p.a != p.b]  # identical samples: nothing to judge, or to learn
    compared = client.compare([pairs[i] for i in todo], source=source, constitution=constitution,
                              options=options) if todo else []
    judged = dict(zip(todo, compared, strict=True))
    kept, dropped = select_pairs(pairs, [judged.get(i) for i in range(len(pairs))], min_confidence=min_confidence,
                                 keep_inconsistent=keep_inconsistent, source=source,
                                 extra=[{"index": i} for i in range(len(pairs))])
    out = Labelled(dropped=dropped.reasons, by_score=False)
    for c in compared:
        out.scores.append(Score(value=c.p_a_better, source=source, version="compare") if c.p_a_better is not None
                          else Score.unscored(c.reason or UnscoredReason.SOURCE_ERROR, c.error or "unscored",
                                              source=source, version="compare"))
    for row in kept:
        p = max(row["p_a_better"], 1 - row["p_a_better"])
        out.pairs.append({"prompt": list(rows[row["index"]]["prompt"]), "chosen": _assistant(row["chosen"]),
                          "rejected": _assistant(row["rejected"]), "p_chosen_better": p})
        out.chosen.append(p)
        out.rejected.append(1 - p)
    return out
