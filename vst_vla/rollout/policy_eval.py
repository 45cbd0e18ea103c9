"""Evaluate a policy in the env it was trained for, after checking that the two fit together.

A policy and an env must agree on the action dimension and the cameras before any action is sent: a mismatch is
refused here with what each side has, rather than surfacing as a crash or, worse, as wrong motions.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import gymnasium as gym

from vst_vla.constants import OBS_IMAGES_PREFIX
from vst_vla.errors import UserError
from vst_vla.rollout.ablation import NONE, make_rollout_env
from vst_vla.rollout.parallel import PolicyFactory, evaluate_parallel
from vst_vla.rollout.runner import evaluate
from vst_vla.rollout.stats import EvalSummary

logger = logging.getLogger(__name__)


class PolicyEnvMismatchError(UserError, ValueError):
    """The policy's inputs/outputs do not match the environment's observation/action spaces."""


def check_policy_fits_env(policy: Any, env: gym.Env) -> None:
    """Refuse a policy whose action dimension or cameras differ from the env's."""
    cfg = policy.config
    env_action_dim = int(env.action_space.shape[0])
    if cfg.action_dim != env_action_dim:
        raise PolicyEnvMismatchError(
            f"the policy outputs {cfg.action_dim}-dim actions but the env expects {env_action_dim}-dim actions "
            f"(action_space {env.action_space}); evaluate it in the env its training data came from"
        )
    pixels = env.observation_space.get("pixels") if hasattr(env.observation_space, "get") else None
    env_cameras = set(pixels.spaces) if pixels is not None else set()
    needed = {k.removeprefix(OBS_IMAGES_PREFIX) for k in cfg.image_keys}
    missing = sorted(needed - env_cameras)
    if missing:
        raise PolicyEnvMismatchError(
            f"the policy needs cameras {sorted(needed)} but the env renders {sorted(env_cameras)} (missing {missing}); "
            "add them to env.cameras"
        )


def _fits_or_close(policy: Any, env: gym.Env) -> None:
    """:func:`check_policy_fits_env` for policies that describe themselves (a ``config.action_dim``); closes
    ``env`` before re-raising. The scripted expert has no such config and always fits its env."""
    if getattr(getattr(policy, "config", None), "action_dim", None) is None:
        return
    try:
        check_policy_fits_env(policy, env)
    except PolicyEnvMismatchError:
        env.close()
        raise


def evaluate_policy(
    policy: Any,
    env_cfg: Any,
    rollout_cfg: Any,
    out_dir: Path,
    progress: bool = True,
    policy_factory: PolicyFactory | None = None,
) -> EvalSummary:
    """Run ``rollout_cfg.seeds`` episodes of ``policy`` in ``make_env(env_cfg)``; writes results to ``out_dir``.

    With ``rollout_cfg.num_workers > 1`` and a ``policy_factory`` (a picklable ``factory(env) -> policy``, see
    :mod:`vst_vla.rollout.parallel`) the episodes run in worker processes; without a factory an in-memory
    policy cannot be rebuilt there, so the evaluation runs in this process (with a warning). ``policy`` may be
    None when a factory is given: it is then built here, for the env it will act in. ``rollout_cfg.image_ablation``
    (default ``none``) swaps the camera images the policy sees (:mod:`vst_vla.rollout.ablation`).
    """
    num_workers = getattr(rollout_cfg, "num_workers", 1)
    image_ablation = getattr(rollout_cfg, "image_ablation", NONE)
    if num_workers > 1 and len(rollout_cfg.seeds) > 1:
        if policy_factory is not None:
            return evaluate_parallel(env_cfg, policy_factory, rollout_cfg.seeds, out_dir, num_workers=num_workers,
                                     n_videos=rollout_cfg.n_videos, progress=progress,
                                     max_steps=rollout_cfg.max_steps, image_ablation=image_ablation)
        logger.warning("eval.num_workers=%d needs a policy that can be rebuilt in each worker (e.g. a checkpoint "
                       "path); evaluating in this process instead", num_workers)
    if policy is None and policy_factory is None:
        raise ValueError("evaluate_policy needs a policy or a policy_factory")

    env = make_rollout_env(env_cfg, image_ablation)
    try:
        if policy is None:
            policy = policy_factory(env)  # type: ignore[misc]
    except BaseException:
        env.close()
        raise
    _fits_or_close(policy, env)
    if hasattr(policy, "eval"):
        policy.eval()
    return evaluate(lambda: env, policy, rollout_cfg.seeds, out_dir, n_videos=rollout_cfg.n_videos,
                    progress=progress, max_steps=rollout_cfg.max_steps)


def evaluate_image_ablations(
    policy: Any,
    env_cfg: Any,
    rollout_cfg: Any,
    out_root: Path,
    progress: bool = True,
    policy_factory: PolicyFactory | None = None,
) -> dict[str, EvalSummary]:
    """The same seeds again under each of ``rollout_cfg.ablations`` (:mod:`vst_vla.rollout.ablation`), each like
    :func:`evaluate_policy` with that ``image_ablation``, written to ``out_root / f"eval_{ablation}"``.

    Returns ``{ablation: summary}`` in the configured order (empty when there are none).
    """
    summaries = {}
    for ablation in rollout_cfg.ablations:
        ablated_cfg = dataclasses.replace(rollout_cfg, image_ablation=ablation, ablations=())
        summaries[ablation] = evaluate_policy(policy, env_cfg, ablated_cfg, out_root / f"eval_{ablation}",
                                              progress=progress, policy_factory=policy_factory)
    return summaries


def env_task_label(env_cfg: Any) -> str:
    """A row label for result tables: the fixed instruction when the env has one, else its type."""
    return getattr(env_cfg, "instruction", None) or env_cfg.type
