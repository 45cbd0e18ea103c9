"""Training FLOPs of a Qwen2.5-VL step, counted from the model's shapes (the usual 6·N·tokens rule plus attention).

For one forward + backward pass (backward = 2x forward), with N the parameters a token passes through in matmuls:

    FLOPs = 6 · N_body · T_text            language model body (attention and MLP projections), per LM token
          + 6 · d · V · T_scored           output projection (lm_head), only at the positions whose logits are used
          + 12 · L · d · Σ_seq T_seq²      causal attention scores and values (PaLM, appendix B; not halved)
          + 6 · N_vision · P               vision tower (patch embedding and blocks) per image patch
          + 6 · N_merger · P / 4           the patch merger, once per 2x2 group of patches
          + 12 · L_v · d_v · Σ_img P_img · C_img   vision attention, C = the patches each one attends to:
                                            the whole image in full-attention blocks, one window otherwise

Embedding lookups, norms, activations and softmax are not counted (they are memory-bound and small), so an
achieved FLOP/s computed from this is a lower bound. Model FLOPs utilisation (MFU) divides it by a matmul peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class VLMShapes:
    """The numbers the FLOP count needs, read from a ``Qwen2_5_VLForConditionalGeneration``."""

    body_params: int  # language-model parameters outside the token embedding / lm_head
    hidden_size: int
    vocab_size: int
    layers: int
    attn_width: int  # query heads x head dim
    vision_params: int  # patch embedding and blocks
    merger_params: int
    merge_factor: int  # patches per merged token (2x2)
    vision_layers: int
    vision_width: int
    vision_full_blocks: int
    window_patches: int  # patches in one attention window of the vision tower

    @classmethod
    def of(cls, backbone: nn.Module) -> VLMShapes:
        text, vision = backbone.config.text_config, backbone.config.vision_config
        lm = backbone.model.language_model
        embed = lm.get_input_embeddings().weight.numel()
        body = sum(p.numel() for p in lm.parameters()) - embed
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        window = (vision.window_size // vision.patch_size) ** 2  # 112 px / 14 px = 8x8 patches
        visual = backbone.model.visual
        merger = sum(p.numel() for p in visual.merger.parameters())
        return cls(
            body_params=body,
            hidden_size=text.hidden_size,
            vocab_size=lm.get_input_embeddings().weight.shape[0],
            layers=text.num_hidden_layers,
            attn_width=text.num_attention_heads * head_dim,
            vision_params=sum(p.numel() for p in visual.parameters()) - merger,
            merger_params=merger,
            merge_factor=vision.spatial_merge_size ** 2,
            vision_layers=vision.depth,
            vision_width=vision.hidden_size,
            vision_full_blocks=len(vision.fullatt_block_indexes),
            window_patches=window,
        )


def train_flops(shapes: VLMShapes, seq_lengths: Sequence[int], scored_positions: int,
                image_patches: Sequence[int] = ()) -> float:
    """FLOPs of one forward + backward pass (see the module docstring).

    Args:
        seq_lengths: tokens of every attention-separated sequence (a padded row counts its padded length, since
            the compute is spent; a packed row contributes each example separately).
        scored_positions: positions whose full-vocabulary logits are computed.
        image_patches: patches of every image (before the 2x2 merge).
    """
    tokens = sum(seq_lengths)
    flops = 6 * shapes.body_params * tokens + 6 * shapes.hidden_size * shapes.vocab_size * scored_positions
    flops += 12 * shapes.layers * shapes.attn_width * sum(t * t for t in seq_lengths)
    patches = sum(image_patches)
    flops += 6 * shapes.vision_params * patches + 6 * shapes.merger_params * patches / shapes.merge_factor
    windowed = shapes.vision_layers - shapes.vision_full_blocks
    for p in image_patches:
        attended = shapes.vision_full_blocks * p + windowed * min(p, shapes.window_patches)
        flops += 12 * shapes.vision_width * p * attended
    return float(flops)
