"""Quantile normalization of actions (and states) to [-1, 1], as VST and OpenVLA do with q01/q99 statistics.

Values outside [q01, q99] are clipped, so a few outliers in the demonstrations do not stretch the range that the
256 action bins have to cover. The statistics travel with every checkpoint; a policy without them refuses to act.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vst_vla.errors import UserError
from vst_vla.io import write_json_atomic

# Dimensions whose q01 == q99 (e.g. a rotation the expert never uses) map to 0 and back to their constant value.
_MIN_RANGE = 1e-8


class MissingStatsError(UserError, ValueError):
    """Raised when normalization statistics are absent or malformed; the policy cannot act without them."""


@dataclass
class QuantileNormalizer:
    """Maps a feature between its raw units and [-1, 1] using per-dimension q01/q99.

    Attributes:
        q01, q99: float32 tensors of shape (dim,).
    """

    q01: torch.Tensor
    q99: torch.Tensor

    def __post_init__(self) -> None:
        self.q01 = torch.as_tensor(self.q01, dtype=torch.float32).flatten()
        self.q99 = torch.as_tensor(self.q99, dtype=torch.float32).flatten()
        if self.q01.shape != self.q99.shape:
            raise MissingStatsError(f"q01 has shape {tuple(self.q01.shape)} but q99 has {tuple(self.q99.shape)}")
        if not (torch.isfinite(self.q01).all() and torch.isfinite(self.q99).all()):
            raise MissingStatsError("normalization statistics contain NaN or inf")
        if (self.q99 < self.q01).any():
            raise MissingStatsError("normalization statistics have q99 < q01 in some dimension")

    @property
    def dim(self) -> int:
        return int(self.q01.numel())

    def _range(self) -> torch.Tensor:
        return (self.q99 - self.q01).clamp_min(_MIN_RANGE)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw values (..., dim) → [-1, 1] (..., dim), clipped outside [q01, q99]."""
        self._check_dim(x)
        q01, rng = self.q01.to(x.device), self._range().to(x.device)
        y = 2.0 * (x - q01) / rng - 1.0
        y = torch.where((self.q99 - self.q01).to(x.device) < _MIN_RANGE, torch.zeros_like(y), y)
        return y.clamp(-1.0, 1.0)

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        """[-1, 1] values (..., dim) → raw units (..., dim)."""
        self._check_dim(y)
        q01, rng = self.q01.to(y.device), self._range().to(y.device)
        return (y.clamp(-1.0, 1.0) + 1.0) / 2.0 * rng + q01

    def _check_dim(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected a last dimension of {self.dim} (the statistics' size), got shape {tuple(x.shape)}")

    def to_dict(self) -> dict[str, list[float]]:
        return {"q01": self.q01.tolist(), "q99": self.q99.tolist()}

    @classmethod
    def from_stats(cls, stats: dict, feature: str) -> QuantileNormalizer:
        """Build from a LeRobot-style stats dict ``{feature: {"q01": ..., "q99": ...}}``; names what is missing."""
        if feature not in stats:
            raise MissingStatsError(
                f"normalization statistics for {feature!r} are missing (have: {sorted(stats)}); "
                "a policy refuses to act without them"
            )
        entry = stats[feature]
        missing = [k for k in ("q01", "q99") if k not in entry]
        if missing:
            raise MissingStatsError(f"statistics for {feature!r} lack {missing}; expected q01 and q99 quantiles")
        return cls(q01=torch.as_tensor(np.asarray(entry["q01"])), q99=torch.as_tensor(np.asarray(entry["q99"])))


STATS_FILENAME = "normalization_stats.json"


def save_stats(stats: dict[str, dict[str, list[float]]], directory: Path) -> Path:
    """Write ``{feature: {stat: list}}`` as JSON atomically (temp file then rename)."""
    return write_json_atomic(Path(directory) / STATS_FILENAME, stats)


def load_stats(directory: Path) -> dict[str, dict[str, list[float]]]:
    """Read the stats a checkpoint carries; a clear error when the file is missing or unreadable."""
    path = Path(directory) / STATS_FILENAME
    if not path.is_file():
        raise MissingStatsError(
            f"{path} not found: the checkpoint has no normalization statistics, so the policy refuses to act. "
            "Re-save it from training (the trainer writes them) or copy the dataset's q01/q99 stats there."
        )
    try:
        stats = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise MissingStatsError(f"{path} is not valid JSON: {err}") from err
    for feature, entry in stats.items():
        for key, values in entry.items():
            if any(not math.isfinite(v) for v in np.asarray(values, dtype=np.float64).ravel()):
                raise MissingStatsError(f"{path}: {feature}.{key} contains NaN or inf")
    return stats


def to_json_stats(stats: dict[str, dict[str, np.ndarray]], features: list[str]) -> dict[str, dict[str, list[float]]]:
    """Keep the listed features' statistics as JSON-ready lists."""
    out: dict[str, dict[str, list[float]]] = {}
    for feature in features:
        if feature not in stats:
            raise MissingStatsError(f"dataset statistics have no entry for {feature!r} (have: {sorted(stats)})")
        out[feature] = {k: np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in stats[feature].items()}
    return out
