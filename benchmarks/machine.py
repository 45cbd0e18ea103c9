"""What a benchmark ran on: CPU model, cores, the instruction-set features that decide bf16 speed, torch threads,
load, and the precision ``"auto"`` picks here (with its reason), read from the machine, never assumed.

    python benchmarks/machine.py
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from vst_vla.precision import resolve_precision

# Flags that decide matmul speed: AVX2 / AVX-512 width, native bf16 (AVX512-BF16, AMX tiles), fp16 (AVX512-FP16).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags, from ``lscpu`` (falling back to /proc/cpuinfo)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        flags = set(fields.get("Flags", "").split())
    except (OSError, subprocess.SubprocessError):
        pass
    if not flags and os.path.exists("/proc/cpuinfo"):
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        if m := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
            model = m.group(1).strip()
        if m := re.search(r"^flags\s*:\s*(.+)$", text, re.M):
            flags = set(m.group(1).split())
    return model, flags


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """A JSON-safe description of the machine and of the precision ``"auto"`` resolves to on ``device``."""
    model, flags = cpu_model_and_flags()
    precision = resolve_precision("auto", device)
    info: dict[str, Any] = {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_flags": {flag: flag in flags for flag in RELEVANT_FLAGS},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "precision_auto": precision.name,
        "precision_auto_reason": precision.reason,
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    print(json.dumps(machine_info(), indent=2))


if __name__ == "__main__":
    main()
