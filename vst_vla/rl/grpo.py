"""GRPO with DAPO's tricks, as pure tensor functions (no model code).

VST-R's RL stage (Yang et al. 2025) optimises the policy with GRPO (Shao et al. 2024): each prompt is rolled out
``n`` times, and a rollout's advantage is its reward standardised within its group, so no value network is
needed. Three tricks from DAPO (Yu et al. 2025) are implemented here:

* clip-higher: asymmetric ratio clipping ``[1 - clip_low, 1 + clip_high]`` with ``clip_high > clip_low``
  (0.2 / 0.28), so low-probability tokens with positive advantage can still grow and entropy does not collapse;
* dynamic sampling: groups whose rewards are all equal have zero advantage and carry no gradient, so the
  trainer keeps only groups with differing rewards (:func:`dynamic_sampling_mask`);
* token-level policy-gradient loss: the loss is summed over every valid token of the batch and divided by the
  number of valid tokens, so long responses weigh in proportion to their length instead of being averaged per
  sequence first.

DAPO drops the KL penalty; it stays available (``kl_coef``) with the low-variance k3 estimator
``exp(ref - new) - (ref - new) - 1`` (Schulman 2020), as GRPO uses it.

Layout: rewards and advantages are flat ``(G * n,)`` tensors with each group's ``n`` rollouts contiguous
(``[g0r0, ..., g0r(n-1), g1r0, ...]``), the order ``repeat_interleave`` of the prompts produces.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "clipped_surrogate_loss",
    "dynamic_sampling_mask",
    "group_advantages",
    "masked_mean",
    "token_entropy",
]

Aggregation = Literal["token_mean", "seq_mean_token_mean"]


def _grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """(G * n,) -> (G, n), checking the layout."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D (G * n,), got shape {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    return rewards.view(-1, group_size)


def group_advantages(
    rewards: torch.Tensor, group_size: int, eps: float = 1e-6, *, unbiased: bool = True, scale: bool = True
) -> torch.Tensor:
    """GRPO advantages: ``(r - mean_group) / (std_group + eps)``.

    Args:
        rewards: (G * n,) rewards, groups contiguous.
        group_size: n, rollouts per prompt (>= 2: a single rollout has nothing to be compared with).
        eps: keeps an all-equal group (std 0) at advantage 0 instead of 0/0.
        unbiased: the group std uses Bessel's correction (divides by n - 1), which is ``torch.std``'s default
            and what TRL's ``GRPOTrainer`` and verl's GRPO (the DAPO code base) compute. False divides by n.
        scale: False skips the division by the std (Dr. GRPO's unscaled advantages).

    Returns:
        (G * n,) advantages, in ``rewards``' dtype (float32 for integer rewards). Example: one group
        [1, 0, 0, 1] has mean 0.5 and unbiased std sqrt(1/3), so advantages are ±0.5 / sqrt(1/3) = ±0.8660
        (±1 with the biased std).
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for group-relative advantages, got {group_size}")
    if not rewards.is_floating_point():
        rewards = rewards.float()  # 0/1 rewards often arrive as ints; mean/std need floats
    grouped = _grouped(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (grouped.std(dim=1, keepdim=True, correction=1 if unbiased else 0) + eps)
    return centred.reshape(-1)


def dynamic_sampling_mask(rewards: torch.Tensor, group_size: int, atol: float = 0.0) -> torch.Tensor:
    """DAPO dynamic sampling: (G,) bool, True for groups whose rewards are not all equal (kept for training).

    ``atol`` treats groups whose reward range is within it as all-equal (0: exact comparison, as DAPO's
    std > 0 filter). Expand to rollouts with ``mask.repeat_interleave(group_size)``.
    """
    grouped = _grouped(rewards, group_size)
    spread = grouped.max(dim=1).values - grouped.min(dim=1).values
    return spread > atol


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over entries where ``mask`` is set (0 when none are); keeps the graph.

    Masked-out entries are selected away rather than multiplied by 0, so inf/nan there (e.g. log-probs of
    padding) cannot leak into the result.
    """
    keep = mask.bool()
    total = torch.where(keep, values, torch.zeros_like(values)).sum()
    return total / keep.sum().clamp(min=1).to(values.dtype)


def _check_shapes(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor
) -> None:
    if logp_new.dim() != 2:
        raise ValueError(f"logp_new must be (B, T), got shape {tuple(logp_new.shape)}")
    for name, t in (("logp_old", logp_old), ("mask", mask)):
        if t.shape != logp_new.shape:
            raise ValueError(f"{name} must have logp_new's shape {tuple(logp_new.shape)}, got {tuple(t.shape)}")
    if advantages.shape != logp_new.shape[:1]:
        raise ValueError(f"advantages must be (B,) = ({logp_new.shape[0]},), got {tuple(advantages.shape)}")


def clipped_surrogate_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO-clip policy loss with clip-higher, token-level aggregation and an optional k3 KL penalty.

    Per valid token, with ``ratio = exp(logp_new - logp_old)`` and the sequence's advantage ``A``:

        loss_t = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A) + kl_coef * k3_t
        k3_t   = exp(ref - new) - (ref - new) - 1     (>= 0, unbiased for KL(new || ref))

    Args:
        logp_new: (B, T) log-probs of the sampled tokens under the policy being trained (carries the grad).
        logp_old: (B, T) log-probs under the policy that sampled them (no grad needed).
        advantages: (B,) one advantage per sequence, broadcast over its tokens.
        mask: (B, T) 1/True on response tokens, 0 on prompt and padding.
        clip_low, clip_high: the ratio is clipped to [1 - clip_low, 1 + clip_high] (DAPO: 0.2, 0.28).
        ref_logp: (B, T) reference-policy log-probs; when given, the mean KL is reported even if kl_coef is 0.
        kl_coef: weight of the k3 KL penalty (DAPO uses none: 0).
        aggregation: "token_mean" (DAPO) divides the sum over all valid tokens by their count;
            "seq_mean_token_mean" (original GRPO) averages within each sequence, then over sequences.

    Returns:
        ``(loss, stats)``: the scalar loss, and floats ``clip_frac_low`` (tokens where the lower clip is active:
        ratio < 1 - clip_low with A < 0), ``clip_frac_high`` (ratio > 1 + clip_high with A > 0), ``clip_frac``
        (their sum), ``ratio_mean`` and ``kl_mean`` (0.0 without ``ref_logp``), all means over valid tokens.
        "Active" means the clipped branch is the one ``min`` takes, so the token gets no gradient.
    """
    _check_shapes(logp_new, logp_old, advantages, mask)
    if ref_logp is not None and ref_logp.shape != logp_new.shape:
        raise ValueError(f"ref_logp must be {tuple(logp_new.shape)} like logp_new, got {tuple(ref_logp.shape)}")
    if aggregation not in ("token_mean", "seq_mean_token_mean"):
        raise ValueError(f"unknown aggregation {aggregation!r}; expected 'token_mean' or 'seq_mean_token_mean'")
    if kl_coef != 0.0 and ref_logp is None:
        raise ValueError("kl_coef is set but no ref_logp was given")
    # Zero the log-probs off the mask first: padding may hold -inf/garbage, and exp(-inf - -inf) = nan would
    # otherwise reach the gradient even though the loss itself selects those entries away.
    valid = mask.bool()
    logp_new = torch.where(valid, logp_new, torch.zeros_like(logp_new))
    logp_old = torch.where(valid, logp_old, torch.zeros_like(logp_old))
    if ref_logp is not None:
        ref_logp = torch.where(valid, ref_logp, torch.zeros_like(ref_logp))
    mask = mask.to(logp_new.dtype)
    adv = advantages.to(logp_new.dtype).unsqueeze(1)

    ratio = torch.exp(logp_new - logp_old)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)

    kl = None
    if ref_logp is not None:
        log_ratio_ref = ref_logp - logp_new
        kl = torch.exp(log_ratio_ref) - log_ratio_ref - 1.0
        if kl_coef != 0.0:
            per_token = per_token + kl_coef * kl

    if aggregation == "token_mean":
        loss = masked_mean(per_token, mask)
    else:
        per_seq = torch.where(valid, per_token, 0.0).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        has_tokens = (mask.sum(dim=1) > 0).to(per_seq.dtype)
        loss = (per_seq * has_tokens).sum() / has_tokens.sum().clamp(min=1.0)

    with torch.no_grad():
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).to(mask.dtype)
        stats = {
            "clip_frac_low": float(masked_mean(low, mask)),
            "clip_frac_high": float(masked_mean(high, mask)),
            "ratio_mean": float(masked_mean(ratio, mask)),
            "kl_mean": float(masked_mean(kl, mask)) if kl is not None else 0.0,
        }
        stats["clip_frac"] = stats["clip_frac_low"] + stats["clip_frac_high"]
    return loss, stats


def token_entropy(logits: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean entropy (nats) of the per-token distributions over valid tokens; a monitoring stat, no grad.

    Args:
        logits: (B, T, V) unnormalised next-token scores.
        mask: (B, T) 1/True on the tokens to average over.
    """
    if logits.dim() != 3 or mask.shape != logits.shape[:2]:
        raise ValueError(f"need logits (B, T, V) and mask (B, T), got {tuple(logits.shape)}, {tuple(mask.shape)}")
    with torch.no_grad():
        probs = torch.softmax(logits.float(), dim=-1)  # float32: bf16 logits lose the small-probability tail
        entropy = -torch.special.xlogy(probs, probs).sum(dim=-1)  # xlogy(0, 0) = 0 for -inf (banned) logits
        return float(masked_mean(entropy, mask))
