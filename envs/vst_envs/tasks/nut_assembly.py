"""nut_assembly_square: robosuite NutAssemblySquare, "put the square nut on the square peg".

Scene: a table with two pegs, a square brass one (peg1, 3.2 cm across, its top 13 cm above the table) and a
round steel one (peg2). A square nut (a ring with ~4.5 cm hole and a handle) starts on the left of the table
(world y > 0) with random yaw; the round nut of full NutAssembly is parked far away. The hole leaves ~7 mm
of play on each side of the peg.

Success (robosuite's check): the nut's centre within 3 cm of the square peg's axis in x and y, less than
5 cm above the table, and the grip site more than ~4.2 cm from the
nut's centre (robosuite's "let go" test; holding the handle, 5.4 cm out, already passes it).

Observations and actions are Lift's (:mod:`vst_envs.base`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vst_envs.base import make_robosuite_env
from vst_envs.scene import ObjectInfo
from vst_envs.tasks.common import TaskEnv, adapt_robosuite_class, bbox_object_info
from vst_envs.tasks.configs import NutAssemblySquareEnvConfig

from robosuite.environments.manipulation.nut_assembly import NutAssemblySquare  # isort: skip

logger = logging.getLogger(__name__)

_BRASS_RGB = (0.8, 0.65, 0.3)
_STEEL_RGB = (0.7, 0.7, 0.72)

_NutAssemblySquare = adapt_robosuite_class(NutAssemblySquare)


class NutAssemblySquareEnv(TaskEnv):
    """Gymnasium wrapper of robosuite NutAssemblySquare (see the module docstring).

    Args:
        config: the env config (defaults to ``NutAssemblySquareEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: NutAssemblySquareEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else NutAssemblySquareEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> Any:
        return make_robosuite_env(_NutAssemblySquare, self.config)

    def _nut(self) -> Any:
        env = self.sim_env
        return env.nuts[env.nut_id]

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies); float64, world frame, metres:

        ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2), ``table_height`` (scalar),
        ``nut_pos`` (3, the ring's centre) / ``nut_quat`` (4, xyzw), ``handle_pos`` (3, the handle's centre),
        ``peg_pos`` (3, the square peg's centre) / ``peg_quat`` (4, xyzw), ``peg_top`` (scalar, world z of
        the peg's top) and ``robot_base_pos`` (3).
        """
        state = self._robot_state()
        env = self.sim_env
        nut = self._nut()
        state["nut_pos"], state["nut_quat"] = self._body_pose(env.obj_body_id[nut.name])
        state["handle_pos"] = np.array(env.sim.data.site_xpos[env.object_site_ids[env.nut_id]], dtype=np.float64)
        state["peg_pos"], state["peg_quat"] = self._body_pose(env.peg1_body_id)
        model, data = self._mj()
        geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] == env.peg1_body_id]
        state["peg_top"] = np.float64(max(data.geom_xpos[g][2] + model.geom_size[g][2] for g in geoms))
        state["robot_base_pos"] = self.robot_base_pos
        return state

    def _scene_objects(self) -> list[ObjectInfo]:
        model, data = self._mj()
        return [
            bbox_object_info(model, data, self._nut().root_body, "square_nut", "nut", "gold", _BRASS_RGB),
            bbox_object_info(model, data, "peg1", "square_peg", "peg", "gold", _BRASS_RGB),
            bbox_object_info(model, data, "peg2", "round_peg", "peg", "silver", _STEEL_RGB),
        ]

    def _scene_task_fields(self) -> dict[str, Any]:
        return {"target_name": "square_nut", "reference_name": "square_peg", "relation": "on"}
