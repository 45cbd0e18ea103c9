"""Training memory of a Qwen2.5-VL model with and without LoRA, computed from its parameter counts.

    python benchmarks/lora_memory.py [--preset qwen2_5_vl_3b] [--r 16] [--json out.json]

The model is the shipped public architecture (``vst_vla/vlm/presets``) built on the meta device: every parameter
has its real shape and no memory, nothing is downloaded, and it takes seconds. The adapters are the library's own
(``vst_vla.vlm.lora``, through peft) with ``LoraConfig``'s default modules at rank ``--r``, so the trainable
counts are what a run trains. The VLA row is the tokens-head policy of ``bench_startup.py`` (chunk 4, 7-D actions,
9-D state): LoRA plus its declared extras (the state projection and the embedding rows of its 257 added tokens).

Bytes per parameter: weights 4 (fp32) or 2 (bf16); a gradient and AdamW's two moments for each *trainable* parameter
only, gradients in the weights' precision and the moments in fp32 (8 bytes) unless the row says bf16 moments.
Adapters and extras are always fp32 (a few MB). Not counted: activations (they depend on batch and sequence length;
LoRA does not shrink them, gradient checkpointing does), the CUDA context and allocator slack. GiB = 2**30 bytes.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, replace

import torch

from benchmarks.bench_heads import backbone_built_on
from vst_vla.policy.configuration_vst_vla import TokenHeadConfig, VSTVLAConfig
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.lora import LoraAdapters, LoraConfig
from vst_vla.vlm.presets import preset_hf_config

logger = logging.getLogger(__name__)

GIB = 2**30
STATS = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7}, "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}


@dataclass(frozen=True)
class Counts:
    """Parameters of one setup: all of them (tied ones once) and those that train."""

    total: int
    trainable: int


def _counts(module: torch.nn.Module) -> Counts:
    # named_parameters() yields a tied parameter once; peft's trainable-token deltas are parameters of their own.
    params = [p for _, p in module.named_parameters()]
    return Counts(sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))


def count_setups(preset: str, r: int) -> dict[str, Counts]:
    """Parameter counts of the VLM in full, with LoRA on the language model, with LoRA on it and the vision tower,
    and of the tokens-head VLA with LoRA; all on the meta device."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    lora = replace(LoraConfig(), enabled=True, r=r)
    out: dict[str, Counts] = {}
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(preset_hf_config(preset))
    out["full"] = _counts(model)
    out["vision"] = Counts(sum(p.numel() for p in model.model.visual.parameters()), 0)
    for name, cfg in (("lora", lora), ("lora_vision", replace(lora, vision_tower=True))):
        with torch.device("meta"):
            model = Qwen2_5_VLForConditionalGeneration(preset_hf_config(preset))
        LoraAdapters.build(model, cfg)
        out[name] = _counts(model)
    # The VLA: the library's own policy class around a meta backbone (the real-size tokenizer takes a few s).
    config = VSTVLAConfig(backbone=BackboneConfig(preset=preset), head=TokenHeadConfig(), chunk_size=4,
                          n_action_steps=4, device="cpu")
    config = config.with_features({"observation.images.agentview": (3, 128, 128)}, action_dim=7, state_dim=9)
    with backbone_built_on("meta"):
        policy = ProcessedPolicy.build(config, STATS, lora=lora)
    out["vla_lora"] = _counts(policy)
    return out


def memory_rows(counts: dict[str, Counts], r: int) -> list[dict]:
    """One row per setup: weights / gradients / AdamW states / total in GiB (see the module docstring)."""

    def row(setup: str, c: Counts, frozen_bytes: int, trainable_bytes: int, moment_bytes: int = 8) -> dict:
        # A gradient in the trainable weights' precision; AdamW's two moments at moment_bytes for both.
        weights = (c.total - c.trainable) * frozen_bytes + c.trainable * trainable_bytes
        grads = c.trainable * trainable_bytes
        adam = c.trainable * moment_bytes
        return {"setup": setup, "parameters": c.total, "trainable": c.trainable,
                "weights_gib": weights / GIB, "grads_gib": grads / GIB, "adamw_gib": adam / GIB,
                "total_gib": (weights + grads + adam) / GIB}

    full = Counts(counts["full"].total, counts["full"].total)  # everything trains
    return [
        row("full fine-tune, fp32 weights + grads + AdamW (today's trainer)", full, 4, 4),
        row("full fine-tune, bf16 weights + grads, fp32 AdamW", full, 2, 2),
        row("full fine-tune, bf16 weights + grads + AdamW", full, 2, 2, moment_bytes=4),
        # Adapters and VLA extras stay fp32 (a few MB); the frozen base is what changes.
        row(f"LoRA r={r} (language model), fp32 frozen base", counts["lora"], 4, 4),
        row(f"LoRA r={r} (language model), bf16 frozen base", counts["lora"], 2, 4),
        row(f"LoRA r={r} (language model + vision tower), bf16 frozen base", counts["lora_vision"], 2, 4),
        row(f"VLA (tokens head) LoRA r={r} + extras, bf16 frozen base", counts["vla_lora"], 2, 4),
    ]


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| setup | parameters | trainable | weights GiB | grads GiB | AdamW GiB | total GiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['setup']} | {r['parameters'] / 1e9:.3f} B | {r['trainable'] / 1e6:,.1f} M | "
                     f"{r['weights_gib']:.1f} | {r['grads_gib']:.2f} | {r['adamw_gib']:.2f} | {r['total_gib']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="qwen2_5_vl_3b", help="a shipped architecture (vst_vla/vlm/presets)")
    parser.add_argument("--r", type=int, default=LoraConfig.r, help="LoRA rank (default: lora.r's default)")
    parser.add_argument("--json", default=None, help="also write the rows and counts here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    counts = count_setups(args.preset, args.r)
    rows = memory_rows(counts, args.r)
    full, vision = counts["full"].total, counts["vision"].total
    print(f"{args.preset}: {full / 1e9:.3f} B parameters ({vision / 1e6:.0f} M in the vision tower, "
          f"{(full - vision) / 1e9:.3f} B in the language model with its tied embedding)\n")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"preset": args.preset, "r": args.r, "counts": {k: vars(v) for k, v in counts.items()},
                       "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
