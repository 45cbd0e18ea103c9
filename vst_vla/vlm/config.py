"""Which VLM to build or load: the backbone's config, light to import.

Kept apart from :mod:`vst_vla.vlm.backbone` (which imports transformers' Qwen2.5-VL) because the policy's
LeRobot config nests it, and LeRobot imports every policy config whenever one of its commands discovers plugins.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class BackboneConfig:
    """Which VLM to use and, for the tiny random-init default, its sizes.

    ``image_max_tokens`` bounds the visual tokens per image (the processor resizes larger images down), which is
    the main compute knob on a CPU.

    ``rope_theta`` is the base of the language model's M-RoPE. Qwen2.5-VL splits each head's rotary frequencies
    into contiguous (time, height, width) sections, highest first, so image *width* gets the lowest frequencies:
    with Qwen's 1e6 base and the tiny 32-dim heads they turn by under 2e-4 rad per image column, and the language
    model cannot tell image tokens apart horizontally (Qwen3-VL interleaves the sections for this reason). A base
    near 20 turns them by 0.06-0.15 rad per column, a base of 2 by 0.5-0.65. The random-init default is 2: with
    it the tiny model learns which half of the image a square is in within ~100-300 steps, with 1e6 it stays at
    chance (``experiments/perception/``). Real checkpoints keep their own base (Qwen2.5-VL's 1e6) from their
    config; this field only shapes random-init models.

    ``preset`` (e.g. ``"qwen2_5_vl_3b"``) builds a shipped public architecture with random weights instead of the
    tiny one; its sizes and M-RoPE base then come from the preset (the tiny size fields, ``rope_theta`` and
    ``tokenizer_vocab_size`` are unused) and the tokenizer is the real-size offline one. ``preset_num_layers`` /
    ``preset_vision_depth`` keep only the first blocks (None: all), so a CPU can hold the real widths and
    vocabulary.
    """

    pretrained_path: str | None = None
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    vision_depth: int = 2
    vision_hidden_size: int = 64
    vision_num_heads: int = 4
    tokenizer_vocab_size: int = 2048
    image_min_tokens: int = 4
    image_max_tokens: int = 64
    rope_theta: float = 2.0
    preset: str | None = None
    preset_num_layers: int | None = None
    preset_vision_depth: int | None = None
    # The attention kernels: sdpa (PyTorch's fused attention, transformers' default), eager, or flash_attention_2
    # (needs the flash-attn package and a GPU).
    attn_implementation: str = "sdpa"
    # The weights' dtype. bfloat16 loads a checkpoint (or builds a random init) directly in bf16: half the memory of
    # the weights, and, since the optimizer's state follows its parameters, of AdamW's state too (a 3B model: 8
    # instead of 16 bytes a parameter before activations, docs/scale.md). Training then runs in pure bf16.
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size",
                     "vision_depth", "vision_hidden_size", "vision_num_heads", "image_min_tokens",
                     "image_max_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"backbone.{name} must be positive, got {getattr(self, name)}")
        if not self.rope_theta > 1.0:
            raise ValueError(f"backbone.rope_theta must be > 1 (the M-RoPE frequency base), got {self.rope_theta}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"backbone.hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )
        if (self.hidden_size // self.num_heads) % 4:
            raise ValueError("backbone.hidden_size / num_heads must be a multiple of 4 (Qwen's 3-axis M-RoPE)")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"backbone.num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads})"
            )
        if self.vision_hidden_size % self.vision_num_heads:
            raise ValueError("backbone.vision_hidden_size must be divisible by vision_num_heads")
        if self.image_min_tokens > self.image_max_tokens:
            raise ValueError("backbone.image_min_tokens must not exceed image_max_tokens")
        if self.preset is not None:
            if self.pretrained_path:
                raise ValueError("backbone.preset (random weights) and backbone.pretrained_path (a checkpoint) "
                                 "exclude each other; set one")
            from vst_vla.vlm.presets import preset_names  # imports transformers: only when a preset is named

            if self.preset not in preset_names():
                raise ValueError(f"backbone.preset must be one of {list(preset_names())}, got {self.preset!r}")
        elif self.preset_num_layers is not None or self.preset_vision_depth is not None:
            raise ValueError("backbone.preset_num_layers / preset_vision_depth need backbone.preset")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"backbone.attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got "
                             f"{self.attn_implementation!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"backbone.dtype must be one of {DTYPES}, got {self.dtype!r}")
        for name in ("preset_num_layers", "preset_vision_depth"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"backbone.{name} must be >= 1 or null, got {getattr(self, name)}")
