"""The KL penalty of RLHF: folded into PPO's per-token reward, with a fixed or adaptive coefficient β.

    rewards, kl = kl_shaped_rewards(scores, logprobs, ref_logprobs, mask, beta=0.04)
    controller = KLController(beta=0.04, target=6.0, horizon=10_000); controller.update(kl_sum, n)

The reward of completion y to prompt x at token t (Ziegler et al. 2019, eq. 2; Ouyang et al. 2022):

    r_t = −β · (log π_θold(y_t | s_t) − log π_ref(y_t | s_t))  +  [t = last token] · R(x, y)

The bracket is the k1 estimator of KL(π_θold ‖ π_ref) for the sampled token, so the sum over the
completion estimates the sequence's KL divergence from the frozen reference, and the episode's return is
R(x, y) − β · KL. A token the policy now likes more than the reference did costs reward; one it likes
less earns some back. The score R comes from the reward service and sits on the last real token (the
end-of-sequence token, or the last one generated when the length limit cut it off).

`KLController` is the adaptive coefficient of Ziegler et al. (2019, section 2.2): with a target KL set, β
moves proportionally to the error, clipped to ±20%, scaled by the number of episodes over the horizon:
β ← β · (1 + clip(KL / target − 1, −0.2, 0.2) · n / horizon). Without a target, β stays fixed.
"""

from __future__ import annotations

import torch

__all__ = ["KLController", "kl_shaped_rewards"]


def kl_shaped_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                      mask: torch.Tensor, *, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards r (B, T) and the per-token KL estimate (B, T), both 0 at padding.

    `scores` (B,): the sequence reward R(x, y). `logprobs`, `ref_logprobs` (B, T): log-probabilities of the
    sampled tokens under the policy that sampled them and under the reference. `mask` (B, T): real tokens,
    a non-empty prefix of each row.
    """
    mask = mask.to(logprobs.dtype)
    lengths = mask.sum(dim=1).long()
    if bool((lengths == 0).any()):
        raise ValueError("every completion needs at least one token to carry its score")
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, lengths - 1] += scores.to(rewards.dtype)
    return rewards, kl


class KLController:
    """β, fixed (`target` None) or adapted towards a target KL per episode (Ziegler et al. 2019)."""

    def __init__(self, beta: float, target: float | None = None, horizon: int = 10_000) -> None:
        if beta < 0:
            raise ValueError(f"the KL coefficient beta must be >= 0, got {beta}")
        if target is not None and target <= 0:
            raise ValueError(f"the target KL must be > 0 (or unset for a fixed beta), got {target}")
        if horizon <= 0:
            raise ValueError(f"the KL horizon must be > 0 episodes, got {horizon}")
        self.value, self.target, self.horizon = float(beta), target, horizon

    def update(self, kl: float, n_episodes: int) -> float:
        """Adapts β to the mean per-episode KL `kl` measured over `n_episodes`; returns the new β."""
        if self.target is not None:
            error = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + error * n_episodes / self.horizon
        return self.value
