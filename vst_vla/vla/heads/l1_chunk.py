"""OpenVLA-OFT-style continuous head: learned action queries read out in one forward pass, L1 loss.

``chunk_size`` query tokens ``<|action_query_i|>`` (each with its own learned embedding) are appended to the
prompt; the backbone's last hidden states at those positions go through a small MLP to (chunk, A) actions. One
forward pass yields the whole chunk (parallel decoding), instead of chunk·A autoregressive token steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import BatchFeature

from vst_vla.vla.heads.base import ActionHead, masked_mean, step_weights
from vst_vla.vlm.tokenizer import add_missing_tokens

if TYPE_CHECKING:
    from vst_vla.policy.configuration_vst_vla import L1ChunkHeadConfig, VSTVLAConfig


def query_token(i: int) -> str:
    return f"<|action_query_{i}|>"


class L1ChunkHead(ActionHead):
    """Parallel-decoding regression head.

    Args:
        head_config: MLP width.
        policy_config: chunk size and action dimension.
        tokenizer: the backbone tokenizer (the query tokens are added to it).
        hidden_size: the backbone's hidden size.
    """

    def __init__(self, head_config: L1ChunkHeadConfig, policy_config: VSTVLAConfig, tokenizer,
                 hidden_size: int) -> None:
        super().__init__()
        self.chunk_size = policy_config.chunk_size
        self.action_dim = policy_config.action_dim
        tokens = [query_token(i) for i in range(self.chunk_size)]
        add_missing_tokens(tokenizer, tokens)
        self._suffix = "".join(tokens)
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, head_config.mlp_hidden_size),
            nn.GELU(),
            nn.Linear(head_config.mlp_hidden_size, self.action_dim),
        )

    def train_suffixes(self, normalized_actions: torch.Tensor) -> list[str]:
        return [self._suffix] * normalized_actions.shape[0]

    def inference_suffixes(self, batch_size: int) -> list[str]:
        return [self._suffix] * batch_size

    def _actions(self, backbone: nn.Module, inputs: BatchFeature) -> torch.Tensor:
        # Left padding puts the queries at the last chunk_size positions of every row.
        hidden = backbone.model(**inputs).last_hidden_state[:, -self.chunk_size :]
        return self.mlp(hidden.to(self.mlp[1].weight.dtype))

    def loss(self, backbone: nn.Module, inputs: BatchFeature, normalized_actions: torch.Tensor,
             action_is_pad: torch.Tensor | None) -> torch.Tensor:
        pred = self._actions(backbone, inputs)
        per_step = (pred.float() - normalized_actions.float()).abs()
        return masked_mean(per_step, step_weights(action_is_pad, per_step.shape[:2], per_step.device))

    @torch.no_grad()
    def predict(self, backbone: nn.Module, inputs: BatchFeature) -> torch.Tensor:
        return self._actions(backbone, inputs).float().clamp(-1.0, 1.0)
