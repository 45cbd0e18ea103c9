"""Inference speed of the action heads on the same backbone: actions/s and latency per control step.

    python benchmarks/bench_heads.py [--backbones tiny small] [--chunk-size 8] [--repeats 20] [--out results.json]

Each head predicts a chunk for one observation (batch 1, one 128 px camera, state on) under
``torch.inference_mode`` with bf16 autocast (``--precision fp32`` to compare). "actions/s" counts the actions a
chunk yields per second of inference; "ms/step" is the inference cost per executed control step when the whole
chunk is executed (tokens with chunk 1 is VST's one-step-per-inference setting). Ratios are against that row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from vst_vla.vla.configuration import (
    FlowHeadConfig,
    L1ChunkHeadConfig,
    TokenHeadConfig,
    VLAConfig,
)
from vst_vla.vla.modeling import VLAPolicy
from vst_vla.vlm.backbone import BackboneConfig

BACKBONES = {
    "tiny": BackboneConfig(),
    "small": BackboneConfig(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=4, intermediate_size=1536,
                            vision_depth=4, vision_hidden_size=256, vision_num_heads=4),
}
CAMERA = "observation.images.agentview"
STATS = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7}, "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}


def variants(chunk_size: int) -> list[tuple[str, object, int]]:
    return [("tokens (chunk 1)", TokenHeadConfig(), 1), (f"tokens (chunk {chunk_size})", TokenHeadConfig(), chunk_size),
            (f"l1_chunk (chunk {chunk_size})", L1ChunkHeadConfig(), chunk_size),
            (f"flow (chunk {chunk_size}, 10 steps)", FlowHeadConfig(), chunk_size)]


def time_policy(policy: VLAPolicy, repeats: int) -> float:
    """Median seconds per predict_action_chunk call (after two warm-up calls)."""
    batch = {CAMERA: torch.rand(1, 3, 128, 128), "observation.state": torch.rand(1, 9), "task": ["lift the red cube"]}
    for _ in range(2):
        policy.predict_action_chunk(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.predict_action_chunk(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["tiny", "small"], choices=sorted(BACKBONES))
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for backbone_name in args.backbones:
        baseline = None
        for label, head, chunk in variants(args.chunk_size):
            cfg = VLAConfig(backbone=BACKBONES[backbone_name], head=head, chunk_size=chunk, n_action_steps=chunk,
                            image_keys=(CAMERA,), action_dim=7, state_dim=9)
            policy = VLAPolicy.build(cfg, STATS).eval()
            policy.autocast_dtype = torch.bfloat16 if args.precision == "bf16" else None
            seconds = time_policy(policy, args.repeats)
            ms_per_step = 1000 * seconds / chunk
            baseline = baseline or ms_per_step
            rows.append({"backbone": backbone_name, "head": label, "params_M": sum(p.numel() for p in policy.parameters()) / 1e6,
                         "ms_per_inference": 1000 * seconds, "ms_per_step": ms_per_step,
                         "actions_per_s": chunk / seconds, "speedup_vs_tokens_chunk1": baseline / ms_per_step})
    print("| backbone | head | params (M) | ms / inference | ms / control step | actions / s | speed-up vs tokens chunk 1 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['backbone']} | {r['head']} | {r['params_M']:.2f} | {r['ms_per_inference']:.1f} | {r['ms_per_step']:.1f} "
              f"| {r['actions_per_s']:.1f} | {r['speedup_vs_tokens_chunk1']:.1f}x |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "torch_threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
