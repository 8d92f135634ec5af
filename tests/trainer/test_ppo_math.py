"""PPO's arithmetic against hand-computed numbers: GAE, the KL-shaped reward, the adaptive β, the losses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
import torch

from referee.trainer.gae import explained_variance, gae, masked_mean, masked_whiten
from referee.trainer.kl import KLController, kl_shaped_rewards
from referee.trainer.ppo_config import PPOConfig


def test_gae_matches_a_hand_computed_episode() -> None:
    # γ = 0.9, λ = 0.8; the episode ends after the third token (V(terminal) = 0).
    #   δ_2 = 1 + 0.9·0 − 0.7 = 0.3            Â_2 = 0.3
    #   δ_1 = 0 + 0.9·0.7 − 0.6 = 0.03         Â_1 = 0.03 + 0.72·0.3 = 0.246
    #   δ_0 = 0 + 0.9·0.6 − 0.5 = 0.04         Â_0 = 0.04 + 0.72·0.246 = 0.21712
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    advantages, returns = gae(rewards, values, torch.ones(1, 3, dtype=torch.bool), gamma=0.9, lam=0.8)
    torch.testing.assert_close(advantages, torch.tensor([[0.21712, 0.246, 0.3]]))
    torch.testing.assert_close(returns, torch.tensor([[0.71712, 0.846, 1.0]]))


def test_gae_ends_each_row_at_its_last_real_token() -> None:
    # Row 2 has one real token: whatever the padding holds, the next state is terminal.
    rewards = torch.tensor([[0.0, 0.0, 1.0], [2.0, 5.0, 5.0]])
    values = torch.tensor([[0.5, 0.6, 0.7], [1.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    torch.testing.assert_close(advantages[1], torch.tensor([1.0, 0.0, 0.0]))  # δ_0 = 2 + 0 − 1
    torch.testing.assert_close(returns[1], torch.tensor([2.0, 0.0, 0.0]))
    torch.testing.assert_close(advantages[0], torch.tensor([0.21712, 0.246, 0.3]))


@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 1.0), (0.5, 1.0)])
def test_gae_with_lambda_one_is_the_discounted_return_minus_the_value(gamma: float, lam: float) -> None:
    rewards = torch.tensor([[0.1, -0.2, 0.3, 1.0]])
    values = torch.tensor([[0.4, 0.1, -0.3, 0.2]])
    advantages, returns = gae(rewards, values, torch.ones(1, 4, dtype=torch.bool), gamma=gamma, lam=lam)
    discounted = [sum(gamma**k * float(r) for k, r in enumerate(rewards[0, t:])) for t in range(4)]
    torch.testing.assert_close(returns, torch.tensor([discounted]))
    torch.testing.assert_close(advantages, torch.tensor([discounted]) - values)


def test_gae_with_lambda_zero_is_the_one_step_td_error() -> None:
    rewards = torch.tensor([[0.1, -0.2, 1.0]])
    values = torch.tensor([[0.4, 0.1, -0.3]])
    advantages, _ = gae(rewards, values, torch.ones(1, 3, dtype=torch.bool), gamma=1.0, lam=0.0)
    torch.testing.assert_close(advantages, torch.tensor([[0.1 + 0.1 - 0.4, -0.2 - 0.3 - 0.1, 1.0 + 0.3]]))


def test_gae_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        gae(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3), gamma=1.0, lam=0.95)


def test_kl_penalty_sign_and_scale() -> None:
    # Token 1: the policy likes it more than the reference (log-ratio +0.5): it costs β·0.5 of reward.
    # Token 2: the policy likes it less (log-ratio −1.0): it earns β·1.0 back; the score R sits on it.
    logprobs = torch.tensor([[-1.0, -2.0]])
    ref_logprobs = torch.tensor([[-1.5, -1.0]])
    rewards, kl = kl_shaped_rewards(torch.tensor([1.0]), logprobs, ref_logprobs, torch.ones(1, 2, dtype=torch.bool),
                                    beta=0.1)
    torch.testing.assert_close(kl, torch.tensor([[0.5, -1.0]]))
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 1.0 + 0.1]]))
    # The episode's return is R − β·KL, with KL the summed per-token log-ratio.
    assert rewards.sum().item() == pytest.approx(1.0 - 0.1 * (0.5 - 1.0))


def test_kl_penalty_scales_linearly_with_beta_and_vanishes_at_zero() -> None:
    logprobs, ref = torch.tensor([[-0.2, -0.3, -0.4]]), torch.tensor([[-0.9, -0.8, -0.7]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    score = torch.tensor([0.0])
    small, _ = kl_shaped_rewards(score, logprobs, ref, mask, beta=0.01)
    large, _ = kl_shaped_rewards(score, logprobs, ref, mask, beta=0.04)
    torch.testing.assert_close(large, 4 * small)
    assert (small < 0).all()  # drifting towards tokens the reference found unlikely is penalised
    none, _ = kl_shaped_rewards(score, logprobs, ref, mask, beta=0.0)
    assert (none == 0).all()


def test_score_sits_on_the_last_real_token_and_padding_gets_nothing() -> None:
    logprobs = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, -3.0, -3.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    rewards, kl = kl_shaped_rewards(torch.tensor([0.5, 0.25]), logprobs, ref, mask, beta=0.05)
    torch.testing.assert_close(rewards, torch.tensor([[0.0, 0.0, 0.5], [0.25, 0.0, 0.0]]))
    torch.testing.assert_close(kl[1], torch.tensor([0.0, 0.0, 0.0]))  # padding's log-ratio is not counted


def test_kl_penalty_needs_a_token_per_completion() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        kl_shaped_rewards(torch.tensor([1.0]), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), beta=0.1)


def test_adaptive_kl_controller_follows_ziegler() -> None:
    # β ← β (1 + clip(KL/target − 1, ±0.2) · n / horizon)
    ctl = KLController(0.1, target=6.0, horizon=100)
    assert ctl.update(9.0, 10) == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))  # error 0.5 clipped to 0.2
    ctl = KLController(0.1, target=6.0, horizon=100)
    assert ctl.update(5.4, 10) == pytest.approx(0.1 * (1 - 0.1 * 10 / 100))  # error −0.1
    fixed = KLController(0.1)
    assert fixed.update(100.0, 10) == 0.1
    with pytest.raises(ValueError, match="target KL"):
        KLController(0.1, target=0.0)


def test_whitening_and_explained_variance_ignore_padding() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]], dtype=torch.bool)
    white = masked_whiten(x, mask)
    assert masked_mean(white, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert white[0, 3].item() == 0.0
    torch.testing.assert_close(white[0, :3], torch.tensor([-1.0, 0.0, 1.0]))  # unbiased std of 1, 2, 3 is 1
    assert explained_variance(x, x, mask) == pytest.approx(1.0)
    assert explained_variance(torch.zeros_like(x) + 2.0, x, mask) == pytest.approx(0.0)


def _cfg(**overrides: float) -> PPOConfig:
    # Only the two clip ranges are read.
    return cast(PPOConfig, SimpleNamespace(**{"epsilon": 0.2, "epsilon_value": 0.2, **overrides}))


def test_surrogate_is_clipped_only_where_clipping_is_pessimistic() -> None:
    from referee.trainer.ppo import ppo_losses

    # Ratios e^0.4 ≈ 1.49 on two tokens: with Â = +1 the gain is capped at 1.2 (no gradient);
    # with Â = −1 the loss keeps the full ratio (the pessimistic bound), and the gradient.
    new = torch.tensor([[0.4, 0.4]], requires_grad=True)
    old = torch.zeros(1, 2)
    advantages = torch.tensor([[1.0, -1.0]])
    zeros, mask = torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool)
    policy_loss, _, stats = ppo_losses(new, old, advantages, zeros, zeros, zeros, mask, _cfg())
    ratio = torch.exp(torch.tensor(0.4))
    assert policy_loss.item() == pytest.approx(((-1.2) + ratio.item()) / 2)
    policy_loss.backward()
    assert new.grad is not None
    assert new.grad[0, 0].item() == 0.0 and new.grad[0, 1].item() == pytest.approx(ratio.item() / 2)
    assert stats["clip_fraction"].item() == 1.0
    assert stats["approx_kl"].item() == pytest.approx((ratio - 1 - 0.4).item())


def test_value_loss_is_clipped_around_the_rollout_value() -> None:
    from referee.trainer.ppo import ppo_losses

    # V_old = 0, V = 1, Ĝ = 1, ε_V = 0.2: the clipped prediction 0.2 is 0.8 away, so ½·0.8² = 0.32,
    # although the unclipped prediction is exact.
    zeros, mask = torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool)
    _, value_loss, stats = ppo_losses(zeros, zeros, zeros, torch.ones(1, 1), zeros, torch.ones(1, 1), mask, _cfg())
    assert value_loss.item() == pytest.approx(0.32)
    assert stats["value_clip_fraction"].item() == 1.0
    _, value_loss, _ = ppo_losses(zeros, zeros, zeros, torch.ones(1, 1), zeros, torch.ones(1, 1), mask,
                                  _cfg(epsilon_value=10.0))
    assert value_loss.item() == pytest.approx(0.0)
