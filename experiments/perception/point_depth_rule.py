"""How often the points_crowd probe's rule, "the lower mark in the image is the nearer point", answers the engine's
depth_order_points questions: does the rule the probe teaches hold on rendered scenes?

    python experiments/perception/point_depth_rule.py outputs/spatial/points_eval100.parquet

Reads only the ground truth each question stores (its camera and the two points' world positions), so it needs no
model. A high score says what the probe teaches would answer the skill, and a model that fails the skill fails at
finding the labelled marks in a rendered view, not at the rule.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
import pandas as pd


def depth_and_row(point: list[float], camera: dict) -> tuple[float, float]:
    """The point's depth along the camera's optical axis and its image row (OpenCV camera frame: y down)."""
    in_camera = np.linalg.inv(np.asarray(camera["world_from_camera"])) @ np.r_[point, 1.0]
    row = (np.asarray(camera["intrinsics"]) @ (in_camera[:3] / in_camera[2]))[1]
    return float(in_camera[2]), float(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a parquet file of depth_order_points questions (vst_vla.spatial.generate)")
    args = parser.parse_args()
    frame = pd.read_parquet(args.data)
    agree, total = Counter(), Counter()
    for meta in frame.meta_info:
        info = json.loads(meta)
        if info["skill"] != "depth_order_points":
            continue
        query = info["query"]
        measured = {label: depth_and_row(p, query["camera"]) for label, p in query["points"].items()}
        nearest = min(measured, key=lambda label: measured[label][0])
        lowest = max(measured, key=lambda label: measured[label][1])
        surfaces = " / ".join(sorted("cube" if s.startswith("cube") else s for s in query["surfaces"].values()))
        agree[surfaces] += nearest == lowest
        total[surfaces] += 1
    if not total:
        raise SystemExit(f"{args.data}: no depth_order_points questions")
    print(f"lower mark is the nearer point: {sum(agree.values())}/{sum(total.values())} = "
          f"{sum(agree.values()) / sum(total.values()):.3f}")
    for surfaces, n in total.most_common():
        print(f"  points on {surfaces}: {agree[surfaces]}/{n}")


if __name__ == "__main__":
    main()
