"""Evaluate a policy in the env it was trained for, after checking that the two fit together.

A policy and an env must agree on the action dimension and the cameras before any action is sent: a mismatch is
refused here with what each side has, rather than surfacing as a crash or, worse, as wrong motions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from vst_vla.constants import OBS_IMAGES_PREFIX
from vst_vla.rollout.runner import evaluate
from vst_vla.rollout.stats import EvalSummary


class PolicyEnvMismatchError(ValueError):
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


def evaluate_policy(policy: Any, env_cfg: Any, rollout_cfg: Any, out_dir: Path, progress: bool = True) -> EvalSummary:
    """Run ``rollout_cfg.seeds`` episodes of ``policy`` in ``make_env(env_cfg)``; writes results to ``out_dir``."""
    from vst_envs import make_env

    def env_factory() -> gym.Env:
        env = make_env(env_cfg)
        try:
            check_policy_fits_env(policy, env)
        except PolicyEnvMismatchError:
            env.close()
            raise
        return env

    policy.eval()
    return evaluate(env_factory, policy, rollout_cfg.seeds, out_dir, n_videos=rollout_cfg.n_videos,
                    progress=progress, max_steps=rollout_cfg.max_steps)


def env_task_label(env_cfg: Any) -> str:
    """A row label for result tables: the fixed instruction when the env has one, else its type."""
    return getattr(env_cfg, "instruction", None) or env_cfg.type
