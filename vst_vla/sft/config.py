"""Configuration of the VLM stages (``stage=sft`` and ``stage=cot``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.config.stage import StageConfig
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, THINK_SYSTEM_PROMPT
from vst_vla.spatial.ablation import IMAGE_ABLATIONS, check_ablations
from vst_vla.training.config import TrainerConfig
from vst_vla.vlm.config import BackboneConfig

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
class SpatialEvalConfig:
    """Scoring the held-out spatial questions after training: greedy answers of at most ``max_new_tokens`` to the
    first ``max_samples`` questions, again under each image ablation in ``ablations`` (vst_vla.spatial.ablation;
    each adds a full pass, [] skips them)."""

    max_new_tokens: int = 48
    max_samples: int = 400
    ablations: tuple[str, ...] = IMAGE_ABLATIONS

    def __post_init__(self) -> None:
        check_ablations(self.ablations, "eval.ablations")
        if self.max_new_tokens < 1 or self.max_samples < 1:
            raise ValueError(f"eval.max_new_tokens and eval.max_samples must be >= 1, got {self.max_new_tokens} and "
                             f"{self.max_samples}")


@dataclass(frozen=True)
class SFTOptions:
    """Sequence packing, the token budget per row and the system prompt."""

    packing: bool = True
    max_tokens: int = 2048
    system_prompt: str | None = None  # None: the stage's default (plain, or the think prompt for cot)


@dataclass(frozen=True)
class VLMStageConfig(StageConfig):
    """``python -m vst_vla.train stage=align|sft|cot``: tune a Qwen2.5-VL on spatial QA (or, for ``align``, on the
    engine's dense scene captions), then evaluate per skill."""

    stage: str = "sft"
    run_name: str = "sft_spatial"
    model: BackboneConfig = field(default_factory=BackboneConfig)
    data: SpatialDataConfig = field(default_factory=SpatialDataConfig)
    sft: SFTOptions = field(default_factory=SFTOptions)
    eval: SpatialEvalConfig = field(default_factory=SpatialEvalConfig)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        steps=600, batch_size=2, vision_lr=2e-4, warmup_steps=30, save_every=300))

    def __post_init__(self) -> None:
        if self.stage not in VLM_STAGES:
            raise ValueError(f"stage must be one of {VLM_STAGES} for this config, got {self.stage!r}")
        super().__post_init__()

    @property
    def system_prompt(self) -> str:
        if self.sft.system_prompt:
            return self.sft.system_prompt
        return THINK_SYSTEM_PROMPT if self.stage == "cot" else DEFAULT_SYSTEM_PROMPT
