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

from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.examples import SFTDataset
from vst_vla.sft.model import SpatialVLM
from vst_vla.sft.packing import PackedDataset, collate_packs
from vst_vla.spatial.formats import read_samples
from vst_vla.vlm.backbone import BackboneConfig


def run(vlm: SpatialVLM, batches: list[dict], steps: int) -> tuple[float, float]:
    """Real tokens/s over ``steps`` optimizer steps (after one warm-up) and the padding share."""
    optimizer = torch.optim.AdamW(vlm.parameters(), lr=1e-4)
    real = total = 0
    times = []
    for i, batch in enumerate(batches[: steps + 1]):
        start = time.perf_counter()
        loss, _ = vlm(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i == 0:
            continue  # warm-up
        times.append(time.perf_counter() - start)
        real += batch["input_ids"].numel() - batch["padding_tokens"]
        total += batch["input_ids"].numel()
    return real / sum(times), 1.0 - real / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="outputs/spatial/train.parquet")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--padded-batch", type=int, default=8, help="examples per padded batch")
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found; generate it with python -m vst_vla.spatial.generate --out {args.data}")
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig())
    vlm.autocast_dtype = torch.bfloat16
    samples = list(read_samples(args.data))
    examples = SFTDataset(samples, vlm.processor, DEFAULT_SYSTEM_PROMPT, args.max_tokens)
    lengths = examples.lengths
    packed = PackedDataset(examples, args.max_tokens, packing=True, seed=0)
    padded_order = PackedDataset(examples, args.max_tokens, packing=False, seed=0)
    packed_batches = [collate_packs([packed[i]]) for i in range(min(len(packed), args.steps + 1))]
    rows = [padded_order[i][0] for i in torch.randperm(len(examples), generator=torch.Generator().manual_seed(0))]
    padded_batches = [collate_packs([[e] for e in rows[j : j + args.padded_batch]])
                      for j in range(0, (args.steps + 1) * args.padded_batch, args.padded_batch)]
    packed_tps, packed_pad = run(vlm, packed_batches, args.steps)
    padded_tps, padded_pad = run(vlm, padded_batches, args.steps)
    print(f"{len(samples)} samples, length mean {statistics.mean(lengths):.0f} / median {statistics.median(lengths):.0f}"
          f" / max {max(lengths)} tokens; {torch.get_num_threads()} torch threads")
    print("| batching | real tokens / s | padding share | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| padded ({args.padded_batch} examples) | {padded_tps:.0f} | {padded_pad:.0%} | 1.00x |")
    print(f"| packed ({args.max_tokens} tokens/row) | {packed_tps:.0f} | {packed_pad:.0%} | {packed_tps / padded_tps:.2f}x |")


if __name__ == "__main__":
    main()
