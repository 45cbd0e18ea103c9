"""The shape every training stage's config shares: run name, output root, trainer, freezing, publishing, LoRA.

``python -m vst_vla.train stage=<name>`` composes one of these per stage (vla, align/sft/cot, rl); each adds its
own data, model and ``eval`` settings, so ``run_name=``, ``output_root=``, ``trainer.*``, ``freeze.*``,
``hub.*``, ``lora.*`` and ``eval.*`` mean the same on every stage's command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.hub.config import HubConfig
from vst_vla.training.config import TrainerConfig
from vst_vla.vlm.freeze import FreezeConfig
from vst_vla.vlm.lora import LoraConfig, check_lora_options


@dataclass(frozen=True)
class StageConfig:
    """What every stage has: its name, where its run lives (``<output_root>/<run_name>``, resumed when it exists),
    how it optimises, which backbone parts stay fixed, and whether it publishes or trains LoRA adapters."""

    stage: str = ""
    run_name: str = ""
    output_root: str = "outputs/train"
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    hub: HubConfig = field(default_factory=HubConfig)  # publish the final checkpoint (vst_vla.hub); off by default
    # Train LoRA adapters instead of the whole VLM (off by default). A training setting, not part of a model's
    # config: the merged model is the same model.
    lora: LoraConfig = field(default_factory=LoraConfig)

    def __post_init__(self) -> None:
        if not self.run_name or "/" in self.run_name:
            raise ValueError(f"run_name must be a non-empty name without '/', got {self.run_name!r}")
        check_lora_options(self.lora, self.hub.push, self.freeze)
