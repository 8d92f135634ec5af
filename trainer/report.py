"""`referee report RUN_DIR`: PNG plots of a training run's curves, and a short summary.

    referee report runs/demo                 # writes runs/demo/plots/{overview,reward}.png, prints the summary

The summary labels every figure with the steps it covers ("mean over steps 1-5", "at step 0 (before
training)"), so the start and end of a run read as what they are.

Reads `<RUN_DIR>/metrics.jsonl` (written by `MetricsWriter`). For a GRPO or PPO run, `overview.png`: training
reward (per step and a moving average) next to held-out accuracy; KL to the reference; entropy; completion
length (mean, min-max band); the fraction of groups with zero reward spread and of unscored completions; clip
ratio; and the step time split into generation, reward and update; `reward.png`; and `proxy_gold.png`, the
training reward (the proxy: the run's `--source`) and the held-out accuracy (the gold: `--heldout_source`) on
two axes of one figure, with the evaluations the proxy-versus-gold monitor flagged (Gao et al. 2022's
over-optimisation curve). For `referee rm train`, `reward_model.png` (loss, pairwise accuracy, margin, chosen
and rejected reward, training and held-out); for `referee sft`, `sft.png` (loss and token accuracy).

A preference run (DPO, KTO, online DPO: its records carry `rewards/margins`) gets its own panels in
`overview.png` instead: held-out accuracy (and, online, the mean score of the sampled completions); the implicit
rewards of chosen and rejected completions and their margin; preference accuracy; the loss; KL (KTO's estimate)
and entropy; and, for online DPO, the pairs each round kept and dropped (by reason) and the service's labels of
the chosen and rejected completions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .metrics import read_metrics

__all__ = ["summarize", "write_report"]


def _series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(int(r["step"]))
            ys.append(float(v))
    return xs, ys


def _smooth(ys: list[float], k: int) -> list[float]:
    """Trailing moving average over k points (the raw curve of a small batch is noisy)."""
    return [statistics.fmean(ys[max(0, i - k + 1) : i + 1]) for i in range(len(ys))]


def _unscored_key(records: Sequence[dict[str, Any]]) -> str | None:
    keys = {k for r in records for k in r if k.endswith("/unscored_frac") and not k.startswith("heldout/")}
    return min(keys) if keys else None


def _steps(xs: Sequence[int]) -> str:
    return f"step {xs[0]}" if xs[0] == xs[-1] else f"steps {xs[0]}-{xs[-1]}"


def summarize(records: Sequence[dict[str, Any]], window: int = 5) -> dict[str, Any]:
    """The headline curves at the start and at the end, each figure labelled with the steps it covers: the
    training curves as means over their first and last `window` logged steps; held-out accuracy at its first
    evaluation (step 0 is before training), its last, and its best; the time split as a mean over every step."""
    out: dict[str, Any] = {"steps": max((int(r["step"]) for r in records), default=0)}
    for key in ("reward", "kl", "entropy", "completions/mean_length", "frac_reward_zero_std", "loss", "accuracy",
                "margin", "chosen_reward", "rejected_reward", "mean_token_accuracy", "rewards/chosen",
                "rewards/rejected", "rewards/margins", "rewards/accuracies", "online/pairs_kept", "online/score_mean"):
        xs, ys = _series(records, key)
        if ys:
            out[key] = {f"mean over {_steps(xs[:window])}": statistics.fmean(ys[:window]),
                        f"mean over {_steps(xs[-window:])}": statistics.fmean(ys[-window:])}
    xs, ys = _series(records, "heldout/accuracy")
    if ys:
        best = max(range(len(ys)), key=ys.__getitem__)
        out["heldout/accuracy"] = {f"at step {xs[0]}" + (" (before training)" if xs[0] == 0 else ""): ys[0],
                                   f"at step {xs[-1]}": ys[-1], f"best, at step {xs[best]}": ys[best]}
    for key in ("eval_accuracy", "eval_loss"):
        xs, ys = _series(records, key)
        if ys:
            out[key] = {f"at step {xs[0]}": ys[0], f"at step {xs[-1]}": ys[-1]}
    flagged = [x for x, y in zip(*_series(records, "monitor/proxy_up_gold_down"), strict=True) if y > 0]
    if flagged:
        out["monitor/proxy_up_gold_down"] = {"flagged at steps": flagged}
    for key in ("time/step", "time/generation", "time/reward", "time/update", "time/reward_share",
                "throughput/generated_tokens_per_s"):
        _, ys = _series(records, key)
        if ys:
            out[key] = {"mean over all steps": statistics.fmean(ys)}
    return out


def write_report(run_dir: Path, out_dir: Path | None = None, smooth: int = 5) -> list[Path]:
    """Writes the run's figures (see the module docstring) into `out_dir` (default RUN_DIR/plots); returns them."""
    import matplotlib

    matplotlib.use("Agg")

    records = read_metrics(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if any("reward" in r or "rewards/margins" in r for r in records):
        written += _policy_figures(Path(run_dir), records, out_dir, smooth)
    if any("chosen_reward" in r for r in records):
        written.append(_panels(records, out_dir / "reward_model.png", "reward model training", [
            ("Bradley-Terry loss", [("loss", "train"), ("eval_loss", "held-out")]),
            ("pairwise accuracy: r(chosen) > r(rejected)", [("accuracy", "train"), ("eval_accuracy", "held-out")]),
            ("margin: r(chosen) - r(rejected)", [("margin", "train"), ("eval_margin", "held-out")]),
            ("mean reward", [("chosen_reward", "chosen (train)"), ("rejected_reward", "rejected (train)"),
                             ("eval_chosen_reward", "chosen (held-out)"),
                             ("eval_rejected_reward", "rejected (held-out)")])]))
    if any("mean_token_accuracy" in r for r in records) and not any("reward" in r or "rewards/margins" in r
                                                                    for r in records):
        written.append(_panels(records, out_dir / "sft.png", "supervised fine-tuning", [
            ("loss", [("loss", "train"), ("eval_loss", "held-out")]),
            ("token accuracy", [("mean_token_accuracy", "train"), ("eval_mean_token_accuracy", "held-out")])]))
    return written


def _panels(records: Sequence[dict[str, Any]], path: Path, title: str,
            panels: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (name, keys) in zip(list(getattr(axes, "flat", [axes])), panels, strict=True):
        for key, label in keys:
            xs, ys = _series(records, key)
            if ys:
                ax.plot(xs, ys, "o-" if key.startswith("eval_") else "-", ms=3, lw=1.5, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: {path.parent.parent.resolve().name}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _proxy_gold(run_dir: Path, records: Sequence[dict[str, Any]], path: Path, smooth: int) -> Path:
    """The training reward (proxy) and the held-out accuracy (gold) on two axes, flagged evaluations marked."""
    import matplotlib.pyplot as plt

    from .parser import load_run_config

    config = load_run_config(run_dir) or {}
    proxy_name = str(config.get("source", "the training source"))
    gold_name = str(config.get("heldout_source") or proxy_name)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs, ys = _series(records, "reward")
    ax.plot(xs, ys, color="tab:blue", alpha=0.3, lw=1)
    ax.plot(xs, _smooth(ys, smooth), color="tab:blue", lw=2, label=f"proxy: training reward ({proxy_name}), "
            f"{smooth}-step average")
    ax.set_xlabel("step")
    ax.set_ylabel(f"proxy reward ({proxy_name})", color="tab:blue")
    gold = ax.twinx()
    hx, hy = _series(records, "heldout/accuracy")
    gold.plot(hx, hy, "o-", color="tab:red", lw=2, label=f"gold: held-out accuracy ({gold_name})")
    gold.set_ylabel(f"gold: held-out accuracy ({gold_name})", color="tab:red")
    flagged = [x for x, y in zip(*_series(records, "monitor/proxy_up_gold_down"), strict=True) if y > 0]
    for x in flagged:
        ax.axvline(x, color="tab:orange", ls="--", lw=1)
    handles = ax.get_legend_handles_labels()[0] + gold.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + gold.get_legend_handles_labels()[1]
    if flagged:
        handles.append(plt.Line2D([], [], color="tab:orange", ls="--"))
        labels.append("proxy up, gold down (monitor)")
    ax.legend(handles, labels, fontsize=7, loc="best")
    ax.set_title("proxy versus gold reward (Gao et al. 2022)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _policy_figures(run_dir: Path, records: Sequence[dict[str, Any]], out_dir: Path, smooth: int) -> list[Path]:
    import matplotlib.pyplot as plt

    train = [r for r in records if "reward" in r]

    def reward_panel(ax: Any) -> None:
        xs, ys = _series(train, "reward")
        if ys:
            ax.plot(xs, ys, color="tab:blue", alpha=0.3, lw=1, label="train reward (mean of the step)")
            ax.plot(xs, _smooth(ys, smooth), color="tab:blue", lw=2, label=f"train reward ({smooth}-step average)")
        hx, hy = _series(records, "heldout/accuracy")
        if hy:
            ax.plot(hx, hy, "o-", color="tab:red", lw=2, label="held-out accuracy (greedy)")
        ax.set_title("reward and held-out accuracy")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="best")

    def line_panel(ax: Any, keys: Sequence[tuple[str, str]], title: str) -> None:
        for key, label in keys:
            xs, ys = _series(train, key)
            if ys:
                ax.plot(xs, ys, lw=1.5, label=label)
        ax.set_title(title)
        ax.set_xlabel("step")
        if any(_series(train, k)[1] for k, _ in keys):
            ax.legend(fontsize=7, loc="best")

    def length_panel(ax: Any) -> None:
        xs, mean = _series(train, "completions/mean_length")
        _, lo = _series(train, "completions/min_length")
        _, hi = _series(train, "completions/max_length")
        if mean:
            ax.plot(xs, mean, color="tab:green", lw=1.5, label="mean")
            if len(lo) == len(hi) == len(mean):
                ax.fill_between(xs, lo, hi, color="tab:green", alpha=0.15, label="min-max")
            ax.legend(fontsize=7)
        ax.set_title("completion length (tokens)")
        ax.set_xlabel("step")

    def time_panel(ax: Any) -> None:
        xs, gen = _series(train, "time/generation")
        _, rew = _series(train, "time/reward")
        _, upd = _series(train, "time/update")
        if gen and len(gen) == len(rew) == len(upd):
            ax.stackplot(xs, gen, rew, upd, labels=["generation", "reward", "update"], alpha=0.8)
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title("step time (s)")
        ax.set_xlabel("step")

    unscored = _unscored_key(train)
    steps = [r for r in records if "loss" in r]  # a preference run's step records (not its final summary)
    dropped = sorted({k for r in records for k in r if k.startswith("online/pairs_dropped/")})

    def pref_line(ax: Any, keys: Sequence[tuple[str, str]], title: str, style: str = "-") -> None:
        drawn = False
        for key, label in keys:
            xs, ys = _series(records if key.startswith(("online/", "heldout/")) else steps, key)
            if ys:
                ax.plot(xs, ys, style, lw=1.5, label=label)
                drawn = True
        ax.set_title(title)
        ax.set_xlabel("step")
        if drawn:
            ax.legend(fontsize=7, loc="best")

    def heldout_panel(ax: Any) -> None:
        pref_line(ax, [("heldout/accuracy", "held-out accuracy (greedy)"),
                       ("online/score_mean", "mean score of the round's samples")], "held-out accuracy", "o-")

    preference = [
        heldout_panel,
        lambda ax: pref_line(ax, [("rewards/chosen", "chosen"), ("rewards/rejected", "rejected"),
                                  ("rewards/margins", "margin")], "implicit reward β·log π/π_ref"),
        lambda ax: pref_line(ax, [("rewards/accuracies", "chosen above rejected")], "preference accuracy"),
        lambda ax: pref_line(ax, [("loss", "loss")], "loss"),
        lambda ax: pref_line(ax, [("kl", "KL estimate (KTO)"), ("entropy", "entropy")], "KL and entropy"),
    ]
    if any("online/pairs_kept" in r for r in records):
        preference += [
            lambda ax: pref_line(ax, [("online/pairs_kept", "pairs kept"),
                                      *((k, k.rsplit("/", 1)[-1]) for k in dropped)], "pairs per round (online)",
                                 "o-"),
            lambda ax: pref_line(ax, [("online/chosen_score", "chosen"), ("online/rejected_score", "rejected")],
                                 "service label of the pair (online)", "o-"),
        ]
    panels = preference if steps and any("rewards/margins" in r for r in steps) else [
        reward_panel,
        lambda ax: line_panel(ax, [("kl", "KL(policy || reference)")], "KL to the reference"),
        lambda ax: line_panel(ax, [("entropy", "entropy")], "entropy (nats/token)"),
        length_panel,
        lambda ax: line_panel(ax, [("frac_reward_zero_std", "groups with zero reward spread"),
                                   ("reward_std", "reward std")]
                              + ([(unscored, "unscored completions")] if unscored else []), "no-signal fractions"),
        lambda ax: line_panel(ax, [("clip_ratio/region_mean", "clipped (region)"),
                                   ("clip_ratio/low_mean", "clipped low"), ("clip_ratio/high_mean", "clipped high")],
                              "clip ratio"),
        time_panel,
    ]
    headline = heldout_panel if panels is preference else reward_panel
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5))
    flat = list(axes.flat)
    for draw, ax in zip(panels, flat, strict=False):
        draw(ax)
        ax.grid(alpha=0.3)
    for ax in flat[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"referee training run: {run_dir.resolve().name}")
    fig.tight_layout()
    overview = out_dir / "overview.png"
    fig.savefig(overview, dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    headline(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    reward = out_dir / "reward.png"
    fig.savefig(reward, dpi=110)
    plt.close(fig)
    written = [overview, reward]
    if panels is not preference and any("heldout/accuracy" in r for r in records):
        written.append(_proxy_gold(run_dir, records, out_dir / "proxy_gold.png", smooth))
    return written
