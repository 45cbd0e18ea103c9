"""The tiny backbone's M-RoPE base: configurable, carried into the saved HF config, and checked."""

import math

import pytest

from vst_vla.vlm.backbone import BackboneConfig, build_backbone


def _width_section_turn(theta: float, head_dim: int, mrope_section: list[int]) -> float:
    """Largest per-position rotation (rad) among the frequencies M-RoPE gives the image's width axis."""
    half = head_dim // 2
    first_width = mrope_section[0] + mrope_section[1]
    return max(theta ** (-i / half) for i in range(first_width, half))


def test_rope_theta_reaches_the_model_config() -> None:
    model, _ = build_backbone(BackboneConfig(rope_theta=20.0))
    text = model.config.text_config
    assert text.rope_parameters["rope_theta"] == 20.0
    head_dim = text.hidden_size // text.num_attention_heads
    section = text.rope_parameters["mrope_section"]
    # Why the spatial runs lower it: with Qwen's base the width frequencies barely turn per image column.
    assert _width_section_turn(1e6, head_dim, section) < 2e-4
    assert math.isclose(_width_section_turn(20.0, head_dim, section), 20.0 ** (-10 / 16))
    default, _ = build_backbone(BackboneConfig())
    assert default.config.text_config.rope_parameters["rope_theta"] == 2.0  # random-init default: columns turn
    assert _width_section_turn(2.0, head_dim, section) > 0.5


def test_rope_theta_must_be_a_real_base() -> None:
    with pytest.raises(ValueError, match="rope_theta"):
        BackboneConfig(rope_theta=1.0)
