"""Demonstration seeds and evaluation seeds: two disjoint ranges, and the check that keeps them apart.

An episode's initial state is a function of (task, reset seed), so a policy evaluated on the seeds of its own
demonstrations starts from the states it was trained on. The defaults keep the two apart by construction:
demonstrations are collected from seed :data:`DEMO_SEED_BASE` up (``collect.seed``), evaluations run from seed
:data:`EVAL_SEED_BASE` up (``eval.seed``). Collection records the seed of every kept episode in the dataset's
``meta/vst_env.json`` (``collection.episode_seeds``), which training copies into the checkpoint's ``env.json``
(a ``lerobot-train`` checkpoint reaches it through its training dataset), and :func:`check_eval_seeds` refuses an
evaluation whose seeds meet those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from vst_vla.errors import ConfigError

logger = logging.getLogger(__name__)

# Demonstrations from 10 000 up, evaluations from 0 up: room for 10 000 evaluation episodes before they meet.
DEMO_SEED_BASE = 10_000
EVAL_SEED_BASE = 0


def demo_seeds(env_metadata: Mapping[str, Any] | None) -> list[int] | None:
    """The reset seeds of the demonstrations a dataset (or a checkpoint trained on it) holds.

    Args:
        env_metadata: a dataset's ``meta/vst_env.json`` or a checkpoint's ``env.json`` contents.
    Returns:
        The seeds of every episode in the dataset (all tasks), sorted; None when the metadata does not record
        them (a dataset not collected by ``vst_vla.collect``, or a checkpoint built without one).
    """
    collection = (env_metadata or {}).get("collection")
    if not isinstance(collection, Mapping) or collection.get("episode_seeds") is None:
        return None
    return sorted({int(seed) for seed in collection["episode_seeds"]})


def format_seeds(seeds: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0..5 (4 seeds)"``; a single seed is ``"7"``; none is ``"none"``."""
    if not seeds:
        return "none"
    low, high = min(seeds), max(seeds)
    return str(low) if low == high else f"{low}..{high} ({len(set(seeds))} seeds)"


def check_eval_seeds(eval_seeds: Sequence[int], demos: Sequence[int] | None, source: str) -> None:
    """Refuse evaluation seeds that are also demonstration seeds of the policy's training data.

    Args:
        eval_seeds: the evaluation's episode seeds (``RolloutConfig.seeds``).
        demos: the demonstration seeds (:func:`demo_seeds` of the training data's metadata, or the range a
            collection is about to attempt); None when unknown.
        source: where the demonstration seeds come from, for the message (a checkpoint or dataset path).
    Raises:
        ConfigError: naming both ranges, the shared seeds and a start seed that avoids them. When the demonstration
            seeds are unknown the check cannot be made; that is logged, not refused.
    """
    if demos is None:
        logger.warning("%s: no demonstration seeds recorded; cannot check that the evaluation seeds %s are not "
                       "training initial states", source, format_seeds(eval_seeds))
        return
    shared = sorted(set(eval_seeds) & set(demos))
    if not shared:
        return
    shown = ", ".join(map(str, shared[:5])) + (", ..." if len(shared) > 5 else "")
    fits_below = min(demos) >= len(eval_seeds)  # seeds 0 .. n-1 end before the first demonstration
    other = f"eval.seed={EVAL_SEED_BASE} or eval.seed={max(demos) + 1}" if fits_below else f"eval.seed={max(demos) + 1}"
    raise ConfigError(
        f"eval seeds {format_seeds(eval_seeds)} overlap the demonstration seeds {format_seeds(demos)} of "
        f"{source} (shared: {shown}): those episodes would start from training initial states. Evaluate on "
        f"other seeds ({other}), or collect demonstrations from collect.seed={DEMO_SEED_BASE} as the default does"
    )
