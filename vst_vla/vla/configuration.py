"""The VLA policy's configuration: backbone, action head, chunking and prompt.

One source of truth for time: ``chunk_size`` (actions predicted per inference) and ``n_action_steps`` (actions
executed before the next inference) live here; the dataset's action window and the rollout queue read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.config.parse import dataclass_from_dict, dataclass_to_dict
from vst_vla.registry import Registry
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


@dataclass(frozen=True)
class VLAConfig:
    """Everything needed to rebuild a VLA policy (saved as the checkpoint's config.json).

    ``image_keys``, ``action_dim`` and ``state_dim`` describe the data the policy was trained on; the trainer
    fills them from the dataset, and evaluation checks them against the environment before acting.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: TokenHeadConfig = field(default_factory=TokenHeadConfig)
    chunk_size: int = 1
    n_action_steps: int = 1
    prompt_template: str = VST_PROMPT
    image_keys: tuple[str, ...] = ()
    action_dim: int = 0
    state_dim: int = 0
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
        if self.action_dim < 0 or self.state_dim < 0:
            raise ValueError("policy.action_dim and policy.state_dim must be non-negative")

    def to_dict(self) -> dict:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VLAConfig:
        data = dict(data)
        head = data.pop("head", None) or {}
        head_cls = HEADS.get(head.get("type", "tokens"))
        cfg = dataclass_from_dict(cls, data)
        return _replace_head(cfg, dataclass_from_dict(head_cls, head, "head."))


def _replace_head(cfg: VLAConfig, head: object) -> VLAConfig:
    import dataclasses

    return dataclasses.replace(cfg, head=head)
