"""Public Qwen2.5-VL architectures shipped as JSON, to build a real-size model with random weights offline.

A preset is a model's published ``config.json`` (see README.md here for where each came from). It gives the real
shapes without the weights: start-up and throughput can be measured at the real size (``benchmarks/``), and a
machine with a GPU can train the real architecture from scratch, with nothing downloaded.
"""

from __future__ import annotations

import json
from importlib import resources

from transformers import Qwen2_5_VLConfig


def preset_names() -> tuple[str, ...]:
    """Names of the shipped presets (file names without ``.json``)."""
    files = resources.files(__package__).iterdir()
    return tuple(sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json")))


def load_preset(name: str) -> dict:
    """The preset's published config as a dict (comment keys, those starting with ``_``, removed)."""
    if name not in preset_names():
        raise ValueError(f"unknown backbone preset {name!r}; shipped presets: {list(preset_names())}")
    raw = json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def preset_hf_config(name: str, num_layers: int | None = None, vision_depth: int | None = None) -> Qwen2_5_VLConfig:
    """The preset's ``Qwen2_5_VLConfig``, optionally cut to its first ``num_layers`` / ``vision_depth`` blocks.

    Cutting keeps every width (so embeddings, heads and per-layer costs stay real) and only drops depth, which
    is what lets a CPU build and run the 3B model's shapes. The vision tower keeps the full-attention blocks
    that survive the cut; if none does, its last block becomes one, so images are still seen globally.
    """
    data = load_preset(name)
    # The published dtype is the released weights' storage type; transformers would build the language model in
    # it. Random weights here are fp32 master weights like every other backbone (compute precision is autocast's,
    # see vst_vla.precision; a caller wanting bf16 weights casts the model).
    for key in ("torch_dtype", "dtype"):
        data.pop(key, None)
    if num_layers is not None:
        if not 1 <= num_layers <= data["num_hidden_layers"]:
            raise ValueError(f"num_layers must be in [1, {data['num_hidden_layers']}] for {name}, got {num_layers}")
        data["num_hidden_layers"] = num_layers
    if vision_depth is not None:
        vision = dict(data["vision_config"])
        if not 1 <= vision_depth <= vision["depth"]:
            raise ValueError(f"vision_depth must be in [1, {vision['depth']}] for {name}, got {vision_depth}")
        vision["depth"] = vision_depth
        vision["fullatt_block_indexes"] = [i for i in vision["fullatt_block_indexes"] if i < vision_depth] or [
            vision_depth - 1
        ]
        data["vision_config"] = vision
    return Qwen2_5_VLConfig.from_dict(data)
