"""The VST / OpenVLA action head: actions as discrete tokens decoded by the language model itself.

Each of ``chunk_size`` steps contributes ``action_dim`` tokens (time-major). Training is cross-entropy on those
tokens only, over the action-token sub-vocabulary (the same set decoding is constrained to); decoding is
greedy with a KV cache and logits masked to action tokens, so the output always parses into an action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BatchFeature, LogitsProcessor, LogitsProcessorList

from vst_vla.vla.action_tokenizer import ActionTokenizer
from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.heads.base import ActionHead, masked_mean, step_weights

if TYPE_CHECKING:
    from vst_vla.policy.configuration_vst_vla import TokenHeadConfig, VSTVLAConfig

END_OF_TURN = "<|im_end|>"


class OnlyActionTokens(LogitsProcessor):
    """Masks every logit outside the contiguous action-token id range [start, end)."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # argmax over NaN scores still returns a valid token, so broken weights would go unnoticed downstream.
        if not torch.isfinite(scores[:, self.start : self.end]).all():
            raise UnsafeActionError("the action-token scores contain NaN or inf; refusing to act")
        masked = torch.full_like(scores, float("-inf"))
        masked[:, self.start : self.end] = scores[:, self.start : self.end]
        return masked


class TokenActionHead(ActionHead):
    """Discrete-token head; it has no parameters of its own (the LM head scores the action tokens).

    Args:
        head_config: number of bins.
        policy_config: chunk size and action dimension.
        tokenizer: the backbone tokenizer; the action tokens are added to it.
    """

    def __init__(self, head_config: TokenHeadConfig, policy_config: VSTVLAConfig, tokenizer, hidden_size: int) -> None:
        super().__init__()
        self.action_tokenizer = ActionTokenizer(tokenizer, head_config.n_bins)
        self.chunk_size = policy_config.chunk_size
        self.action_dim = policy_config.action_dim
        self.pad_token_id = tokenizer.pad_token_id

    @property
    def n_action_tokens(self) -> int:
        return self.chunk_size * self.action_dim

    def train_suffixes(self, normalized_actions: torch.Tensor) -> list[str]:
        """(B, chunk, A) normalized actions → per-sample assistant text: action tokens then end of turn."""
        return [self.action_tokenizer.to_text(a) + END_OF_TURN for a in normalized_actions]

    def loss(self, backbone: nn.Module, inputs: BatchFeature, normalized_actions: torch.Tensor,
             action_is_pad: torch.Tensor | None) -> torch.Tensor:
        """Mean cross-entropy over the non-padded action tokens.

        ``inputs`` must have been encoded with :meth:`train_suffixes` (left padding puts the N action tokens at
        positions L-N-1 .. L-2, followed by the end-of-turn token).
        """
        n = self.n_action_tokens
        ids = inputs["input_ids"]
        start, end = self.action_tokenizer.token_id_range
        targets = ids[:, -n - 1 : -1]
        if ((targets < start) | (targets >= end)).any():
            raise RuntimeError("action tokens are not where the prompt layout puts them; "
                               "was the batch encoded with train_suffixes?")
        hidden = backbone.model(**inputs).last_hidden_state
        # Position p predicts token p + 1: hidden states L-N-2 .. L-3 score the N action tokens.
        logits = backbone.lm_head(hidden[:, -n - 2 : -2])[..., start:end].float()
        per_token = F.cross_entropy(logits.reshape(-1, end - start), (targets - start).reshape(-1), reduction="none")
        per_step = per_token.view(ids.shape[0], self.chunk_size, self.action_dim)
        return masked_mean(per_step, step_weights(action_is_pad, per_step.shape[:2], per_step.device))

    @torch.no_grad()
    def predict(self, backbone: nn.Module, inputs: BatchFeature) -> torch.Tensor:
        """Greedy constrained decoding → normalized actions (B, chunk, A) in [-1, 1]."""
        n = self.n_action_tokens
        start, end = self.action_tokenizer.token_id_range
        out = backbone.generate(
            **inputs,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            logits_processor=LogitsProcessorList([OnlyActionTokens(start, end)]),
            pad_token_id=self.pad_token_id,
            use_cache=True,
        )
        new_tokens = out[:, inputs["input_ids"].shape[1] :]
        return self.action_tokenizer.from_token_ids(new_tokens).view(-1, self.chunk_size, self.action_dim)
