"""How long measuring SFT sample lengths takes: a full encode (decode + patchify) against the size-based count.

    python benchmarks/bench_sft_lengths.py --data outputs/spatial/eval40.parquet [--samples 400]

Both columns run over the same samples in one process; the lengths must agree (it exits 1 if they do not).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.examples import count_sample_tokens, encode_sample
from vst_vla.spatial.formats import read_samples
from vst_vla.vlm.backbone import BackboneConfig, build_processor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="VST parquet or LLaVA JSON file")
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    processor = build_processor(BackboneConfig())
    samples = list(itertools.islice(read_samples(args.data), args.samples))
    timings, lengths = {}, {}
    for name, measure in (("full encode", lambda s: len(encode_sample(processor, s, DEFAULT_SYSTEM_PROMPT))),
                          ("count from sizes", lambda s: count_sample_tokens(processor, s, DEFAULT_SYSTEM_PROMPT))):
        start = time.perf_counter()
        lengths[name] = [measure(s) for s in samples]
        timings[name] = (time.perf_counter() - start) / len(samples)
    print(f"{'method':18s} {'ms/sample':>10s} {'speed-up':>9s}   ({len(samples)} samples of {args.data})")
    for name, seconds in timings.items():
        print(f"{name:18s} {seconds * 1e3:10.2f} {timings['full encode'] / seconds:8.1f}x")
    same = lengths["full encode"] == lengths["count from sizes"]
    print("lengths identical" if same else "LENGTHS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
