"""Training throughput of the default VLA: samples/s and achieved FLOP/s of full optimizer steps.

    python benchmarks/bench_train.py [--steps 10] [--batch-size 8] [--precision auto|bf16|fp32]

The policy is the default job's (``configs/train.yaml``: tiny random-init Qwen2.5-VL, tokens head, chunk 4,
one 128 px camera, Lift's 7-D actions and 9-D state, batch 8). Each step is what the trainer does per batch:
encode (prompt, image patches), forward, backward, gradient clipping and an AdamW update. Batches are made up
(random images, states and actions of the right shapes) so the data loader is not timed. Achieved FLOP/s
counts the step's model FLOPs (``benchmarks/flops.py``) over its time.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.flops import VLMShapes, train_flops
from vst_vla.policy.configuration_vst_vla import TokenHeadConfig, VSTVLAConfig
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.precision import PRECISIONS, apply_precision
from vst_vla.vlm.backbone import BackboneConfig

CAMERA = "observation.images.agentview"
STATS = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7}, "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}


def default_config(backbone: BackboneConfig | None = None, image_size: int = 128,
                   device: str = "cpu") -> VSTVLAConfig:
    """The default job's policy config (tokens head, chunk 4, one camera, 7-D actions, 9-D state).

    ``device`` is explicit: left unset, LeRobot's config picks CUDA wherever there is one, and the pre-processor
    would then move CPU benchmarks' batches there."""
    cfg = VSTVLAConfig(backbone=backbone or BackboneConfig(), head=TokenHeadConfig(), chunk_size=4, n_action_steps=4,
                       device=device)
    return cfg.with_features({CAMERA: (3, image_size, image_size)}, action_dim=7, state_dim=9)


def default_policy(backbone: BackboneConfig | None = None, image_size: int = 128) -> ProcessedPolicy:
    """The default job's policy shape (tokens head, chunk 4) with random weights, on the CPU, with its processors."""
    return ProcessedPolicy.build(default_config(backbone, image_size), STATS)


def make_batch(batch_size: int, chunk_size: int, image_size: int = 128, seed: int = 0) -> dict:
    """A made-up training batch with the default dataset's keys and shapes."""
    g = torch.Generator().manual_seed(seed)
    return {CAMERA: torch.rand(batch_size, 3, image_size, image_size, generator=g),
            "observation.state": torch.rand(batch_size, 9, generator=g) * 2 - 1,
            "task": ["lift the red cube"] * batch_size,
            "action": torch.rand(batch_size, chunk_size, 7, generator=g) * 2 - 1,
            "action_is_pad": torch.zeros(batch_size, chunk_size, dtype=torch.bool)}


def step_flops(policy: ProcessedPolicy, batch: dict) -> float:
    """Model FLOPs of one forward + backward pass of ``policy`` on ``batch`` (see ``benchmarks/flops.py``)."""
    # The sequence the model sees: the pre-processed batch (prompt, normalized actions) with its target suffixes.
    processed = policy.preprocessor(batch)
    inner = policy.policy
    inputs = inner.encoder.encode(processed, inner.head.train_suffixes(processed["action"].float()))
    rows, length = inputs["input_ids"].shape
    patches = inputs["image_grid_thw"].prod(-1).tolist()
    scored = rows * policy.config.chunk_size * policy.config.action_dim  # logits only at the action tokens
    return train_flops(VLMShapes.of(inner.backbone), [length] * rows, scored, patches)


def time_training(policy: ProcessedPolicy, batch: dict, steps: int) -> float:
    """Seconds per optimizer step (mean of ``steps`` after one warm-up step)."""
    policy.train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01)
    device = policy.device
    start = 0.0
    for i in range(steps + 1):
        if i == 1:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        loss, _ = policy(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def run(steps: int = 10, batch_size: int = 8, precision: str = "auto", matmul_peak_gflops: float | None = None,
        device: str = "cpu") -> list[dict]:
    """One row: samples/s, ms/step, model FLOPs per step, achieved GFLOP/s and, given a peak, its fraction."""
    torch.manual_seed(0)
    policy = default_policy().to(device)
    chosen = apply_precision(policy, precision, device)
    batch = make_batch(batch_size, policy.config.chunk_size)
    flops = step_flops(policy, batch)
    seconds = time_training(policy, batch, steps)
    achieved = flops / seconds / 1e9
    return [{"model": "default VLA (tiny, tokens head, chunk 4)", "batch_size": batch_size, "steps": steps,
             "precision": chosen.name, "params_M": sum(p.numel() for p in policy.parameters()) / 1e6,
             "ms_per_step": 1000 * seconds, "samples_per_s": batch_size / seconds, "gflop_per_step": flops / 1e9,
             "achieved_gflops": achieved, "matmul_peak_gflops": matmul_peak_gflops,
             "fraction_of_peak": achieved / matmul_peak_gflops if matmul_peak_gflops else None}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--peak-gflops", type=float, default=None, help="matmul peak to compare against")
    args = parser.parse_args()
    (row,) = run(args.steps, args.batch_size, args.precision, args.peak_gflops)
    print(f"{row['model']}, batch {row['batch_size']}, {row['precision']}, {torch.get_num_threads()} threads: "
          f"{row['samples_per_s']:.1f} samples/s, {row['ms_per_step']:.0f} ms/step, "
          f"{row['gflop_per_step']:.2f} GFLOP/step, {row['achieved_gflops']:.2f} GFLOP/s achieved")


if __name__ == "__main__":
    main()
