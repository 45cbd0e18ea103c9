"""Discrete action tokens (VST / OpenVLA): each normalized action dimension becomes one of 256 uniform bins.

Bins split [-1, 1] uniformly; a bin decodes to its centre, so the round-trip error is at most half a bin width
(1/256) for values inside the normalized range. Each bin has its own added token ``<|action_i|>`` appended to
the vocabulary: existing tokens are never overwritten (unlike OpenVLA's reuse of the 256 rarest tokens), and
the embedding matrix grows only when the vocabulary outgrows it.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

from vst_vla.vlm.tokenizer import add_missing_tokens


def action_token(i: int) -> str:
    """The text form of bin ``i``'s token."""
    return f"<|action_{i}|>"


class ActionTokenizer:
    """Maps normalized actions in [-1, 1] to bin indices and token ids, and back.

    Args:
        tokenizer: the VLM's tokenizer; the 256 action tokens are added to it if absent.
        n_bins: number of uniform bins over [-1, 1].
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, n_bins: int = 256) -> None:
        if n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins}")
        self.n_bins = n_bins
        tokens = [action_token(i) for i in range(n_bins)]
        add_missing_tokens(tokenizer, tokens)
        ids = tokenizer.convert_tokens_to_ids(tokens)
        # Contiguous ids let decoding constrain logits with one slice instead of a gather.
        if ids != list(range(ids[0], ids[0] + n_bins)):
            raise ValueError(
                "action tokens must have contiguous ids; the tokenizer already holds some of them out of order"
            )
        self.first_token_id = ids[0]

    @property
    def token_id_range(self) -> tuple[int, int]:
        """[start, end) of the action tokens' ids."""
        return self.first_token_id, self.first_token_id + self.n_bins

    def to_bins(self, actions: torch.Tensor) -> torch.Tensor:
        """Normalized actions (...,) in [-1, 1] → bin indices (...,) int64 in [0, n_bins); clips outside."""
        scaled = (actions.clamp(-1.0, 1.0) + 1.0) / 2.0 * self.n_bins
        return scaled.floor().long().clamp(0, self.n_bins - 1)

    def from_bins(self, bins: torch.Tensor) -> torch.Tensor:
        """Bin indices → bin centres in [-1, 1] (float32)."""
        if (bins < 0).any() or (bins >= self.n_bins).any():
            raise ValueError(
                f"bin indices must lie in [0, {self.n_bins}), got min {int(bins.min())} max {int(bins.max())}"
            )
        return (bins.float() + 0.5) / self.n_bins * 2.0 - 1.0

    def to_token_ids(self, actions: torch.Tensor) -> torch.Tensor:
        return self.to_bins(actions) + self.first_token_id

    def from_token_ids(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.from_bins(token_ids - self.first_token_id)

    def to_text(self, actions: torch.Tensor) -> str:
        """One sample's normalized actions (any shape) → the concatenated action-token string."""
        return "".join(action_token(int(b)) for b in self.to_bins(actions).flatten())
