"""Proprioception in the token stream: the normalized state becomes one embedding through a learned projection.

The prompt carries a ``<|state|>`` placeholder token; a forward hook on the backbone's input embedding replaces
that token's embedding by ``proj(state)`` for the batch being processed. Hooking the embedding (instead of
passing ``inputs_embeds``) keeps the backbone's own code paths — image-token scattering, M-RoPE positions,
``generate`` with a KV cache — exactly as they are for a plain prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from vst_vla.vlm.tokenizer import add_missing_tokens

STATE_TOKEN = "<|state|>"


class StateInjector(nn.Module):
    """Learned projection of the state into the embedding at ``<|state|>`` positions.

    Args:
        state_dim: size of the (normalized) state vector.
        hidden_size: the backbone's embedding width.
        tokenizer: the backbone tokenizer (the placeholder token is added to it).
    """

    def __init__(self, state_dim: int, hidden_size: int, tokenizer) -> None:
        super().__init__()
        add_missing_tokens(tokenizer, [STATE_TOKEN])
        self.token_id = int(tokenizer.convert_tokens_to_ids(STATE_TOKEN))
        self.proj = nn.Sequential(nn.Linear(state_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))
        self._pending: torch.Tensor | None = None
        self._handle: torch.utils.hooks.RemovableHandle | None = None

    def attach(self, embedding: nn.Module) -> None:
        """Install the hook on the backbone's input embedding module, moving it from where it was.

        Called again whenever the embedding module changes: LoRA's trainable tokens wrap the embedding in a module
        of their own that embeds without calling it, and merging the adapters unwraps it.
        """
        if self._handle is not None:
            self._handle.remove()
        self._handle = embedding.register_forward_hook(self._hook)

    @contextmanager
    def feeding(self, normalized_state: torch.Tensor | None) -> Iterator[None]:
        """Within the block, ``<|state|>`` tokens of row i embed ``normalized_state[i]`` (B, state_dim)."""
        self._pending = normalized_state
        try:
            yield
        finally:
            self._pending = None

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if self._pending is None or not args:
            return None
        mask = args[0] == self.token_id
        if not mask.any():
            return None  # later generation steps feed only new tokens
        rows = mask.nonzero()[:, 0]
        output = output.clone()
        output[mask] = self.proj(self._pending.to(output.device, self.proj[0].weight.dtype)[rows]).to(output.dtype)
        return output
