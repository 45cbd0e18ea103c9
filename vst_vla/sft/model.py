"""The VLM being tuned: loss on packed batches, freezing options, plain Hugging Face checkpoints.

``save_pretrained`` writes a directory that stock ``transformers`` loads (``Qwen2_5_VLForConditionalGeneration``
and ``AutoProcessor``), which is what the next stage (CoT, RL, or the VLA's ``model.pretrained_path``) takes.
With LoRA adapters (:mod:`vst_vla.vlm.lora`) it writes the frozen base as such a directory in ``base/`` and the
adapters in peft's format in ``adapter/``; ``vst-vla merge-lora`` turns that into a plain directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vst_vla.io import atomic_directory
from vst_vla.precision import AutocastModule
from vst_vla.vlm.backbone import (
    FSDP_WRAP_UNITS,
    BackboneConfig,
    build_backbone,
    enable_gradient_checkpointing,
    vision_parameter_names,
)
from vst_vla.vlm.freeze import FreezeConfig, freeze_backbone_parts
from vst_vla.vlm.lora import ADAPTER_DIR, LoraAdapters, LoraConfig, base_state_dict, is_lora_checkpoint

logger = logging.getLogger(__name__)

BASE_DIR = "base"  # a LoRA checkpoint's frozen base: a plain Hugging Face directory (weights, config, processor)


class SpatialVLM(AutocastModule):
    """A Qwen2.5-VL model plus its processor, trained on (packed) SFT batches.

    Args:
        backbone: ``Qwen2_5_VLForConditionalGeneration``.
        processor: its ``Qwen2_5_VLProcessor``.
        freeze: parts to freeze.
        lora: with ``enabled``, fresh LoRA adapters: then only they train (``freeze`` must stay all false).
    """

    _no_split_modules = list(FSDP_WRAP_UNITS)  # FSDP's wrap units (vst_vla.vlm.backbone)

    def __init__(self, backbone: nn.Module, processor, freeze: FreezeConfig | None = None,
                 lora: LoraConfig | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.processor = processor
        freeze_backbone_parts(self.backbone, freeze or FreezeConfig())
        # Not an nn.Module attribute: the adapters live inside self.backbone; this is peft's handle on them.
        self.lora: LoraAdapters | None = LoraAdapters.build(backbone, lora) if lora and lora.enabled else None

    @classmethod
    def build(cls, cfg: BackboneConfig, freeze: FreezeConfig | None = None,
              lora: LoraConfig | None = None) -> SpatialVLM:
        backbone, processor = build_backbone(cfg)
        return cls(backbone, processor, freeze, lora)

    @classmethod
    def from_pretrained(cls, directory: str | Path, freeze: FreezeConfig | None = None,
                        model: BackboneConfig | None = None) -> SpatialVLM:
        """A plain Hugging Face directory, or a LoRA checkpoint (its base, with its adapters trainable).

        ``model`` gives how to load it (its attention kernels and dtype); its other fields are the checkpoint's."""
        directory = Path(directory)
        lora_dir = is_lora_checkpoint(directory)
        source = directory / BASE_DIR if lora_dir else directory
        model = model or BackboneConfig()
        backbone, processor = build_backbone(BackboneConfig(pretrained_path=str(source), image_max_tokens=10_000,
                                                            attn_implementation=model.attn_implementation,
                                                            dtype=model.dtype))
        vlm = cls(backbone, processor, freeze)
        if lora_dir:
            vlm.lora = LoraAdapters.load(backbone, directory / ADAPTER_DIR)
        return vlm

    def merge_lora(self) -> SpatialVLM:
        """Fold the adapters into the backbone's weights (in place; nothing to do without adapters); returns self."""
        if self.lora is not None:
            self.backbone = self.lora.merge()
            self.lora = None
        return self

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the backbone's activations in the backward pass (``trainer.gradient_checkpointing``)."""
        enable_gradient_checkpointing(self.backbone)

    def vision_parameter_names(self) -> set[str]:
        return {f"backbone.{name}" for name in vision_parameter_names(self.backbone)}

    def position_ids(self, batch: dict) -> torch.Tensor:
        """(4, B, L): text positions then 3D M-RoPE positions, each example starting again at 0."""
        ids, mm, grids = batch["input_ids"], batch["mm_token_type_ids"], batch["image_grid_thw"]
        out = torch.zeros(4, *ids.shape, dtype=torch.long, device=ids.device)
        image_index = 0
        for row, segments in enumerate(batch["segments"]):
            for start, length, n_images in segments:
                sl = slice(start, start + length)
                out[0, row, sl] = torch.arange(length, device=ids.device)
                if n_images:
                    grid = grids[image_index : image_index + n_images]
                    pos, _ = self.backbone.model.get_rope_index(
                        ids[row : row + 1, sl], mm_token_type_ids=mm[row : row + 1, sl], image_grid_thw=grid,
                        attention_mask=torch.ones_like(ids[row : row + 1, sl]),
                    )
                    out[1:, row, sl] = pos[:, 0]
                    image_index += n_images
                else:
                    out[1:, row, sl] = torch.arange(length, device=ids.device)
        return out

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean next-token loss over the assistant tokens of a packed batch (see ``sft.packing``)."""
        batch = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        positions = self.position_ids(batch)
        # The processor's image pixels are float32; under bf16 autocast the vision tower casts as needed.
        with self.autocast():
            out = self.backbone(input_ids=batch["input_ids"], labels=batch["labels"], position_ids=positions,
                                attention_mask=None, pixel_values=batch["pixel_values"],
                                image_grid_thw=batch["image_grid_thw"], mm_token_type_ids=batch["mm_token_type_ids"],
                                use_cache=False)  # with a cache, transformers skips its packed-sequence mask
        n_tokens = int((batch["labels"] != -100).sum())
        return out.loss, {"loss": float(out.loss.detach()), "target_tokens": n_tokens}

    @staticmethod
    def loss_terms(batch: dict) -> int:
        """The number of tokens :meth:`forward`'s mean loss is over: targets after the causal shift, as
        transformers' loss counts them (the trainer weights micro-batches and processes by it)."""
        return int((batch["labels"][..., 1:] != -100).sum())

    def save_pretrained(self, directory: str | Path) -> Path:
        """A plain Hugging Face model directory (weights, config, processor), written atomically; with adapters,
        that directory of the frozen base in ``base/`` and the adapters (peft's format) in ``adapter/``."""
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            if self.lora is None:
                self.backbone.save_pretrained(tmp, safe_serialization=True)
                self.processor.save_pretrained(tmp)
            else:
                self.backbone.save_pretrained(tmp / BASE_DIR, state_dict=base_state_dict(self.backbone),
                                              safe_serialization=True)
                self.processor.save_pretrained(tmp / BASE_DIR)
                self.lora.save(tmp / ADAPTER_DIR, base=f"../{BASE_DIR}")
        return directory
