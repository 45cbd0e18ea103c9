"""Which parts of a Qwen2.5-VL backbone stay fixed while a stage trains (every stage has the same ``freeze:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config is read where torch need not be imported yet
    from torch import nn


@dataclass(frozen=True)
class FreezeConfig:
    """Which parts of the VLM stay fixed (VST tunes all three, the vision tower at a lower learning rate).

    ``merger`` is the vision tower's patch merger (the projector into the language model's width);
    ``vision_tower`` is the rest of the vision tower; ``language_model`` is everything else in the backbone
    (decoder layers, embeddings, output layer). Modules a stage adds beside the backbone (the VLA's action head
    and state projection) always train.
    """

    vision_tower: bool = False
    merger: bool = False
    language_model: bool = False

    @property
    def any(self) -> bool:
        return self.vision_tower or self.merger or self.language_model


def freeze_backbone_parts(backbone: nn.Module, freeze: FreezeConfig) -> None:
    """Set ``requires_grad=False`` on the parameters of ``backbone`` (a Qwen2.5-VL model) that ``freeze`` names."""
    for name, param in backbone.named_parameters():
        in_visual = ".visual." in f".{name}"
        is_merger = in_visual and ".merger." in f".{name}"
        if (is_merger and freeze.merger) or (in_visual and not is_merger and freeze.vision_tower) or (
            not in_visual and freeze.language_model
        ):
            param.requires_grad_(False)
