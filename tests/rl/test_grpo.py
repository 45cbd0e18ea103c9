"""GRPO + DAPO tensor math: group advantages, dynamic sampling, clip-higher surrogate, token-level loss, k3 KL."""

from __future__ import annotations

import math

import pytest
import torch

from vst_vla.rl.grpo import (
    clipped_surrogate_loss,
    dynamic_sampling_mask,
    group_advantages,
    masked_mean,
    token_entropy,
)

# --- advantages and dynamic sampling -------------------------------------------------------------------------


def test_group_advantages_hand_computed() -> None:
    # Group [1, 0, 0, 1]: mean 0.5; unbiased std sqrt((4 * 0.25) / 3) = sqrt(1/3); biased std 0.5.
    # The all-equal group [1, 1, 1, 1] has std 0 -> advantages 0 (eps avoids 0/0).
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)
    torch.testing.assert_close(group_advantages(rewards, 4), torch.tensor([a, -a, -a, a, 0.0, 0.0, 0.0, 0.0]))
    b = 0.5 / (0.5 + 1e-6)
    torch.testing.assert_close(
        group_advantages(rewards, 4, unbiased=False), torch.tensor([b, -b, -b, b, 0.0, 0.0, 0.0, 0.0])
    )
    torch.testing.assert_close(
        group_advantages(rewards, 4, scale=False), torch.tensor([0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    )


def test_group_advantages_groups_are_contiguous_and_zero_mean() -> None:
    rewards = torch.tensor([0.0, 1.0, 0.2, 0.9, 0.3, 0.3])
    adv = group_advantages(rewards, 2)
    torch.testing.assert_close(adv.view(3, 2).sum(dim=1), torch.zeros(3))
    # Two-rollout groups: unbiased std of (x, y) is |x - y| / sqrt 2, so advantages are ±1/sqrt2.
    torch.testing.assert_close(adv[:4].abs(), torch.full((4,), 1 / math.sqrt(2)), atol=1e-5, rtol=0)
    assert adv[0] < 0 < adv[1] and adv[2] < 0 < adv[3]


def test_group_advantages_accepts_integer_rewards() -> None:
    expected = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), 4)
    torch.testing.assert_close(group_advantages(torch.tensor([1, 0, 0, 1]), 4), expected)


@pytest.mark.parametrize(("n_rewards", "group_size"), [(6, 4), (4, 1), (4, 0)])
def test_group_advantages_rejects_bad_layouts(n_rewards: int, group_size: int) -> None:
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(n_rewards), group_size)


def test_dynamic_sampling_mask() -> None:
    rewards = torch.tensor([1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.6])
    assert dynamic_sampling_mask(rewards, 4).tolist() == [True, False, False, True]
    assert dynamic_sampling_mask(rewards, 4, atol=0.2).tolist() == [True, False, False, False]
    with pytest.raises(ValueError):
        dynamic_sampling_mask(rewards, 3)


# --- clipped surrogate ---------------------------------------------------------------------------------------


def one_token(ratio: float, advantage: float, **kwargs: object) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """Loss, stats and d loss / d logp_new for a single valid token with the given ratio and advantage."""
    logp_new = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, stats = clipped_surrogate_loss(
        logp_new, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), **kwargs
    )
    loss.backward()
    return loss.detach(), stats, logp_new.grad


@pytest.mark.parametrize(
    ("ratio", "advantage", "loss", "grad", "low", "high"),
    [
        # ratio 1.5, A > 0: clipped at 1 + 0.28 -> -1.28, no gradient.
        (1.5, 1.0, -1.28, 0.0, 0.0, 1.0),
        # ratio 0.5, A < 0: clipped at 1 - 0.2 -> -min(-0.5, -0.8) = 0.8, no gradient.
        (0.5, -1.0, 0.8, 0.0, 1.0, 0.0),
        # Clipping is one-sided: ratio 1.5 with A < 0 and 0.5 with A > 0 keep the unclipped term and its
        # gradient d(-A * ratio) / d logp = -A * ratio.
        (1.5, -1.0, 1.5, 1.5, 0.0, 0.0),
        (0.5, 1.0, -0.5, -0.5, 0.0, 0.0),
        # Clip-higher: 1.25 is inside [0.8, 1.28] (a symmetric 0.2 clip would have cut it at 1.2).
        (1.25, 1.0, -1.25, -1.25, 0.0, 0.0),
        (1.25, 2.0, -2.5, -2.5, 0.0, 0.0),
    ],
)
def test_clip_higher_single_tokens(
    ratio: float, advantage: float, loss: float, grad: float, low: float, high: float
) -> None:
    value, stats, g = one_token(ratio, advantage)
    assert value.item() == pytest.approx(loss, abs=1e-6)
    assert g.item() == pytest.approx(grad, abs=1e-6)
    assert (stats["clip_frac_low"], stats["clip_frac_high"]) == (low, high)
    assert stats["clip_frac"] == low + high
    assert stats["ratio_mean"] == pytest.approx(ratio, abs=1e-6)


def test_symmetric_clip_is_available() -> None:
    value, stats, _ = one_token(1.25, 1.0, clip_low=0.2, clip_high=0.2)
    assert value.item() == pytest.approx(-1.2, abs=1e-6)
    assert stats["clip_frac_high"] == 1.0


def test_token_level_aggregation_differs_from_sequence_mean_on_unequal_lengths() -> None:
    # ratio 1 everywhere, so each valid token's loss is -A: sequence 0 has 1 token at -1 (A = +1),
    # sequence 1 has 3 tokens at +1 (A = -1). Token mean: (-1 + 3) / 4 = 0.5; sequence mean: (-1 + 1) / 2 = 0.
    logp = torch.zeros(2, 3)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, -1.0])
    token_loss, _ = clipped_surrogate_loss(logp, logp, adv, mask)
    seq_loss, _ = clipped_surrogate_loss(logp, logp, adv, mask, aggregation="seq_mean_token_mean")
    assert token_loss.item() == pytest.approx(0.5)
    assert seq_loss.item() == pytest.approx(0.0)


def test_token_level_gradient_is_per_valid_token_of_the_batch() -> None:
    # Same batch: each of the 4 valid tokens gets d loss / d logp = -A * ratio / 4; padding gets 0.
    logp_new = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    loss, _ = clipped_surrogate_loss(logp_new, torch.zeros(2, 3), torch.tensor([1.0, -1.0]), mask)
    loss.backward()
    torch.testing.assert_close(logp_new.grad, torch.tensor([[-0.25, 0.0, 0.0], [0.25, 0.25, 0.25]]))


def test_padding_garbage_does_not_leak_into_loss_or_gradient() -> None:
    logp_new = torch.tensor([[0.0, -math.inf], [0.0, math.nan]], requires_grad=True)
    logp_old = torch.tensor([[0.0, -math.inf], [0.0, 50.0]])
    mask = torch.tensor([[1, 0], [1, 0]])
    loss, stats = clipped_surrogate_loss(logp_new, logp_old, torch.tensor([1.0, 1.0]), mask)
    loss.backward()
    assert loss.item() == pytest.approx(-1.0)
    assert stats["ratio_mean"] == pytest.approx(1.0)
    assert torch.isfinite(logp_new.grad).all()


def test_clip_fractions_and_ratio_mean_over_a_batch() -> None:
    # Four valid tokens: high-clipped (1.5, A+), low-clipped (0.5, A-), two unclipped (1.0); one padding token.
    ratios = torch.tensor([[1.5, 1.0, 9.0], [0.5, 1.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    _, stats = clipped_surrogate_loss(ratios.log(), torch.zeros(2, 3), torch.tensor([1.0, -1.0]), mask)
    assert stats["clip_frac_high"] == pytest.approx(0.25)
    assert stats["clip_frac_low"] == pytest.approx(0.25)
    assert stats["clip_frac"] == pytest.approx(0.5)
    assert stats["ratio_mean"] == pytest.approx((1.5 + 1.0 + 0.5 + 1.0) / 4)


def test_kl_is_zero_when_reference_equals_policy() -> None:
    logp_new = torch.tensor([[-0.3, -1.2], [-2.0, -0.1]])
    logp_old = logp_new - 0.1
    mask = torch.ones(2, 2)
    adv = torch.tensor([0.5, -0.5])
    plain, _ = clipped_surrogate_loss(logp_new, logp_old, adv, mask)
    with_kl, stats = clipped_surrogate_loss(logp_new, logp_old, adv, mask, ref_logp=logp_new.clone(), kl_coef=0.1)
    assert stats["kl_mean"] == 0.0
    assert with_kl.item() == pytest.approx(plain.item())


def test_k3_kl_hand_computed() -> None:
    # ref - new = log 2 on the only valid token: k3 = 2 - log 2 - 1.
    logp_new = torch.tensor([[math.log(0.25), 0.0]])
    ref = torch.tensor([[math.log(0.5), 0.0]])
    mask = torch.tensor([[1, 0]])
    k3 = 1.0 - math.log(2.0)
    plain, stats0 = clipped_surrogate_loss(logp_new, logp_new, torch.tensor([1.0]), mask, ref_logp=ref)
    assert plain.item() == pytest.approx(-1.0)  # kl_coef 0: reported, not added
    assert stats0["kl_mean"] == pytest.approx(k3)
    loss, _ = clipped_surrogate_loss(logp_new, logp_new, torch.tensor([1.0]), mask, ref_logp=ref, kl_coef=0.1)
    assert loss.item() == pytest.approx(-1.0 + 0.1 * k3)


def test_surrogate_rejects_bad_arguments() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="advantages"):
        clipped_surrogate_loss(x, x, torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="mask"):
        clipped_surrogate_loss(x, x, torch.zeros(2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="ref_logp"):
        clipped_surrogate_loss(x, x, torch.zeros(2), torch.ones(2, 3), kl_coef=0.1)
    with pytest.raises(ValueError, match="aggregation"):
        clipped_surrogate_loss(x, x, torch.zeros(2), torch.ones(2, 3), aggregation="sum")  # type: ignore[arg-type]


def test_empty_mask_gives_zero_loss() -> None:
    x = torch.zeros(2, 3, requires_grad=True)
    loss, stats = clipped_surrogate_loss(x, x.detach(), torch.ones(2), torch.zeros(2, 3))
    assert loss.item() == 0.0 and stats["clip_frac"] == 0.0
    loss.backward()  # still a graph


def test_masked_mean() -> None:
    values = torch.tensor([1.0, 2.0, math.inf])
    assert masked_mean(values, torch.tensor([1, 1, 0])).item() == pytest.approx(1.5)
    assert masked_mean(values, torch.zeros(3)).item() == 0.0


# --- entropy -------------------------------------------------------------------------------------------------


def test_token_entropy() -> None:
    logits = torch.zeros(1, 3, 4)  # token 0: uniform over 4 -> log 4
    logits[0, 1] = torch.tensor([0.0, -math.inf, -math.inf, -math.inf])  # token 1: certain -> 0
    logits[0, 2] = torch.tensor([5.0, 0.0, 0.0, 0.0])  # token 2: masked out
    assert token_entropy(logits, torch.tensor([[1, 1, 0]])) == pytest.approx(math.log(4) / 2)
    assert token_entropy(logits, torch.tensor([[1, 0, 0]])) == pytest.approx(math.log(4))
    with pytest.raises(ValueError):
        token_entropy(logits[0], torch.ones(3))
