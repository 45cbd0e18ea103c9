"""Inference speed of the action heads on the same backbone: actions/s and latency per control step.

    python benchmarks/bench_heads.py [--backbones tiny small] [--chunk-size 8] [--repeats 20] [--out results.json]

Each head predicts a chunk for one observation (batch 1, one 128 px camera, state on) under
``torch.inference_mode`` at the hardware's precision (``--precision bf16|fp32`` to force). "actions/s" counts the
actions a chunk yields per second of inference; "ms/step" is the inference cost per executed control step when the whole
chunk is executed (tokens with chunk 1 is VST's one-step-per-inference setting). Ratios are against that row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import torch

from vst_vla.policy import modeling_vst_vla
from vst_vla.policy.configuration_vst_vla import (
    ActionHeadConfig,
    FlowHeadConfig,
    L1ChunkHeadConfig,
    TokenHeadConfig,
    VSTVLAConfig,
)
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.precision import PRECISIONS, apply_precision
from vst_vla.vlm.backbone import BackboneConfig, build_backbone

BACKBONES = {
    "tiny": BackboneConfig(),
    "small": BackboneConfig(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=4, intermediate_size=1536,
                            vision_depth=4, vision_hidden_size=256, vision_num_heads=4),
}
CAMERA = "observation.images.agentview"
STATS = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7}, "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}


def variants(chunk_size: int) -> list[tuple[str, ActionHeadConfig, int]]:
    return [("tokens (chunk 1)", TokenHeadConfig(), 1), (f"tokens (chunk {chunk_size})", TokenHeadConfig(), chunk_size),
            (f"l1_chunk (chunk {chunk_size})", L1ChunkHeadConfig(), chunk_size),
            (f"flow (chunk {chunk_size}, 10 steps)", FlowHeadConfig(), chunk_size)]


def time_policy(policy: ProcessedPolicy, repeats: int) -> float:
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


def variant_config(backbone: BackboneConfig, head: ActionHeadConfig, chunk_size: int,
                   device: str = "cpu") -> VSTVLAConfig:
    """A variant's policy config: ``head`` predicting ``chunk_size`` actions from one 128 px camera and the state.

    ``device`` is explicit: left unset, LeRobot's config picks CUDA wherever there is one."""
    cfg = VSTVLAConfig(backbone=backbone, head=head, chunk_size=chunk_size, n_action_steps=chunk_size, device=device)
    return cfg.with_features({CAMERA: (3, 128, 128)}, action_dim=7, state_dim=9)


def build_policy(cfg: VSTVLAConfig) -> ProcessedPolicy:
    """The default way a variant's policy is built: random init on the CPU, with its processors."""
    return ProcessedPolicy.build(cfg, STATS)


@contextmanager
def backbone_built_on(device: torch.device | str, dtype: torch.dtype | None = None) -> Iterator[None]:
    """Within it, a new ``VSTVLAPolicy`` creates its random-init backbone on ``device`` (then cast to ``dtype``).

    The policy builds its backbone on ``config.device``, but LeRobot's config accepts only devices it can run on
    (not ``meta``, where the 3B preset takes no memory) and builds in fp32 (15 GB for the 3B preset before a cast);
    the benchmarks swap in a call that builds on ``device`` and casts at once.
    """

    def on_device(cfg: BackboneConfig, **policy_device: object):  # the policy's own device choice is replaced
        backbone, processor = build_backbone(cfg, device)
        return (backbone.to(dtype) if dtype is not None else backbone), processor

    with mock.patch.object(modeling_vst_vla, "build_backbone", on_device):
        yield


def time_heads(backbone: BackboneConfig, backbone_name: str, chunk_size: int = 8, repeats: int = 20,
               precision: str = "auto", build: Callable[[VSTVLAConfig], ProcessedPolicy] = build_policy,
               progress: Callable[[str], None] | None = None) -> list[dict]:
    """One row per head variant (see :func:`variants`) on ``backbone``: latency per inference and per control step.

    ``build`` makes each variant's policy (e.g. on a GPU, in bf16); ``precision`` is then applied on its device.
    """
    torch.manual_seed(0)
    rows, baseline = [], None
    for label, head, chunk in variants(chunk_size):
        if progress is not None:
            progress(f"{backbone_name}: {label}")
        policy = build(variant_config(backbone, head, chunk)).eval()
        chosen = apply_precision(policy, precision, policy.device)
        seconds = time_policy(policy, repeats)
        ms_per_step = 1000 * seconds / chunk
        baseline = baseline or ms_per_step
        rows.append({"backbone": backbone_name, "head": label, "chunk_size": chunk, "precision": chosen.name,
                     "params_M": sum(p.numel() for p in policy.parameters()) / 1e6,
                     "ms_per_inference": 1000 * seconds, "ms_per_step": ms_per_step,
                     "actions_per_s": chunk / seconds, "speedup_vs_tokens_chunk1": baseline / ms_per_step})
        del policy
    return rows


def run(backbones: tuple[str, ...] = ("tiny", "small"), chunk_size: int = 8, repeats: int = 20,
        precision: str = "auto", progress: Callable[[str], None] | None = None) -> list[dict]:
    """Rows of :func:`time_heads` for each named backbone in :data:`BACKBONES`."""
    return [row for name in backbones
            for row in time_heads(BACKBONES[name], name, chunk_size, repeats, precision, progress=progress)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["tiny", "small"], choices=sorted(BACKBONES))
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 only on native-bf16 hardware (vst_vla.precision)")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = run(tuple(args.backbones), args.chunk_size, args.repeats, args.precision)
    print("| backbone | head | params (M) | ms / inference | ms / control step | actions / s "
          "| speed-up vs tokens chunk 1 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['backbone']} | {r['head']} | {r['params_M']:.2f} | {r['ms_per_inference']:.1f} "
              f"| {r['ms_per_step']:.1f} | {r['actions_per_s']:.1f} | {r['speedup_vs_tokens_chunk1']:.1f}x |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "torch_threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
