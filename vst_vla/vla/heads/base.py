"""What every action head implements, so one policy, trainer and rollout serve them all.

A head may append text to the prompt (the token head's targets, the L1 head's action queries), computes its
training loss from the backbone, and predicts a chunk of normalized actions in [-1, 1] (B, chunk, A).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BatchFeature


class ActionHead(nn.Module):
    """Base class of the heads (each configured by an ``ActionHeadConfig`` subclass)."""

    def train_suffixes(self, normalized_actions: torch.Tensor) -> list[str] | None:
        """Per-sample text appended after the prompt when training (None: nothing)."""
        return None

    def inference_suffixes(self, batch_size: int) -> list[str] | None:
        """Per-sample text appended after the prompt when acting (None: nothing)."""
        return None

    def loss(self, backbone: nn.Module, inputs: BatchFeature, normalized_actions: torch.Tensor,
             action_is_pad: torch.Tensor | None) -> torch.Tensor:
        """Scalar training loss; padded steps (action_is_pad True) must not count."""
        raise NotImplementedError

    def predict(self, backbone: nn.Module, inputs: BatchFeature) -> torch.Tensor:
        """Normalized actions (B, chunk, A) in [-1, 1]."""
        raise NotImplementedError


def step_weights(action_is_pad: torch.Tensor | None, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(B, chunk) float weights: 1 for real steps, 0 for steps padded past an episode's end."""
    if action_is_pad is None:
        return torch.ones(shape, device=device)
    return (~action_is_pad.bool()).to(device=device, dtype=torch.float32)


def masked_mean(per_step: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of (B, chunk, ...) values over real steps (weights (B, chunk)), all trailing dims averaged."""
    per_step = per_step.float().reshape(*weights.shape, -1).mean(-1)
    return (per_step * weights).sum() / weights.sum().clamp_min(1.0)
