"""vst_envs: robosuite tasks as gymnasium envs, their configs and scripted experts.

Importing the package is cheap: it sets ``MUJOCO_GL=egl`` (unless a backend was chosen) before anything can
load MuJoCo and registers the env configs; registering a config also registers its gymnasium id
(``vst_envs/<CamelCaseType>-v0``, see :mod:`vst_envs.registry`). Robosuite is imported only when an env or expert
is made.

Public API::

    make_env(cfg) -> gymnasium.Env               # LiftEnvConfig ("lift") or TabletopEnvConfig ("tabletop_pick")
    make_expert(cfg) -> expert with reset() and act(env) -> float32 (7,)
    env_config_from_dict(d) -> env config
    gymnasium.make("vst_envs/Lift-v0", image_size=64) -> the same env, config fields as keyword arguments
    ENVS.gym_ids() -> {"lift": "vst_envs/Lift-v0", ...}
    env.unwrapped.scene_ground_truth() -> vst_envs.scene.SceneGroundTruth
    vst_envs.views.render_views(env, [ViewSpec(...)], size) -> [(image, CameraInfo)]
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Must precede any mujoco / robosuite import: MuJoCo picks its GL backend when first loaded.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from typing import TYPE_CHECKING, Any

import gymnasium

from vst_envs.config import LiftEnvConfig, TabletopEnvConfig, env_config_from_dict
from vst_envs.registry import ENVS, gym_id
from vst_envs.tasks import configs as _task_configs  # noqa: F401  (registers the vst_envs.tasks envs)

if TYPE_CHECKING:
    from vst_envs.experts import LiftExpert

LIFT_ENV_ID = gym_id("lift")
TABLETOP_ENV_ID = gym_id("tabletop_pick")

__all__ = [
    "ENVS",
    "LIFT_ENV_ID",
    "TABLETOP_ENV_ID",
    "LiftEnvConfig",
    "TabletopEnvConfig",
    "env_config_from_dict",
    "gym_id",
    "make_env",
    "make_expert",
]


def make_env(cfg: Any, render_mode: str | None = "rgb_array") -> gymnasium.Env:
    """Build the env a registered config describes (dispatching on the config's class via ``env_class()``).

    Args:
        cfg: an env config instance such as ``LiftEnvConfig``, or a mapping with a ``type`` key (saved metadata).
        render_mode: passed to the env; ``"rgb_array"`` makes ``env.render()`` return the first camera.
    Returns:
        The gymnasium env (unwrapped; its own ``max_episode_steps`` handles truncation).
    """
    if isinstance(cfg, Mapping):
        cfg = env_config_from_dict(cfg)
    return cfg.env_class()(cfg, render_mode=render_mode)


def make_expert(cfg: Any) -> LiftExpert:
    """Build the scripted expert for the env a config describes (via the config's ``expert_class()``)."""
    if isinstance(cfg, Mapping):
        cfg = env_config_from_dict(cfg)
    return cfg.expert_class()()
