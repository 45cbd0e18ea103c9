"""VLA training items per second with the decoded frames cached in RAM against decoding each item's frames.

    python benchmarks/bench_image_cache.py [--episodes 4] [--items 200] [--out r.json]

Collects ``--episodes`` Lift demonstrations (the registered env's defaults) into a temporary LeRobot dataset,
then opens it as the VLA stage does with ``dataset.image_cache=memory`` and ``=decode``
(:class:`vst_vla.data.dataset.VLATrainingDataset`), and reads the same ``--items`` random items from each, in one
process. "open s" includes decoding every frame for ``memory``; "cache MB" is the uint8 cache's size. Prints a
markdown table (ratios against ``decode``) and one JSON line. ``auto`` chooses between the two by memory alone
(:func:`vst_vla.data.dataset.choose_image_cache`); this says what that choice costs in speed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything can import MuJoCo


def run(episodes: int = 4, items: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """One row per cache mode: ``{"image_cache", "open_s", "items_per_s", "cache_mb", "frames"}``."""
    import numpy as np

    from vst_vla.data.collect import collect_demos
    from vst_vla.data.config import CollectConfig, DatasetConfig
    from vst_vla.data.dataset import VLATrainingDataset
    from vst_vla.data.multitask import resolve_tasks

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_image_cache_") as tmp:
        root = Path(tmp) / "ds"
        env_cfg = resolve_tasks(["lift"], {})["lift"]
        collect_demos(env_cfg, CollectConfig(root=str(root), num_episodes=episodes, num_workers=1))
        for mode in ("memory", "decode"):
            start = time.perf_counter()
            dataset = VLATrainingDataset.from_config(DatasetConfig(root=str(root)), 8, image_cache=mode,
                                                     progress=False)
            opened = time.perf_counter() - start
            order = np.random.default_rng(seed).integers(len(dataset), size=items)
            start = time.perf_counter()
            for idx in order:
                dataset[int(idx)]
            seconds = time.perf_counter() - start
            rows.append({"image_cache": mode, "frames": len(dataset), "open_s": round(opened, 2),
                         "items_per_s": round(items / seconds, 1),
                         "cache_mb": round(dataset.cache_bytes / 2**20, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = run(args.episodes, args.items)
    decode = next(r for r in rows if r["image_cache"] == "decode")
    from machine import cpu_model_and_flags  # benchmarks/machine.py, beside this script

    print(f"machine: {cpu_model_and_flags()[0]}, {os.cpu_count()} cores")
    print("| image_cache | frames | open s | items/s | x decode | cache MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['image_cache']} | {r['frames']} | {r['open_s']} | {r['items_per_s']} | "
              f"{r['items_per_s'] / decode['items_per_s']:.1f}x | {r['cache_mb']} |")
    print(json.dumps(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
