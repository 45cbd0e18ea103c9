"""Configuration of the VLM stages (``stage=sft`` and ``stage=cot``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.hub.config import HubConfig
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, THINK_SYSTEM_PROMPT
from vst_vla.sft.model import FreezeConfig
from vst_vla.spatial.ablation import IMAGE_ABLATIONS, check_ablations
from vst_vla.training.config import TrainerConfig
from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.lora import LoraConfig, check_lora_options

VLM_STAGES = ("align", "sft", "cot")


@dataclass(frozen=True)
class SpatialDataConfig:
    """Training / held-out spatial QA files (VST parquet or LLaVA JSON); generated from simulation when missing."""

    train_path: str = "outputs/spatial/train.parquet"
    eval_path: str = "outputs/spatial/eval.parquet"
    image_root: str | None = None
    generate_train_scenes: int = 40
    generate_eval_scenes: int = 10
    generate_seed: int = 0
    generate_eval_seed: int = 100_000
    image_size: int = 128
    cot: bool = False
    # Train and evaluate on these skills only (meta_info["skill"]), and generate only these when a file is
    # missing; None keeps every sample (and generates the default spatial QA mix).
    skills: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.skills is not None:
            if isinstance(self.skills, str) or not self.skills:
                raise ValueError(f"data.skills must be a non-empty list of skill names or null, got {self.skills!r}")
            object.__setattr__(self, "skills", tuple(str(s) for s in self.skills))
        if self.generate_eval_seed < self.generate_seed + self.generate_train_scenes:
            raise ValueError("data.generate_eval_seed must be past the training scenes' seeds (held-out scenes)")


@dataclass(frozen=True)
class SFTOptions:
    """Sequence packing, the token budget per row, the system prompt and what to freeze."""

    packing: bool = True
    max_tokens: int = 2048
    system_prompt: str | None = None
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    eval_max_new_tokens: int = 48
    eval_max_samples: int = 400
    # Score the final model again with these image ablations (vst_vla.spatial.ablation); each one adds a full
    # pass over the eval_max_samples questions. [] skips them.
    eval_ablations: tuple[str, ...] = IMAGE_ABLATIONS

    def __post_init__(self) -> None:
        check_ablations(self.eval_ablations, "sft.eval_ablations")


@dataclass(frozen=True)
class VLMStageConfig:
    """``python -m vst_vla.train stage=align|sft|cot``: tune a Qwen2.5-VL on spatial QA (or, for ``align``, on the
    engine's dense scene captions), then evaluate per skill."""

    stage: str = "sft"
    run_name: str = "sft_spatial"
    output_root: str = "outputs/train"
    model: BackboneConfig = field(default_factory=BackboneConfig)
    data: SpatialDataConfig = field(default_factory=SpatialDataConfig)
    sft: SFTOptions = field(default_factory=SFTOptions)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    hub: HubConfig = field(default_factory=HubConfig)  # publish the final checkpoint (vst_vla.hub); off by default
    lora: LoraConfig = field(default_factory=LoraConfig)  # train LoRA adapters instead of the whole VLM (off)

    def __post_init__(self) -> None:
        if self.stage not in VLM_STAGES:
            raise ValueError(f"stage must be one of {VLM_STAGES} for this config, got {self.stage!r}")
        check_lora_options(self.lora, self.hub.push, self.sft.freeze, "sft.")

    @property
    def system_prompt(self) -> str:
        if self.sft.system_prompt:
            return self.sft.system_prompt
        return THINK_SYSTEM_PROMPT if self.stage == "cot" else DEFAULT_SYSTEM_PROMPT
