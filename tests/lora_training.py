"""A few optimiser steps on one batch for the LoRA tests: the loss must fall and every frozen weight stay as it was."""

from __future__ import annotations

import torch
from torch import nn


def assert_trains_only_the_trainable(model: nn.Module, batch: dict, lr: float, steps: int = 8) -> None:
    """``steps`` AdamW steps on ``batch`` over the parameters that require grad; the loss (``model(batch)[0]``)
    ends below 0.8x its first value and no frozen parameter changes."""
    frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = model(batch)[0].item()
    for _ in range(steps):
        loss, _ = model(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.8 * first
    assert all(torch.equal(p, frozen[name]) for name, p in model.named_parameters() if name in frozen)
