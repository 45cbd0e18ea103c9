"""Configuration of the RL stage (``python -m vst_vla.train stage=rl``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.config.stage import StageConfig
from vst_vla.rl.learner import GRPOConfig
from vst_vla.sft.chat import THINK_SYSTEM_PROMPT
from vst_vla.sft.config import SpatialDataConfig, SpatialEvalConfig
from vst_vla.training.config import TrainerConfig
from vst_vla.vlm.config import BackboneConfig

RULE_CHECKABLE_KINDS = ("choice", "number", "boxes")


@dataclass(frozen=True)
class RLStageConfig(StageConfig):
    """GRPO on rule-checkable spatial questions, starting from an SFT / CoT checkpoint (``model.pretrained_path``)."""

    stage: str = "rl"
    run_name: str = "rl_spatial"
    model: BackboneConfig = field(default_factory=BackboneConfig)
    data: SpatialDataConfig = field(default_factory=SpatialDataConfig)
    rl: GRPOConfig = field(default_factory=GRPOConfig)
    system_prompt: str = THINK_SYSTEM_PROMPT
    eval: SpatialEvalConfig = field(default_factory=lambda: SpatialEvalConfig(max_new_tokens=160, max_samples=200))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        steps=200, batch_size=4, lr=1e-5, vision_lr=1e-6, warmup_steps=10, save_every=100))

    def __post_init__(self) -> None:
        if self.stage != "rl":
            raise ValueError(f"stage must be 'rl' for this config, got {self.stage!r}")
        super().__post_init__()
