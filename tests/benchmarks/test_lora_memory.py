"""The LoRA memory table's arithmetic, by hand, and the adapters' size on the real 3B widths (meta device)."""

import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from benchmarks.lora_memory import GIB, Counts, memory_rows
from vst_vla.vlm.lora import LoraAdapters, LoraConfig
from vst_vla.vlm.presets import preset_hf_config


def test_bytes_per_parameter_hand_computed():
    counts = {"full": Counts(GIB, 0), "lora": Counts(GIB, 2**20), "lora_vision": Counts(GIB, 2**21),
              "vla_lora": Counts(GIB, 2**22)}
    rows = {r["setup"]: r for r in memory_rows(counts, 16)}
    full = [r for name, r in rows.items() if name.startswith("full")]
    assert [r["total_gib"] for r in full] == [16.0, 12.0, 8.0]  # 4+4+8, 2+2+8, 2+2+4 bytes per parameter
    lora = rows["LoRA r=16 (language model), bf16 frozen base"]
    # GiB parameters of which 1 Mi are adapters: the frozen rest at 2 bytes; the adapters at 4 (weights),
    # 4 (grads) and 8 (AdamW) bytes.
    assert lora["weights_gib"] == pytest.approx(2 * (GIB - 2**20) / GIB + 4 * 2**20 / GIB)
    assert (lora["grads_gib"], lora["adamw_gib"]) == pytest.approx((4 * 2**20 / GIB, 8 * 2**20 / GIB))
    assert rows["LoRA r=16 (language model), fp32 frozen base"]["weights_gib"] == pytest.approx(4.0)


def test_rank_16_adapters_on_one_3b_decoder_layer():
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(preset_hf_config("qwen2_5_vl_3b", num_layers=1, vision_depth=1))
    adapters = LoraAdapters.build(model, LoraConfig(enabled=True, r=16))
    trainable, _ = adapters.peft_model.get_nb_trainable_parameters()
    # r * (in + out): q, o 2048->2048; k, v 2048->256; gate, up 2048->11008; down 11008->2048.
    assert trainable == 16 * (2 * 4096 + 2 * 2304 + 3 * 13056) == 831_488
