"""stack: robosuite Stack, "stack the red cube on the green cube".

Scene: Lift's table with a red 4 cm cube (robosuite's cubeA) and a green 5 cm cube (cubeB), placed uniformly
within +-8 cm of the table centre with random yaw. Success (robosuite's check): the red cube's centre more
than 4 cm above the table top, touching the green cube, and not held by the gripper, i.e. released on top.

Observations and actions are Lift's (:mod:`vst_envs.base`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

# vst_envs.base (imported by .common) filters robosuite's import-time noise, so .common comes first.
from vst_envs.base import make_robosuite_env
from vst_envs.scene import ObjectInfo, box_object_info
from vst_envs.tasks.common import TaskEnv, adapt_robosuite_class
from vst_envs.tasks.configs import StackEnvConfig

from robosuite.environments.manipulation.stack import Stack  # isort: skip

logger = logging.getLogger(__name__)

_RED = (1.0, 0.0, 0.0)
_GREEN = (0.0, 1.0, 0.0)
# robosuite's Stack cubes: half sizes (fixed: size_min == size_max).
CUBE_A_HALF_M = 0.02
CUBE_B_HALF_M = 0.025

_Stack = adapt_robosuite_class(Stack)


class StackEnv(TaskEnv):
    """Gymnasium wrapper of robosuite Stack (see the module docstring).

    Args:
        config: the env config (defaults to ``StackEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: StackEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else StackEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> Any:
        return make_robosuite_env(_Stack, self.config)

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies); float64, world frame, metres:

        ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2), ``table_height`` (scalar), the cube to
        move ``cube_a_pos`` (3) / ``cube_a_quat`` (4, xyzw) / ``cube_a_half`` (scalar, half edge) and the cube
        to stack on ``cube_b_pos`` / ``cube_b_quat`` / ``cube_b_half``.
        """
        state = self._robot_state()
        env = self.sim_env
        state["cube_a_pos"], state["cube_a_quat"] = self._body_pose(env.cubeA_body_id)
        state["cube_b_pos"], state["cube_b_quat"] = self._body_pose(env.cubeB_body_id)
        state["cube_a_half"] = np.float64(CUBE_A_HALF_M)
        state["cube_b_half"] = np.float64(CUBE_B_HALF_M)
        return state

    def _scene_objects(self) -> list[ObjectInfo]:
        env = self.sim_env
        model, data = self._mj()
        return [
            box_object_info(model, data, env.cubeA.root_body, "red_cube", "cube", "red", _RED),
            box_object_info(model, data, env.cubeB.root_body, "green_cube", "cube", "green", _GREEN),
        ]

    def _scene_task_fields(self) -> dict[str, Any]:
        return {"target_name": "red_cube", "reference_name": "green_cube", "relation": "on"}
