"""Generalised advantage estimation (Schulman et al. 2016) over token sequences, and masked statistics.

    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.95)

Shapes are (B, T): one row per completion, one column per generated token; `mask` marks the tokens that
exist (a completion ends at its first end-of-sequence token, the rest of its row is padding). Each row
is one episode: the state after its last real token is terminal, so V(s_{T+1}) = 0 there.

    δ_t = r_t + γ V(s_{t+1}) − V(s_t)
    Â_t = Σ_l (γλ)^l δ_{t+l}            (computed backwards: Â_t = δ_t + γλ Â_{t+1})
    Ĝ_t = Â_t + V(s_t)                  (the value target, "returns")

Pure tensor functions, no model: the tests check them against hand-computed numbers.
"""

from __future__ import annotations

import torch

__all__ = ["explained_variance", "gae", "masked_mean", "masked_var", "masked_whiten"]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the positions where `mask` is true (NaN if none are)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum()


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of `x` over the masked positions (Bessel-corrected when `unbiased` and more than one)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    n = mask.sum()
    if unbiased and n > 1:
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """`x` scaled to unit variance over the masked positions (and centred if `shift_mean`); padding set to 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages Â and returns Ĝ, both (B, T) and 0 at padding, for per-token `rewards` and `values` V(s_t)."""
    if rewards.shape != values.shape or rewards.shape != mask.shape:
        raise ValueError(f"rewards, values and mask must have one shape, got {tuple(rewards.shape)}, "
                         f"{tuple(values.shape)} and {tuple(mask.shape)}")
    mask = mask.to(values.dtype)
    # Zero at padding: the value after a row's last real token is then V(terminal) = 0.
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(values[:, 0])
    length = values.shape[1]
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def explained_variance(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """1 − Var(target − predicted) / Var(target) over the masked positions: 1 is perfect, ≤ 0 is no better than
    predicting the mean. NaN when the target has no variance."""
    var_target = masked_var(target, mask, unbiased=False)
    if var_target.item() == 0:
        return float("nan")
    return float(1 - masked_var(target - predicted, mask, unbiased=False) / var_target)
