"""Held-out evaluation of the RL stage in VST-R's own terms: per-sample accuracy and format rewards, before vs after.

The per-skill table (letter match / MRA / IoU) says where a model stands; this says whether RL moved it. Both
phases answer the same questions, so the change is measured per question, and its 95% interval comes from a
paired bootstrap over questions (resampling questions, not answers, keeps the pairing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vst_vla.rl.rewards import overall_reward


def reward_scores(metas: Sequence[Mapping[str, Any]], answers: Sequence[str]) -> dict[str, list[float]]:
    """Per-question ``accuracy`` and ``format`` rewards (each in [0, 1]) of ``answers``."""
    if len(metas) != len(answers):
        raise ValueError(f"{len(metas)} questions but {len(answers)} answers")
    rows = [overall_reward(text, meta) for meta, text in zip(metas, answers, strict=True)]
    return {"accuracy": [r["accuracy"] for r in rows], "format": [r["format"] for r in rows]}


def paired_bootstrap(before: Sequence[float], after: Sequence[float], n_resamples: int = 10_000,
                     seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean of ``after - before`` over paired questions, with a percentile bootstrap interval.

    Returns ``{"mean_before", "mean_after", "diff", "ci_low", "ci_high", "n"}``.
    """
    b, a = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if b.shape != a.shape or b.ndim != 1 or b.size == 0:
        raise ValueError(f"need two equally long, non-empty score lists; got {b.shape} and {a.shape}")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {"mean_before": float(b.mean()), "mean_after": float(a.mean()), "diff": float(diff.mean()),
            "ci_low": float(low), "ci_high": float(high), "n": int(diff.size)}


def format_reward_change(change: dict[str, dict[str, float]]) -> str:
    """A markdown table of :func:`paired_bootstrap` results, one row per reward."""
    lines = ["| held-out reward | n | before | after | change | 95% CI (paired bootstrap) |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, c in change.items():
        lines.append(f"| {name} | {c['n']} | {c['mean_before']:.3f} | {c['mean_after']:.3f} | {c['diff']:+.3f} | "
                     f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] |")
    return "\n".join(lines) + "\n"
