"""Quantile normalization of actions (and states) to [-1, 1], as VST and OpenVLA do with q01/q99 statistics.

Values outside [q01, q99] are clipped, so a few outliers in the demonstrations do not stretch the range that the
256 action bins have to cover. The statistics travel with every checkpoint; a policy without them refuses to act.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vst_vla.errors import UserError
from vst_vla.io import write_json_atomic

# A dimension whose q01 == q99 (e.g. a rotation the expert never uses) gets this range, as in LeRobot's QUANTILES
# normalizer (its eps): it normalizes to -1 at its constant and to ±1 (clipped) elsewhere, and un-normalizes to the
# constant, so both normalizers agree on it exactly.
_ZERO_RANGE_EPS = 1e-8
QUANTILE_KEYS = ("q01", "q99")


class MissingStatsError(UserError, ValueError):
    """Raised when normalization statistics are absent or malformed; the policy cannot act without them."""


@dataclass
class QuantileNormalizer:
    """Maps a feature between its raw units and [-1, 1] using per-dimension q01/q99.

    Construction refuses statistics a policy could not act safely with, naming the feature and the dimension:
    shapes that differ, values that are not finite in float32, inverted dimensions (q01 > q99) and ranges
    float32 cannot hold. Constant dimensions (q01 == q99) are allowed.

    Attributes:
        q01, q99: float32 tensors of shape (dim,).
        feature: the statistics key these came from (``action``, ``observation.state``), named in errors.
    """

    q01: torch.Tensor
    q99: torch.Tensor
    feature: str = "statistics"

    def __post_init__(self) -> None:
        self.q01 = torch.as_tensor(self.q01, dtype=torch.float32).flatten()
        self.q99 = torch.as_tensor(self.q99, dtype=torch.float32).flatten()
        where = f"normalization statistics for {self.feature!r}"
        if self.q01.shape != self.q99.shape:
            raise MissingStatsError(
                f"{where}: q01 has shape {tuple(self.q01.shape)} but q99 has {tuple(self.q99.shape)}"
            )
        if self.q01.numel() == 0:
            raise MissingStatsError(f"{where}: q01 and q99 are empty; expected one value per dimension")
        for key, values in (("q01", self.q01), ("q99", self.q99)):
            bad = _first_dim(~torch.isfinite(values))
            if bad is not None:
                raise MissingStatsError(f"{where}: {key}[{bad}] is not finite in float32 (contains NaN, inf or a "
                                        "value beyond ±3.4e38)")
        bad = _first_dim(self.q99 < self.q01)
        if bad is not None:
            raise MissingStatsError(
                f"{where}: dimension {bad} has q01 = {self.q01[bad].item():g} > q99 = {self.q99[bad].item():g}; "
                "expected q01 <= q99 in every dimension (swapped quantiles, or statistics of another dataset?)"
            )
        bad = _first_dim(~torch.isfinite(self.q99 - self.q01))
        if bad is not None:
            raise MissingStatsError(f"{where}: dimension {bad} spans q01 = {self.q01[bad].item():g} to q99 = "
                                    f"{self.q99[bad].item():g}, a range float32 cannot hold")

    @property
    def dim(self) -> int:
        return int(self.q01.numel())

    def _range(self) -> torch.Tensor:
        rng = self.q99 - self.q01
        return torch.where(rng == 0, torch.full_like(rng, _ZERO_RANGE_EPS), rng)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw values (..., dim) → [-1, 1] (..., dim), clipped outside [q01, q99]; a constant dimension → -1 at its
        constant (LeRobot's QUANTILES formula, clipped)."""
        self._check_dim(x)
        q01, rng = self.q01.to(x.device), self._range().to(x.device)
        return (2.0 * (x - q01) / rng - 1.0).clamp(-1.0, 1.0)

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        """[-1, 1] values (..., dim) → raw units (..., dim), inside [q01, q99].

        NaN stays NaN, for the caller to refuse.
        """
        self._check_dim(y)
        q01, q99, rng = self.q01.to(y.device), self.q99.to(y.device), self._range().to(y.device)
        x = (y.clamp(-1.0, 1.0) + 1.0) / 2.0 * rng + q01
        # Rounding can land an ulp past q99, and a constant dimension's minimum range past its constant; torch.maximum
        # and minimum keep NaN, so a broken head is still refused downstream rather than clipped into range.
        return torch.minimum(torch.maximum(x, q01), q99)

    def _check_dim(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"expected a last dimension of {self.dim} (the statistics' size), got shape {tuple(x.shape)}"
            )

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
        if not isinstance(entry, Mapping):
            raise MissingStatsError(f"statistics for {feature!r} are a {type(entry).__name__}; expected a mapping "
                                    "with q01 and q99 quantiles")
        missing = [k for k in QUANTILE_KEYS if k not in entry]
        if missing:
            raise MissingStatsError(f"statistics for {feature!r} lack {missing}; expected q01 and q99 quantiles")
        q01, q99 = (_as_float_array(entry[k], f"statistics for {feature!r}: {k}") for k in QUANTILE_KEYS)
        return cls(q01=torch.as_tensor(q01), q99=torch.as_tensor(q99), feature=feature)


def _first_dim(mask: torch.Tensor) -> int | None:
    """The first index where ``mask`` is true, or None."""
    hits = mask.nonzero()
    return int(hits[0, 0]) if len(hits) else None


def _as_float_array(values: object, where: str) -> np.ndarray:
    """``values`` as float64, or a MissingStatsError naming ``where`` (strings, None and ragged lists end up here)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MissingStatsError(f"{where} is not a list of numbers ({err})") from None


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
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MissingStatsError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(stats, dict) or not all(isinstance(entry, dict) for entry in stats.values()):
        raise MissingStatsError(f"{path}: expected an object {{feature: {{statistic: [values]}}}}")
    for feature, entry in stats.items():
        for key, values in entry.items():
            bad = np.flatnonzero(~np.isfinite(_as_float_array(values, f"{path}: {feature}.{key}")))
            if len(bad):
                raise MissingStatsError(f"{path}: {feature}.{key}[{bad[0]}] is NaN or inf; expected finite statistics")
    return stats


def to_json_stats(stats: dict[str, dict[str, np.ndarray]], features: list[str]) -> dict[str, dict[str, list[float]]]:
    """Keep the listed features' statistics as JSON-ready lists."""
    out: dict[str, dict[str, list[float]]] = {}
    for feature in features:
        if feature not in stats:
            raise MissingStatsError(f"dataset statistics have no entry for {feature!r} (have: {sorted(stats)})")
        out[feature] = {k: np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in stats[feature].items()}
    return out
