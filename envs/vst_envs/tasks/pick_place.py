"""pick_place_can: robosuite PickPlaceCan, "put the can in the bin".

Scene: robosuite's two bins (the Panda placed for bins). A soda can (5 cm across, 8 cm tall) starts at a
uniformly random spot of the left bin (bin1, world y < 0) with random yaw; the other three PickPlace objects
are parked far away. The right bin (bin2) is split into four quadrants, one per object; the can's quadrant is
marked by a translucent can-shaped outline (a visual-only object).

Success (robosuite's single-object check): the can's centre inside the can's quadrant of bin2 (in x and y),
between the bin floor and 10 cm above it, and the grip site more than ~4.2 cm from the can's centre (let go).

Observations and actions are Lift's (:mod:`vst_envs.base`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vst_envs.base import make_robosuite_env
from vst_envs.scene import ObjectInfo
from vst_envs.tasks.common import TaskEnv, adapt_robosuite_class, bbox_object_info
from vst_envs.tasks.configs import PickPlaceCanEnvConfig

from robosuite.environments.manipulation.pick_place import PickPlaceCan  # isort: skip

logger = logging.getLogger(__name__)

# The soda texture is mostly red; the bins are light wood.
_CAN_RGB = (0.8, 0.1, 0.1)
_BIN_RGB = (0.76, 0.6, 0.42)
# Half height of the can mesh (its body origin is its centre).
CAN_HALF_HEIGHT_M = 0.04

_PickPlaceCan = adapt_robosuite_class(PickPlaceCan)


class PickPlaceCanEnv(TaskEnv):
    """Gymnasium wrapper of robosuite PickPlaceCan (see the module docstring).

    Args:
        config: the env config (defaults to ``PickPlaceCanEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: PickPlaceCanEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else PickPlaceCanEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> Any:
        return make_robosuite_env(_PickPlaceCan, self.config)

    @property
    def table_height_m(self) -> float:
        """World z (metres) of the bins' floor (the bins arena has no table top)."""
        model, data = self._mj()
        bin_id = self._body_id("bin1")
        # The floor is the bin body's lowest collision box; its top is what objects rest on.
        floors = [g for g in range(model.ngeom) if model.geom_bodyid[g] == bin_id and model.geom_contype[g]]
        return float(min(data.geom_xpos[g][2] + model.geom_size[g][2] for g in floors))

    def _can(self) -> Any:
        env = self.sim_env
        return env.objects[env.object_id]

    def target_region(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (low (3,), high (3,), world metres) the can's centre must end in (robosuite's check)."""
        env = self.sim_env
        bin_id = env.object_id
        low = np.array(env.bin2_pos, dtype=np.float64)
        if bin_id in (0, 2):
            low[0] -= env.bin_size[0] / 2
        if bin_id < 2:
            low[1] -= env.bin_size[1] / 2
        high = low + np.array([env.bin_size[0] / 2, env.bin_size[1] / 2, 0.1])
        return low, high

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies); float64, world frame, metres:

        ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2), ``table_height`` (scalar, the bin floor),
        ``can_pos`` (3, the can's centre) / ``can_quat`` (4, xyzw), ``can_half_height`` (scalar),
        ``target_pos`` (3, the centre of the can's quadrant of bin2 at floor height), ``target_low`` /
        ``target_high`` (3 each, the box the can's centre must end in), ``bin_wall_top`` (scalar, world z
        of the bins' rims) and ``robot_base_pos`` (3).
        """
        state = self._robot_state()
        env = self.sim_env
        state["can_pos"], state["can_quat"] = self._body_pose(env.obj_body_id[self._can().name])
        state["can_half_height"] = np.float64(CAN_HALF_HEIGHT_M)
        state["target_pos"] = np.array(env.target_bin_placements[env.object_id], dtype=np.float64)
        state["target_pos"][2] = state["table_height"]
        state["target_low"], state["target_high"] = self.target_region()
        state["robot_base_pos"] = self.robot_base_pos
        model, data = self._mj()
        state["bin_wall_top"] = np.float64(
            max(data.geom_xpos[g][2] + model.geom_size[g][2] for g in self._bin_geoms("bin2"))
        )
        return state

    def _bin_geoms(self, body: str) -> list[int]:
        model, _ = self._mj()
        bin_id = self._body_id(body)
        return [g for g in range(model.ngeom) if model.geom_bodyid[g] == bin_id and model.geom_contype[g]]

    def _scene_objects(self) -> list[ObjectInfo]:
        model, data = self._mj()
        return [
            bbox_object_info(model, data, self._can().root_body, "can", "can", "red", _CAN_RGB),
            bbox_object_info(model, data, "bin1", "source_bin", "bin", "brown", _BIN_RGB),
            bbox_object_info(model, data, "bin2", "target_bin", "bin", "brown", _BIN_RGB),
        ]

    def _scene_task_fields(self) -> dict[str, Any]:
        low, high = self.target_region()
        return {
            "target_name": "can",
            "reference_name": "target_bin",
            "relation": "in",
            "extras": {"target_region_low": low, "target_region_high": high},
        }
