"""Measured matmul peak (GFLOP/s) in fp32 and bf16: the ceiling the training FLOP/s are compared against.

    python benchmarks/bench_matmul.py [--sizes 512 1024 2048] [--seconds 1.0] [--device cpu]

Square n x n matmuls (2·n³ FLOPs each) are repeated for at least ``--seconds`` after a warm-up; the peak is the
best size. bf16 is measured at full size only where the hardware runs it natively (``vst_vla.precision``);
elsewhere oneDNN emulates it about two orders of magnitude slower, so only one small size is measured and the
row is marked ``emulated``: it shows the cost, it is not a peak to compare against.
"""

from __future__ import annotations

import argparse
import time

import torch

from vst_vla.precision import cpu_native_bf16, cuda_native_bf16

EMULATED_SIZE = 256


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, min_seconds: float) -> float:
    """GFLOP/s of ``a @ b`` for n x n matrices of ``dtype`` on ``device``, timed over >= ``min_seconds``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: kernel selection, first-touch page faults
    _sync(device)
    reps, start = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        if reps % 4 == 0 or n >= 1024:
            _sync(device)
            if time.perf_counter() - start >= min_seconds:
                break
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def bf16_is_native(device: torch.device) -> tuple[bool, str]:
    """Whether bf16 matmuls are native on ``device``, and why (from ``vst_vla.precision``)."""
    return cuda_native_bf16(device) if device.type == "cuda" else cpu_native_bf16()


def run(sizes: tuple[int, ...] = (512, 1024, 2048), min_seconds: float = 1.0, device: str = "cpu") -> list[dict]:
    """Rows ``{dtype, size, gflops, native, note}``, one per (dtype, size) measured."""
    dev = torch.device(device)
    rows = [{"dtype": "fp32", "size": n, "gflops": matmul_gflops(n, torch.float32, dev, min_seconds), "native": True,
             "note": ""} for n in sizes]
    native, why = bf16_is_native(dev)
    bf16_sizes = sizes if native else (EMULATED_SIZE,)
    for n in bf16_sizes:
        seconds = min_seconds if native else min_seconds / 4
        rows.append({"dtype": "bf16", "size": n, "gflops": matmul_gflops(n, torch.bfloat16, dev, seconds),
                     "native": native, "note": "" if native else f"emulated ({why}); not a peak"})
    return rows


def peak(rows: list[dict], dtype: str) -> float | None:
    """Best GFLOP/s of ``dtype`` among native rows, or None when it was not measured natively."""
    values = [r["gflops"] for r in rows if r["dtype"] == dtype and r["native"]]
    return max(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = run(tuple(args.sizes), args.seconds, args.device)
    print(f"{torch.get_num_threads()} torch threads on {args.device}")
    print("| dtype | n | GFLOP/s | note |\n| --- | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['dtype']} | {r['size']} | {r['gflops']:.1f} | {r['note']} |")


if __name__ == "__main__":
    main()
