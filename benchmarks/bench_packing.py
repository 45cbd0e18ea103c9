"""SFT training throughput, packed vs padded, on the spatial engine's real sample-length distribution.

    python benchmarks/bench_packing.py [--data outputs/spatial/train.parquet] [--steps 20] [--max-tokens 2048]

Both runs do forward + backward + AdamW steps of the tiny Qwen2.5-VL on the same samples. "padded" batches a
fixed number of examples per step, right-padded to the longest; "packed" fills rows of ``--max-tokens`` with
whole examples (no attention across them). Reported: real (non-padding) tokens per second, the share of
padding, and the ratio — side by side from one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from vst_vla.precision import PRECISIONS, apply_precision
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.examples import IGNORE_INDEX, SFTDataset
from vst_vla.sft.model import SpatialVLM
from vst_vla.sft.packing import PackedDataset, collate_packs
from vst_vla.spatial.formats import read_samples
from vst_vla.vlm.backbone import BackboneConfig


def time_steps(vlm: SpatialVLM, batches: list[dict], steps: int) -> dict:
    """Times ``steps`` optimizer steps (after one warm-up batch) on ``batches``.

    Returns real (non-padding) and total tokens, seconds, and what a FLOP count needs: every example's length
    (``example_lengths``) and every image's patches (``image_patches``) over the timed steps.
    """
    if len(batches) < steps + 1:
        raise ValueError(f"need {steps + 1} batches (one warm-up), got {len(batches)}; use fewer steps or more data")
    optimizer = torch.optim.AdamW(vlm.parameters(), lr=1e-4)
    real = total = 0
    times, example_lengths, image_patches = [], [], []
    for i, batch in enumerate(batches[: steps + 1]):
        start = time.perf_counter()
        loss, _ = vlm(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if vlm.device.type == "cuda":
            torch.cuda.synchronize(vlm.device)
        if i == 0:
            continue  # warm-up
        times.append(time.perf_counter() - start)
        real += batch["input_ids"].numel() - batch["padding_tokens"]
        total += batch["input_ids"].numel()
        example_lengths += _example_lengths(batch)
        if batch["image_grid_thw"] is not None:
            image_patches += batch["image_grid_thw"].prod(-1).tolist()
    return {"real_tokens": real, "total_tokens": total, "seconds": sum(times), "steps": steps,
            "example_lengths": example_lengths, "image_patches": image_patches}


def _example_lengths(batch: dict) -> list[int]:
    """Lengths of the real examples in a collated batch, without a row's trailing padding segment.

    ``collate_packs`` appends a row's padding as its last segment; every real example has labelled assistant
    tokens (at least its closing ``<|im_end|>``), the padding has none.
    """
    lengths = []
    for row, segments in enumerate(batch["segments"]):
        for start, length, _ in segments:
            if (batch["labels"][row, start : start + length] != IGNORE_INDEX).any():
                lengths.append(length)
    return lengths


def run(vlm: SpatialVLM, batches: list[dict], steps: int) -> tuple[float, float]:
    """Real tokens/s over ``steps`` optimizer steps (after one warm-up) and the padding share."""
    timed = time_steps(vlm, batches, steps)
    return timed["real_tokens"] / timed["seconds"], 1.0 - timed["real_tokens"] / timed["total_tokens"]


def make_batches(examples: SFTDataset, max_tokens: int, padded_batch: int, count: int) -> tuple[list[dict], list[dict]]:
    """``count`` packed batches (one row of up to ``max_tokens``) and ``count`` padded ones (``padded_batch``
    examples each, in a seeded order), or as many as the examples allow."""
    packed = PackedDataset(examples, max_tokens, packing=True, seed=0)
    padded_order = PackedDataset(examples, max_tokens, packing=False, seed=0)
    packed_batches = [collate_packs([packed[i]]) for i in range(min(len(packed), count))]
    # Encode only the examples the padded batches use (items are encoded on access).
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0)).tolist()
    usable = min(count * padded_batch, len(order) // padded_batch * padded_batch)
    rows = [padded_order[i][0] for i in order[:usable]]
    padded_batches = [collate_packs([[e] for e in rows[j : j + padded_batch]]) for j in range(0, usable, padded_batch)]
    return packed_batches, padded_batches


def encode(vlm: SpatialVLM, samples: list, max_tokens: int = 2048) -> SFTDataset:
    """The samples as the SFT stage sees them (chat template, system prompt, lengths measured up front)."""
    return SFTDataset(samples, vlm.processor, DEFAULT_SYSTEM_PROMPT, max_tokens)


def compare(vlm: SpatialVLM, examples: SFTDataset, steps: int, max_tokens: int = 2048,
            padded_batch: int = 8) -> list[dict]:
    """Packed against padded SFT steps on the same examples: one row each, with tokens/s and the padding share."""
    packed_batches, padded_batches = make_batches(examples, max_tokens, padded_batch, steps + 1)
    steps = min(steps, len(packed_batches) - 1, len(padded_batches) - 1)
    if steps < 1:
        raise ValueError(f"{len(examples)} examples give too few batches for one warm-up and one timed step")
    rows = []
    for name, batches in ((f"padded ({padded_batch} examples)", padded_batches),
                          (f"packed ({max_tokens} tokens/row)", packed_batches)):
        timed = time_steps(vlm, batches, steps)
        rows.append({"batching": name, "real_tokens_per_s": timed["real_tokens"] / timed["seconds"],
                     "padding_share": 1.0 - timed["real_tokens"] / timed["total_tokens"], **timed})
    for row in rows:
        row["speedup_vs_padded"] = row["real_tokens_per_s"] / rows[0]["real_tokens_per_s"]
    return rows


def spatial_samples(num_scenes: int, seed: int = 0, image_size: int = 128) -> list:
    """Spatial QA samples generated in memory by the project's engine (the same generator as the parquet data)."""
    from vst_vla.spatial.engine import iter_scene_samples
    from vst_vla.spatial.engine.generator import close_shared_envs

    try:
        return [s for _, scene in iter_scene_samples(num_scenes, seed, image_size=image_size) for s in scene]
    finally:
        close_shared_envs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="outputs/spatial/train.parquet")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--padded-batch", type=int, default=8, help="examples per padded batch")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 only on native-bf16 hardware (vst_vla.precision)")
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found; generate it with "
                         f"python -m vst_vla.spatial.generate --out {args.data}")
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig())
    apply_precision(vlm, args.precision, vlm.device)
    samples = list(read_samples(args.data))
    examples = encode(vlm, samples, args.max_tokens)
    lengths = examples.lengths
    rows = compare(vlm, examples, args.steps, args.max_tokens, args.padded_batch)
    print(f"{len(samples)} samples, length mean {statistics.mean(lengths):.0f}"
          f" / median {statistics.median(lengths):.0f} / max {max(lengths)} tokens;"
          f" {torch.get_num_threads()} torch threads")
    print("| batching | real tokens / s | padding share | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['batching']} | {r['real_tokens_per_s']:.0f} | {r['padding_share']:.0%} "
              f"| {r['speedup_vs_padded']:.2f}x |")


if __name__ == "__main__":
    main()
