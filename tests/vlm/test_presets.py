"""Architecture presets: the shipped Qwen2.5-VL-3B config has the published shapes, and cutting depth keeps widths."""

import pytest

from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.presets import load_preset, preset_hf_config, preset_names


def test_qwen2_5_vl_3b_preset_has_the_published_shapes() -> None:
    assert "qwen2_5_vl_3b" in preset_names()
    cfg = preset_hf_config("qwen2_5_vl_3b")
    text, vision = cfg.text_config, cfg.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (2048, 11008, 36)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (16, 2, 151936)
    assert text.max_position_embeddings == 128000 and cfg.tie_word_embeddings
    assert text.rope_parameters["rope_theta"] == 1e6 and text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert (vision.depth, vision.hidden_size, vision.intermediate_size, vision.num_heads) == (32, 1280, 3420, 16)
    assert vision.out_hidden_size == 2048 and vision.fullatt_block_indexes == [7, 15, 23, 31]
    assert (vision.window_size, vision.patch_size) == (112, 14)
    assert (vision.spatial_merge_size, vision.temporal_patch_size) == (2, 2)
    assert (cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (
        151655, 151656, 151652, 151653)
    assert (text.bos_token_id, text.eos_token_id) == (151643, 151645)
    assert "_comment" not in load_preset("qwen2_5_vl_3b")
    # Random weights are fp32 master weights, not the released files' bf16 storage type.
    assert cfg.dtype is None and text.dtype is None


def test_cutting_depth_keeps_widths_and_a_full_attention_block() -> None:
    cut = preset_hf_config("qwen2_5_vl_3b", num_layers=2, vision_depth=10)
    assert cut.text_config.num_hidden_layers == 2 and len(cut.text_config.layer_types) == 2
    assert cut.text_config.hidden_size == 2048 and cut.vision_config.hidden_size == 1280
    assert cut.vision_config.depth == 10 and cut.vision_config.fullatt_block_indexes == [7]
    assert preset_hf_config("qwen2_5_vl_3b", vision_depth=2).vision_config.fullatt_block_indexes == [1]
    with pytest.raises(ValueError, match=r"num_layers must be in \[1, 36\]"):
        preset_hf_config("qwen2_5_vl_3b", num_layers=37)
    with pytest.raises(ValueError, match="unknown backbone preset"):
        preset_hf_config("qwen9")


def test_backbone_config_checks_preset_fields() -> None:
    BackboneConfig(preset="qwen2_5_vl_3b", preset_num_layers=2, preset_vision_depth=2)
    with pytest.raises(ValueError, match="backbone.preset must be one of"):
        BackboneConfig(preset="qwen2_5_vl_7b")
    with pytest.raises(ValueError, match="exclude each other"):
        BackboneConfig(preset="qwen2_5_vl_3b", pretrained_path="/models/qwen")
    with pytest.raises(ValueError, match="need backbone.preset"):
        BackboneConfig(preset_num_layers=2)
    with pytest.raises(ValueError, match="preset_vision_depth must be >= 1"):
        BackboneConfig(preset="qwen2_5_vl_3b", preset_vision_depth=0)
