"""Temporal ensembling of overlapping action chunks (ACT, Zhao et al. 2023, section 3.3).

With an inference at every step, step t has up to ``chunk_size`` predictions (from the chunks issued at
t, t−1, …). They are averaged with weights exp(−coeff·i), i = 0 for the oldest prediction, as ACT does.
"""

from __future__ import annotations

import torch


class TemporalEnsembler:
    """Keeps the chunks issued so far and returns the ensembled action for the current step."""

    def __init__(self, coeff: float, chunk_size: int) -> None:
        self.coeff = coeff
        self.chunk_size = chunk_size
        self._chunks: list[torch.Tensor] = []  # newest last; each (B, chunk, A), index 0 = issue step

    def reset(self) -> None:
        self._chunks.clear()

    def update(self, chunk: torch.Tensor) -> torch.Tensor:
        """Add the chunk predicted now (B, chunk, A); return the action for now (B, A)."""
        self._chunks.append(chunk)
        self._chunks = self._chunks[-self.chunk_size :]
        n = len(self._chunks)
        # The chunk issued k steps ago predicts "now" at its index k; the oldest one gets weight exp(0).
        preds = torch.stack([c[:, n - 1 - i] for i, c in enumerate(self._chunks)])  # (n, B, A), oldest first
        # Shifted so the largest weight is exp(0) = 1: a strongly negative coeff (favouring new chunks) would
        # otherwise overflow exp to inf and turn the average into inf / inf = NaN. The shift cancels in the ratio.
        exponents = -self.coeff * torch.arange(n, dtype=torch.float32)
        weights = torch.exp(exponents - exponents.max()).to(preds.dtype)
        return (preds * weights[:, None, None]).sum(0) / weights.sum()
