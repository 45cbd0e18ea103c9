"""Robosuite Lift as a gymnasium env with LeRobot-style observations and delta end-effector actions.

Observation: ``{"pixels": {camera: uint8 (H, W, 3)}, "agent_pos": float32 (9,)}`` and 7-D OSC_POSE delta
actions in [-1, 1]; see :mod:`vst_envs.base` for the layout. Success: the red cube's centre more than 4 cm
above the table top (robosuite's own check).

Importing this module imports robosuite; :mod:`vst_envs` imports it only when an env is made.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

# vst_envs.base imports robosuite with its import-time noise filtered, so it must come before robosuite imports.
from vst_envs.base import (
    ACTION_DIM,
    AGENT_POS_DIM,
    CheapRenderMixin,
    RobosuiteGymEnv,
    make_robosuite_env,
)
from vst_envs.config import LiftEnvConfig
from vst_envs.scene import ObjectInfo, box_object_info

from robosuite.environments.manipulation.lift import Lift  # isort: skip

logger = logging.getLogger(__name__)

__all__ = ["ACTION_DIM", "AGENT_POS_DIM", "LiftEnv"]

# Lift's cube is red; its visual geom uses robosuite's red-wood material.
_CUBE_RGB = (1.0, 0.0, 0.0)


class _Lift(CheapRenderMixin, Lift):
    """Robosuite Lift that can strip the model's render cost before the offscreen GL context is created."""

    def __init__(self, *args: Any, cheap_render: bool = False, **kwargs: Any) -> None:
        self._cheap_render = cheap_render
        super().__init__(*args, **kwargs)


class LiftEnv(RobosuiteGymEnv):
    """Gymnasium wrapper of robosuite Lift (Panda, OSC_POSE delta control); see the module docstring.

    Args:
        config: the env config (defaults to ``LiftEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: LiftEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else LiftEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> _Lift:
        return make_robosuite_env(_Lift, self.config)

    @property
    def task_description(self) -> str:
        """The language instruction for this env (fixed by the config)."""
        return self.config.instruction

    def privileged_state(self) -> dict[str, np.ndarray]:
        """Simulator state for scripted experts (not for policies): float64 copies of

        ``cube_pos`` (3), ``cube_quat`` (4, xyzw), ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2),
        ``gripper_to_cube_pos`` (3, cube minus eef) and ``table_height`` (scalar, world z of the table top).
        Positions are in the world frame, which the robot base frame is aligned with.
        """
        state = self._robot_state()
        raw = self._raw_obs
        assert raw is not None
        for key in ("cube_pos", "cube_quat"):
            state[key] = np.array(raw[key], dtype=np.float64)
        # Computed here: robosuite's own gripper_to_cube_pos reads zeros when its sensor cache is cold.
        state["gripper_to_cube_pos"] = state["cube_pos"] - state["eef_pos"]
        return state

    def _scene_objects(self) -> list[ObjectInfo]:
        env = self.sim_env
        return [
            box_object_info(
                env.sim.model._model,
                env.sim.data._data,
                body_name=env.cube.root_body,
                name="cube",
                category="cube",
                color_name="red",
                color_rgb=_CUBE_RGB,
            )
        ]
