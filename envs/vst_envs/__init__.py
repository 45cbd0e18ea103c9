"""vst_envs: robosuite tasks as gymnasium envs, their configs and scripted experts.

Importing the package is cheap: it sets ``MUJOCO_GL=egl`` (unless a backend was chosen) before anything can
load MuJoCo, registers the env configs, and registers ``vst_envs/Lift-v0`` and ``vst_envs/TabletopPick-v0`` with
gymnasium. Robosuite is imported only when an env or expert is made.

Public API::

    make_env(cfg) -> gymnasium.Env               # LiftEnvConfig ("lift") or TabletopEnvConfig ("tabletop_pick")
    make_expert(cfg) -> expert with reset() and act(env) -> float32 (7,)
    env_config_from_dict(d) -> env config
    env.unwrapped.scene_ground_truth() -> vst_envs.scene.SceneGroundTruth
    vst_envs.views.render_views(env, [ViewSpec(...)], size) -> [(image, CameraInfo)]
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Must precede any mujoco / robosuite import: MuJoCo picks its GL backend when first loaded.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from typing import TYPE_CHECKING, Any  # noqa: E402

import gymnasium  # noqa: E402

from vst_envs.config import LiftEnvConfig, TabletopEnvConfig, env_config_from_dict  # noqa: E402
from vst_envs.registry import ENVS  # noqa: E402
from vst_envs.tasks import configs as _task_configs  # noqa: E402, F401  (registers the vst_envs.tasks envs)

if TYPE_CHECKING:
    from vst_envs.experts import LiftExpert

LIFT_ENV_ID = "vst_envs/Lift-v0"
TABLETOP_ENV_ID = "vst_envs/TabletopPick-v0"

__all__ = [
    "ENVS",
    "LIFT_ENV_ID",
    "TABLETOP_ENV_ID",
    "LiftEnvConfig",
    "TabletopEnvConfig",
    "env_config_from_dict",
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


def _make_from_kwargs(
    config_class: type, config: Any = None, render_mode: str | None = "rgb_array", **overrides: Any
) -> gymnasium.Env:
    if config is not None and overrides:
        raise ValueError(f"pass either config or {config_class.__name__} fields, not both (got {sorted(overrides)})")
    return make_env(config if config is not None else config_class(**overrides), render_mode=render_mode)


def _make_lift_from_kwargs(
    config: LiftEnvConfig | None = None, render_mode: str | None = "rgb_array", **overrides: Any
) -> gymnasium.Env:
    """gymnasium.make entry point: either a full ``config`` or LiftEnvConfig fields as keyword arguments."""
    return _make_from_kwargs(LiftEnvConfig, config, render_mode, **overrides)


def _make_tabletop_from_kwargs(
    config: TabletopEnvConfig | None = None, render_mode: str | None = "rgb_array", **overrides: Any
) -> gymnasium.Env:
    """gymnasium.make entry point: either a full ``config`` or TabletopEnvConfig fields as keyword arguments."""
    return _make_from_kwargs(TabletopEnvConfig, config, render_mode, **overrides)


# No max_episode_steps here: the env truncates itself, and gymnasium's TimeLimit would count a second time.
for _env_id, _entry_point in (
    (LIFT_ENV_ID, "vst_envs:_make_lift_from_kwargs"),
    (TABLETOP_ENV_ID, "vst_envs:_make_tabletop_from_kwargs"),
):
    if _env_id not in gymnasium.registry:
        gymnasium.register(_env_id, entry_point=_entry_point)
