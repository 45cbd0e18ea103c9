"""door: robosuite Door (with its latch), "open the door".

Scene: a small table with a hinged door standing on it to the robot's right (world y < 0), its lever handle
facing the robot. The door's position varies by ~2 cm and its yaw by 0.25 rad per episode. The door is
latched: the lever (a 15 cm bar on a spring-loaded latch joint) must be turned far enough for the latch bolt
to clear the frame before the door swings. Success (robosuite's check): the hinge opened more than 0.3 rad
(the hinge stops at 0.4 rad).

Observations and actions are Lift's (:mod:`vst_envs.base`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
from typing import Any

import mujoco
import numpy as np

from vst_envs.base import make_robosuite_env
from vst_envs.scene import ObjectInfo
from vst_envs.tasks.common import TaskEnv, adapt_robosuite_class, bbox_object_info
from vst_envs.tasks.configs import DoorEnvConfig

from robosuite.environments.manipulation.door import Door  # isort: skip

logger = logging.getLogger(__name__)

# Dark-wood panel, brass-coloured lever.
_DOOR_RGB = (0.36, 0.22, 0.12)
_HANDLE_RGB = (0.8, 0.65, 0.3)

_Door = adapt_robosuite_class(Door)


class DoorEnv(TaskEnv):
    """Gymnasium wrapper of robosuite Door with the latch on (see the module docstring).

    Args:
        config: the env config (defaults to ``DoorEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: DoorEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else DoorEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> Any:
        return make_robosuite_env(_Door, self.config, use_latch=True)

    def _joint_frame(self, joint: str) -> tuple[np.ndarray, np.ndarray]:
        """World anchor (3,) and unit axis (3,) of the door model's joint ``joint``."""
        model, data = self._mj()
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
        return np.array(data.xanchor[jid], dtype=np.float64), np.array(data.xaxis[jid], dtype=np.float64)

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies); float64, world frame, metres, radians:

        ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2), ``table_height`` (scalar),
        ``handle_pos`` (3, the lever's free end), ``lever_pos`` (3, the lever bar's centre), ``lever_half``
        (3, the bar's half extents: length, thickness, height), ``hinge_qpos`` / ``latch_qpos`` (scalars,
        door and lever angles), ``hinge_anchor`` / ``hinge_axis`` and ``latch_anchor`` / ``latch_axis``
        (3 each: a point on each joint's axis and its unit direction; turning about the axis by a positive
        angle increases that joint's qpos) and ``door_pos`` (3) / ``door_quat`` (4, xyzw) of the panel.
        """
        state = self._robot_state()
        env = self.sim_env
        model, data = self._mj()
        qpos = env.sim.data.qpos
        state["handle_pos"] = np.array(data.site_xpos[env.door_handle_site_id], dtype=np.float64)
        lever = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, env.door.naming_prefix + "handle")
        state["lever_pos"] = np.array(data.geom_xpos[lever], dtype=np.float64)
        state["lever_half"] = np.array(model.geom_size[lever], dtype=np.float64)
        state["hinge_qpos"] = np.float64(qpos[env.hinge_qpos_addr])
        state["latch_qpos"] = np.float64(qpos[env.handle_qpos_addr])
        prefix = env.door.naming_prefix
        state["hinge_anchor"], state["hinge_axis"] = self._joint_frame(prefix + "hinge")
        state["latch_anchor"], state["latch_axis"] = self._joint_frame(prefix + "latch_joint")
        state["door_pos"], state["door_quat"] = self._body_pose(env.object_body_ids["door"])
        return state

    def _scene_objects(self) -> list[ObjectInfo]:
        model, data = self._mj()
        door = self.sim_env.door
        return [
            bbox_object_info(model, data, door.door_body, "door", "door", "brown", _DOOR_RGB),
            bbox_object_info(model, data, door.latch_body, "handle", "handle", "gold", _HANDLE_RGB),
        ]

    def _scene_task_fields(self) -> dict[str, Any]:
        return {
            "target_name": "door",
            "extras": {"hinge_qpos": float(self.sim_env.sim.data.qpos[self.sim_env.hinge_qpos_addr])},
        }
