"""The VLA policy's configuration: backbone, action head, chunking and prompt.

One source of truth for time: ``chunk_size`` (actions predicted per inference) and ``n_action_steps`` (actions
executed before the next inference) live here; the dataset's action window and the rollout queue read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vst_vla.config.parse import ConfigError, dataclass_from_dict, dataclass_to_dict
from vst_vla.registry import Registry, UnknownTypeError
from vst_vla.vlm.backbone import BackboneConfig

HEADS: Registry[type] = Registry("action head")

VST_PROMPT = "What action should the robot take to {instruction}?"


@HEADS.register("tokens")
@dataclass(frozen=True)
class TokenHeadConfig:
    """VST / OpenVLA discrete actions: one token per action dimension per step, ``n_bins`` uniform bins."""

    type: str = "tokens"
    n_bins: int = 256

    def __post_init__(self) -> None:
        if self.n_bins < 2:
            raise ValueError(f"head.n_bins must be at least 2, got {self.n_bins}")

    def head_class(self) -> type:
        from vst_vla.vla.heads.tokens import TokenActionHead

        return TokenActionHead


@HEADS.register("l1_chunk")
@dataclass(frozen=True)
class L1ChunkHeadConfig:
    """OpenVLA-OFT-style head: learned action queries, one forward pass per chunk, L1 loss."""

    type: str = "l1_chunk"
    mlp_hidden_size: int = 256

    def __post_init__(self) -> None:
        if self.mlp_hidden_size < 1:
            raise ValueError(f"head.mlp_hidden_size must be >= 1, got {self.mlp_hidden_size}")

    def head_class(self) -> type:
        from vst_vla.vla.heads.l1_chunk import L1ChunkHead

        return L1ChunkHead


@HEADS.register("flow")
@dataclass(frozen=True)
class FlowHeadConfig:
    """pi0 / SmolVLA-style flow-matching action expert cross-attending to the VLM's hidden states."""

    type: str = "flow"
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_integration_steps: int = 10

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_integration_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"head.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads or self.hidden_size % 2:
            raise ValueError("head.hidden_size must be even and divisible by head.num_heads")

    def head_class(self) -> type:
        from vst_vla.vla.heads.flow import FlowMatchingHead

        return FlowMatchingHead


@dataclass(frozen=True)
class VLAConfig:
    """Everything needed to rebuild a VLA policy (saved as the checkpoint's config.json).

    ``use_state`` feeds the normalized proprioceptive state into the token stream through a learned projection
    (one ``<|state|>`` token). ``temporal_ensemble_coeff`` (ACT's ensembling; needs ``n_action_steps=1``)
    averages the overlapping predictions of consecutive chunks with weights exp(-coeff * age).

    ``image_keys``, ``action_dim`` and ``state_dim`` describe the data the policy was trained on; the trainer
    fills them from the dataset, and evaluation checks them against the environment before acting.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: TokenHeadConfig | L1ChunkHeadConfig | FlowHeadConfig = field(default_factory=TokenHeadConfig)
    chunk_size: int = 1
    n_action_steps: int = 1
    prompt_template: str = VST_PROMPT
    image_keys: tuple[str, ...] = ()
    action_dim: int = 0
    state_dim: int = 0
    use_state: bool = True
    temporal_ensemble_coeff: float | None = None
    type: str = "vst_vla"

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"policy.chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"policy.n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        if "{instruction}" not in self.prompt_template:
            raise ValueError(f"policy.prompt_template must contain '{{instruction}}', got {self.prompt_template!r}")
        if self.temporal_ensemble_coeff is not None and not math.isfinite(self.temporal_ensemble_coeff):
            raise ValueError(f"policy.temporal_ensemble_coeff must be a finite number or null, got "
                             f"{self.temporal_ensemble_coeff}")
        if self.temporal_ensemble_coeff is not None and self.n_action_steps != 1:
            raise ValueError("policy.temporal_ensemble_coeff needs policy.n_action_steps=1 (an inference every step)")
        if self.action_dim < 0 or self.state_dim < 0:
            raise ValueError("policy.action_dim and policy.state_dim must be non-negative")

    def to_dict(self) -> dict:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VLAConfig:
        data = dict(data)
        head = data.pop("head", None) or {}
        if not isinstance(head, dict):
            raise ConfigError(f"head must be a mapping with a type ({', '.join(HEADS.names())}), got {head!r}")
        try:
            head_cls = HEADS.get(head.get("type", "tokens"))
        except UnknownTypeError as err:
            raise ConfigError(f"head.type: {err}") from None
        cfg = dataclass_from_dict(cls, data)
        return _replace_head(cfg, dataclass_from_dict(head_cls, head, "head."))


def _replace_head(cfg: VLAConfig, head: object) -> VLAConfig:
    import dataclasses

    return dataclasses.replace(cfg, head=head)
