"""A tiny VLA policy built from made-up statistics (no dataset needed)."""

import pytest
import torch

from vst_vla.vla.configuration import HEADS, TokenHeadConfig, VLAConfig
from vst_vla.vla.modeling import VLAPolicy

CAMERA = "observation.images.agentview"
STATS = {
    "action": {"q01": [-1.0] * 7, "q99": [1.0] * 7},
    "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9},
}


def make_policy(chunk_size: int = 2, n_action_steps: int = 2, head: object | None = None, **overrides) -> VLAPolicy:
    """A tiny policy (random init) with the given head config (default: tokens)."""
    torch.manual_seed(0)
    overrides.setdefault("image_keys", (CAMERA,))
    cfg = VLAConfig(action_dim=7, state_dim=9, chunk_size=chunk_size, n_action_steps=n_action_steps,
                    head=head or TokenHeadConfig(), **overrides)
    return VLAPolicy.build(cfg, STATS, env_metadata={"env": {"type": "lift", "image_size": 64}})


def make_batch(batch_size: int, chunk_size: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        CAMERA: torch.rand(batch_size, 3, 64, 64, generator=g),
        "observation.state": torch.rand(batch_size, 9, generator=g),
        "task": ["lift the red cube"] * batch_size,
        "action": torch.rand(batch_size, chunk_size, 7, generator=g) * 2 - 1,
        "action_is_pad": torch.zeros(batch_size, chunk_size, dtype=torch.bool),
    }


@pytest.fixture
def tiny_policy() -> VLAPolicy:
    return make_policy()


def head_configs() -> list:
    """One default config per registered head type."""
    return [HEADS.get(name)() for name in HEADS.names()]
