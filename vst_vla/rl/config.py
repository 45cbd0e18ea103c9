"""Configuration of the RL stage (``python -m vst_vla.train stage=rl``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.hub.config import HubConfig
from vst_vla.rl.learner import GRPOConfig
from vst_vla.sft.chat import THINK_SYSTEM_PROMPT
from vst_vla.sft.config import SpatialDataConfig
from vst_vla.sft.model import FreezeConfig
from vst_vla.spatial.ablation import IMAGE_ABLATIONS, check_ablations
from vst_vla.training.config import TrainerConfig
from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.lora import LoraConfig, check_lora_options

RULE_CHECKABLE_KINDS = ("choice", "number", "boxes")


@dataclass(frozen=True)
class RLStageConfig:
    """GRPO on rule-checkable spatial questions, starting from an SFT / CoT checkpoint (``model.pretrained_path``)."""

    stage: str = "rl"
    run_name: str = "rl_spatial"
    output_root: str = "outputs/train"
    model: BackboneConfig = field(default_factory=BackboneConfig)
    data: SpatialDataConfig = field(default_factory=SpatialDataConfig)
    rl: GRPOConfig = field(default_factory=GRPOConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    system_prompt: str = THINK_SYSTEM_PROMPT
    eval_max_new_tokens: int = 160
    eval_max_samples: int = 200
    # Score the final model again with these image ablations (vst_vla.spatial.ablation); [] skips them.
    eval_ablations: tuple[str, ...] = IMAGE_ABLATIONS
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    hub: HubConfig = field(default_factory=HubConfig)  # publish the final checkpoint (vst_vla.hub); off by default
    lora: LoraConfig = field(default_factory=LoraConfig)  # reinforce LoRA adapters instead of the whole VLM (off)

    def __post_init__(self) -> None:
        check_ablations(self.eval_ablations, "eval_ablations")
        if self.stage != "rl":
            raise ValueError(f"stage must be 'rl' for this config, got {self.stage!r}")
        check_lora_options(self.lora, self.hub.push, self.freeze)
