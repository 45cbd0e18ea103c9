"""A flow-matching action expert (pi0 / SmolVLA style) conditioned on the VLM's hidden states.

The VLM reads the prompt once; a small transformer (the action expert) takes a noisy action chunk and the flow
time, self-attends over the chunk and cross-attends to the VLM's last hidden states. Training regresses the
velocity u = noise − actions at x_t = t·noise + (1 − t)·actions (t ~ U(0, 1)); acting integrates dx/dt from
pure noise at t = 1 to t = 0 with ``num_integration_steps`` Euler steps, re-reading the cached VLM features at
every step instead of re-running the VLM.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import BatchFeature

from vst_vla.vla.heads.base import ActionHead, masked_mean, step_weights

if TYPE_CHECKING:
    from vst_vla.policy.configuration_vst_vla import FlowHeadConfig, VSTVLAConfig


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times t (B,) in [0, 1] → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FlowMatchingHead(ActionHead):
    """Action expert with cross-attention to the VLM.

    Args:
        head_config: expert width, depth, heads, integration steps.
        policy_config: chunk size and action dimension.
        tokenizer: unused (the prompt needs no extra tokens).
        hidden_size: the backbone's hidden size (projected to the expert's width).
    """

    def __init__(self, head_config: FlowHeadConfig, policy_config: VSTVLAConfig, tokenizer, hidden_size: int) -> None:
        super().__init__()
        width = head_config.hidden_size
        self.chunk_size = policy_config.chunk_size
        self.action_dim = policy_config.action_dim
        self.num_integration_steps = head_config.num_integration_steps
        self.context_proj = nn.Linear(hidden_size, width)
        self.action_in = nn.Linear(self.action_dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.positions = nn.Parameter(torch.randn(self.chunk_size, width) * 0.02)
        layer = nn.TransformerDecoderLayer(width, head_config.num_heads, dim_feedforward=4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.expert = nn.TransformerDecoder(layer, head_config.num_layers)
        self.action_out = nn.Linear(width, self.action_dim)
        self.width = width

    def context(self, backbone: nn.Module, inputs: BatchFeature) -> tuple[torch.Tensor, torch.Tensor]:
        """The VLM's last hidden states projected to the expert width (B, L, W), and the padding mask (B, L)."""
        hidden = backbone.model(**inputs).last_hidden_state
        return self.context_proj(hidden.to(self.context_proj.weight.dtype)), ~inputs["attention_mask"].bool()

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor,
                 step_pad: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted velocity (B, chunk, A) at noisy actions x_t (B, chunk, A) and times t (B,).

        ``step_pad`` (B, chunk) hides steps padded past an episode's end from the others' self-attention, so
        made-up targets cannot leak into the real steps' predictions.
        """
        tokens = self.action_in(x_t.to(self.action_in.weight.dtype)) + self.positions
        tokens = tokens + self.time_mlp(time_embedding(t, self.width).to(tokens.dtype))[:, None]
        out = self.expert(tokens, context, tgt_key_padding_mask=step_pad, memory_key_padding_mask=context_pad)
        return self.action_out(out)

    def loss(self, backbone: nn.Module, inputs: BatchFeature, normalized_actions: torch.Tensor,
             action_is_pad: torch.Tensor | None) -> torch.Tensor:
        context, pad = self.context(backbone, inputs)
        actions = normalized_actions.to(context.device).float()
        noise = torch.randn_like(actions)
        t = torch.rand(actions.shape[0], device=actions.device)
        x_t = t[:, None, None] * noise + (1.0 - t[:, None, None]) * actions
        step_pad = action_is_pad.to(context.device).bool() if action_is_pad is not None else None
        pred = self.velocity(x_t, t, context, pad, step_pad)
        per_step = (pred.float() - (noise - actions)) ** 2
        return masked_mean(per_step, step_weights(action_is_pad, per_step.shape[:2], per_step.device))

    @torch.no_grad()
    def predict(self, backbone: nn.Module, inputs: BatchFeature) -> torch.Tensor:
        context, pad = self.context(backbone, inputs)  # computed once, reused by every integration step
        batch = context.shape[0]
        x = torch.randn(batch, self.chunk_size, self.action_dim, device=context.device)
        dt = 1.0 / self.num_integration_steps
        for i in range(self.num_integration_steps):
            t = torch.full((batch,), 1.0 - i * dt, device=context.device)
            x = x - dt * self.velocity(x, t, context, pad).float()
        return x.clamp(-1.0, 1.0)
