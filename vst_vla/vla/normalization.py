"""Checks of the q01/q99 statistics the policy is normalized with (LeRobot's ``QUANTILES`` mode applies them).

The statistics are computed once, when a dataset is written (:mod:`vst_vla.data.exact_stats`), stored in its
``meta/stats.json`` and applied by the policy's processor pipelines (LeRobot's ``NormalizerProcessorStep`` and
``UnnormalizerProcessorStep``), which save them with every checkpoint. LeRobot applies them without checking, so
the pipelines are built only from statistics this module has accepted: it refuses, naming the feature and the
dimension, shapes that differ, values that are not finite in float32, inverted dimensions (q01 > q99) and ranges
float32 cannot hold. Constant dimensions (q01 == q99) are allowed: LeRobot's formula with its epsilon maps them to
-1 at their constant (the pre-processor then clips to [-1, 1]) and un-normalizes back to the constant.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from vst_vla.errors import UserError

QUANTILE_KEYS = ("q01", "q99")


class MissingStatsError(UserError, ValueError):
    """Raised when normalization statistics are absent or malformed; the policy cannot act without them."""


def check_quantile_stats(stats: Mapping, feature: str, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``stats[feature]``'s q01 and q99 as float32 (dim,) tensors, or a MissingStatsError saying what is wrong.

    Args:
        stats: LeRobot-style statistics ``{feature: {"q01": ..., "q99": ..., ...}}``.
        feature: the key to check (``action``, ``observation.state``).
        dim: the number of dimensions the policy expects, or None to accept any.
    """
    if feature not in stats:
        raise MissingStatsError(f"normalization statistics for {feature!r} are missing (have: {sorted(stats)}); "
                                "a policy refuses to act without them")
    entry = stats[feature]
    if not isinstance(entry, Mapping):
        raise MissingStatsError(f"statistics for {feature!r} are a {type(entry).__name__}; expected a mapping "
                                "with q01 and q99 quantiles")
    missing = [k for k in QUANTILE_KEYS if k not in entry]
    if missing:
        raise MissingStatsError(f"statistics for {feature!r} lack {missing}; expected q01 and q99 quantiles")
    q01, q99 = (torch.as_tensor(_as_float_array(entry[k], f"statistics for {feature!r}: {k}"),
                                dtype=torch.float32).flatten() for k in QUANTILE_KEYS)
    where = f"normalization statistics for {feature!r}"
    if q01.shape != q99.shape:
        raise MissingStatsError(f"{where}: q01 has shape {tuple(q01.shape)} but q99 has {tuple(q99.shape)}")
    if q01.numel() == 0:
        raise MissingStatsError(f"{where}: q01 and q99 are empty; expected one value per dimension")
    for key, values in (("q01", q01), ("q99", q99)):
        bad = _first_dim(~torch.isfinite(values))
        if bad is not None:
            raise MissingStatsError(f"{where}: {key}[{bad}] is not finite in float32 (contains NaN, inf or a "
                                    "value beyond ±3.4e38)")
    bad = _first_dim(q99 < q01)
    if bad is not None:
        raise MissingStatsError(
            f"{where}: dimension {bad} has q01 = {q01[bad].item():g} > q99 = {q99[bad].item():g}; "
            "expected q01 <= q99 in every dimension (swapped quantiles, or statistics of another dataset?)"
        )
    bad = _first_dim(~torch.isfinite(q99 - q01))
    if bad is not None:
        raise MissingStatsError(f"{where}: dimension {bad} spans q01 = {q01[bad].item():g} to q99 = "
                                f"{q99[bad].item():g}, a range float32 cannot hold")
    if dim is not None and q01.numel() != dim:
        raise MissingStatsError(f"{where} have {q01.numel()} dimensions but the policy's {feature} has {dim}")
    return q01, q99


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
