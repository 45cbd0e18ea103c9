"""Exact quantiles in a LeRobot dataset's own ``meta/stats.json``: computed once, read by every trainer.

LeRobot 0.6.1 stores a dataset's q01 .. q99 as the frame-weighted mean of per-episode quantiles
(``lerobot.datasets.compute_stats.aggregate_stats``), and its ``augment_dataset_quantile_stats`` script does the
same. Those are not quantiles of the data: on 20 Lift demos the stored action q01..q99 range is as little as ~40%
of the exact one on some dimensions, so a policy normalized with them sees many targets clipped. This module
replaces the quantiles of every 1-D float feature by quantiles of all its frames (own code because LeRobot has
no exact mode; it reads only the parquet data, no video) and rewrites ``meta/stats.json`` atomically. The other
statistics (min, max, mean, std, count, images) stay as LeRobot computed them.

``vst_vla.collect`` (and the VLA stage, when it collects) does this for every dataset it writes; for a dataset made
by another tool, once:

    python -m vst_vla.data.exact_stats path/to/dataset

``python -m vst_vla.train stage=vla`` and ``lerobot-train`` then read the same numbers from the same file. A
marker file (``meta/vst_exact_stats.json``) records which features were made exact, from how many frames.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from vst_vla.errors import MissingInputError, UserError, exit_on_user_error
from vst_vla.io import write_json_atomic

logger = logging.getLogger(__name__)

INFO_FILE = "meta/info.json"
STATS_FILE = "meta/stats.json"
MARKER_FILE = "meta/vst_exact_stats.json"
# The quantiles LeRobot stores (lerobot.datasets.compute_stats.DEFAULT_QUANTILES), by stats key.
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
_FLOAT_DTYPES = ("float32", "float64")


class InvalidStatsError(UserError, ValueError):
    """The dataset's metadata or statistics cannot be read as LeRobot writes them."""


def vector_features(features: dict[str, Any]) -> list[str]:
    """The 1-D float features (state, action, ...) of a dataset's ``info.json`` features: those quantile-normalized."""
    return [key for key, ft in features.items()
            if isinstance(ft, dict) and len(ft.get("shape", ())) == 1 and ft.get("dtype") in _FLOAT_DTYPES]


def exact_quantiles(root: Path, features: list[str]) -> tuple[dict[str, dict[str, list[float]]], int]:
    """Quantiles of all frames of ``features``, from the dataset's parquet files; returns them and the frame count."""
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise MissingInputError(f"{root / 'data'} holds no parquet files; is {root} a LeRobot v3 dataset?")
    columns: dict[str, list[np.ndarray]] = {key: [] for key in features}
    for path in files:
        table = pq.read_table(path, columns=features)
        for key in features:
            # A (N,) column of fixed-size lists, or of scalars for shape-(1,) features.
            values = table.column(key).to_pylist()
            columns[key].append(np.asarray(values, dtype=np.float64).reshape(len(values), -1))
    out: dict[str, dict[str, list[float]]] = {}
    frames = 0
    for key, parts in columns.items():
        values = np.concatenate(parts)
        frames = len(values)
        quantiles = np.quantile(values, list(QUANTILES.values()), axis=0)
        out[key] = {name: q.astype(np.float32).tolist() for name, q in zip(QUANTILES, quantiles, strict=True)}
    return out, frames


def write_exact_quantiles(root: str | Path) -> dict[str, Any]:
    """Replace the quantiles in ``root/meta/stats.json`` by exact ones; returns what the marker file records."""
    root = Path(root)
    info = _read_json(root / INFO_FILE)
    stats_path = root / STATS_FILE
    stats = _read_json(stats_path) if stats_path.is_file() else {}
    if not isinstance(info.get("features"), dict):
        raise InvalidStatsError(f"{root / INFO_FILE} has no 'features' mapping")
    features = vector_features(info["features"])
    quantiles, frames = exact_quantiles(root, features)
    for key, values in quantiles.items():
        stats.setdefault(key, {}).update(values)
    write_json_atomic(stats_path, stats)
    marker = {"quantiles": "exact", "features": features, "frames": frames,
              "written_by": "vst_vla.data.exact_stats"}
    write_json_atomic(root / MARKER_FILE, marker)
    logger.info("wrote exact quantiles of %s (%d frames) to %s", features, frames, stats_path)
    return marker


def has_exact_quantiles(root: str | Path) -> bool:
    """True when ``write_exact_quantiles`` ran on this dataset (the collector's datasets, or the command's)."""
    return (Path(root) / MARKER_FILE).is_file()


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MissingInputError(f"{path} not found; expected a LeRobot v3 dataset directory with {INFO_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidStatsError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidStatsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m vst_vla.data.exact_stats",
        description="Store exact q01..q99 of every state/action feature in a LeRobot dataset's meta/stats.json, "
                    "so vst_vla.train and lerobot-train normalize with the same numbers.",
    )
    parser.add_argument("root", type=Path, help="the dataset directory (holding meta/ and data/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with exit_on_user_error():
        marker = write_exact_quantiles(args.root)
    print(json.dumps(marker), file=sys.stdout)
    return marker


if __name__ == "__main__":
    main()
