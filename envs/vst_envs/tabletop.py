"""tabletop_pick: coloured cubes on robosuite's table; pick the one an instruction names by a spatial relation.

Scene: robosuite's table arena with a Panda (as in Lift) and ``num_cubes`` 4 cm cubes of distinct colours,
placed uniformly at random (random yaw, every pair at least :data:`MIN_SEPARATION_M` apart so the open gripper
fits between them). Colours are drawn per episode from the config's palette.

Task: a relation (:mod:`vst_envs.relations`) that singles out one cube, e.g. "pick up the cube left of the
green cube" or "pick up the cube closest to the robot". Left / right are the viewer's, in the agentview
camera (which looks back at the robot, so image-left is world -y, the robot's right); distances to the robot
are horizontal distances to its base. Placements are redrawn until some relation has a unique answer.
Success: the *target* cube's bottom at least :data:`LIFT_SUCCESS_M` above the table top (any other cube lifted
does not count). Reward: 1 on success, else 0.

Observations and actions are Lift's (:mod:`vst_envs.base`). Importing this module imports robosuite.
"""

from __future__ import annotations

import logging
from typing import Any

import mujoco
import numpy as np

# vst_envs.base imports robosuite with its import-time noise filtered, so it must come before robosuite imports.
from vst_envs.base import CheapRenderMixin, RobosuiteGymEnv, make_robosuite_env
from vst_envs.config import CUBE_COLORS, TabletopEnvConfig
from vst_envs.relations import SpatialTask, ViewFrame, candidate_tasks, sample_task
from vst_envs.scene import ObjectInfo, box_object_info, camera_info_from_model

from robosuite.environments.manipulation.manipulation_env import ManipulationEnv  # isort: skip
from robosuite.models.arenas import TableArena  # isort: skip
from robosuite.models.objects import BoxObject  # isort: skip
from robosuite.models.tasks import ManipulationTask  # isort: skip
from robosuite.utils.placement_samplers import UniformRandomSampler  # isort: skip

logger = logging.getLogger(__name__)

CUBE_HALF_SIZE_M = 0.02
# Placement area of cube centres relative to the table centre (x towards agentview / away from the robot):
# reachable, and inside the agentview image at every position.
PLACEMENT_X_RANGE_M = (-0.12, 0.14)
PLACEMENT_Y_RANGE_M = (-0.22, 0.22)
# Centre-to-centre spacing: the open Panda gripper spans ~10 cm across its fingers, so a neighbour closer
# than this could be hit while descending onto the target.
MIN_SEPARATION_M = 0.09
LIFT_SUCCESS_M = 0.04
# Camera whose horizontal right axis defines "left" / "right".
RELATION_CAMERA = "agentview"
_MAX_PLACEMENT_ATTEMPTS = 1000


class _TabletopPick(CheapRenderMixin, ManipulationEnv):
    """The robosuite task behind :class:`TabletopEnv` (table arena like Lift, several cubes, one target)."""

    def __init__(
        self,
        robots: Any,
        *,
        cheap_render: bool = False,
        num_cubes: int = 4,
        colors: tuple[str, ...] = tuple(CUBE_COLORS),
        relations: tuple[str, ...] = (),
        table_full_size: tuple[float, float, float] = (0.8, 0.8, 0.05),
        table_friction: tuple[float, float, float] = (1.0, 5e-3, 1e-4),
        reward_shaping: bool = False,  # accepted for Lift compatibility; the reward is always sparse
        **kwargs: Any,
    ) -> None:
        self._cheap_render = cheap_render
        self.num_cubes = num_cubes
        self.palette = tuple(colors)
        self.relations = tuple(relations)
        self.table_full_size = table_full_size
        self.table_friction = table_friction
        self.table_offset = np.array((0.0, 0.0, 0.8))
        self.cube_colors: list[str] = []
        self.task: SpatialTask | None = None
        self.view: ViewFrame | None = None  # set from the camera pose once the sim exists
        super().__init__(robots=robots, initialization_noise="default", **kwargs)

    # --- model -----------------------------------------------------------------------------------------------

    def _load_model(self) -> None:
        super()._load_model()
        robot_model = self.robots[0].robot_model
        robot_model.set_base_xpos(robot_model.base_xpos_offset["table"](self.table_full_size[0]))
        arena = TableArena(
            table_full_size=self.table_full_size, table_friction=self.table_friction, table_offset=self.table_offset
        )
        arena.set_origin([0, 0, 0])
        half = [CUBE_HALF_SIZE_M] * 3
        # No material: the visual geom's rgba is its colour, so colours can change per episode (model.geom_rgba).
        self.cubes = [
            BoxObject(name=f"cube{i}", size=half, rgba=[*CUBE_COLORS[self.palette[i]], 1.0], rng=self.rng)
            for i in range(self.num_cubes)
        ]
        self.placement_initializer = UniformRandomSampler(
            name="CubeSampler",
            mujoco_objects=self.cubes,
            x_range=PLACEMENT_X_RANGE_M,
            y_range=PLACEMENT_Y_RANGE_M,
            rotation=None,  # uniform random yaw
            ensure_object_boundary_in_range=True,
            ensure_valid_placement=True,
            reference_pos=self.table_offset,
            # Resting exactly on the table (Lift drops its cube from 1 cm): the first frame's ground truth is then
            # the settled scene, not a cube still falling.
            z_offset=0.0,
            rng=self.rng,
        )
        self.model = ManipulationTask(
            mujoco_arena=arena, mujoco_robots=[r.robot_model for r in self.robots], mujoco_objects=self.cubes
        )

    def _setup_references(self) -> None:
        super()._setup_references()
        model = self.sim.model
        self.cube_body_ids = [model.body_name2id(c.root_body) for c in self.cubes]
        self.cube_geom_ids = [[model.geom_name2id(g) for g in c.visual_geoms + c.contact_geoms] for c in self.cubes]
        # Kinematics on scratch data: the task sampler needs the (fixed) camera and robot base poses during
        # reset, before the sim's own data is forwarded (sim.reset zeroes it).
        scratch = mujoco.MjData(model._model)
        mujoco.mj_forward(model._model, scratch)
        cam = camera_info_from_model(model._model, scratch, RELATION_CAMERA, 1, 1)
        self.view = ViewFrame.from_pose(cam.world_from_camera)
        self.robot_base_pos = np.array(scratch.xpos[model.body_name2id(self.robots[0].robot_model.root_body)])

    # --- episodes --------------------------------------------------------------------------------------------

    def _reset_internal(self) -> None:
        super()._reset_internal()
        if self.deterministic_reset:
            return
        placements, colors, task = self._sample_episode()
        for pos, quat, cube in placements:
            self.sim.data.set_joint_qpos(cube.joints[0], np.concatenate([np.array(pos), np.array(quat)]))
        for geoms, color in zip(self.cube_geom_ids, colors):
            self.sim.model.geom_rgba[geoms] = [*CUBE_COLORS[color], 1.0]
        self.cube_colors = colors
        self.task = task
        logger.debug("tabletop_pick: %s (target cube%d, colours %s)", task.instruction, task.target, colors)

    def _sample_episode(self) -> tuple[list[tuple[Any, Any, Any]], list[str], SpatialTask]:
        """Placements (pos, quat wxyz, cube) in cube order, colours and a task with a unique answer."""
        for _ in range(_MAX_PLACEMENT_ATTEMPTS):
            sampled = self.placement_initializer.sample()
            placements = [sampled[c.name] for c in self.cubes]
            positions = np.array([p[0] for p in placements], dtype=np.float64)
            gaps = np.linalg.norm(positions[:, None, :2] - positions[None, :, :2], axis=-1)
            if np.min(gaps + np.eye(len(positions))) < MIN_SEPARATION_M:
                continue
            colors = [str(c) for c in self.rng.choice(self.palette, size=self.num_cubes, replace=False)]
            assert self.view is not None
            tasks = candidate_tasks(positions, colors, self.view, self.robot_base_pos, self.relations)
            if tasks:
                return placements, colors, sample_task(tasks, self.rng)
        raise RuntimeError(f"no valid tabletop_pick episode in {_MAX_PLACEMENT_ATTEMPTS} placement attempts")

    # --- task ------------------------------------------------------------------------------------------------

    @property
    def target_body_id(self) -> int:
        assert self.task is not None
        return self.cube_body_ids[self.task.target]

    def target_lift_m(self) -> float:
        """How far the target cube's bottom is above the table top, metres."""
        z = float(self.sim.data.body_xpos[self.target_body_id][2])
        return z - CUBE_HALF_SIZE_M - float(self.table_offset[2])

    def _check_success(self) -> bool:
        return self.task is not None and self.target_lift_m() >= LIFT_SUCCESS_M

    def reward(self, action: Any = None) -> float:
        return 1.0 if self._check_success() else 0.0


class TabletopEnv(RobosuiteGymEnv):
    """Gymnasium env of tabletop_pick (see the module docstring); the instruction changes every episode.

    Args:
        config: the env config (defaults to ``TabletopEnvConfig()``).
        render_mode: ``"rgb_array"`` (default when the config has cameras) or None.
    """

    def __init__(self, config: TabletopEnvConfig | None = None, render_mode: str | None = "rgb_array") -> None:
        super().__init__(config if config is not None else TabletopEnvConfig(), render_mode=render_mode)

    def _build_sim_env(self) -> _TabletopPick:
        cfg = self.config
        return make_robosuite_env(
            _TabletopPick, cfg, num_cubes=cfg.num_cubes, colors=cfg.colors, relations=cfg.relations
        )

    @property
    def spatial_task(self) -> SpatialTask:
        """The current episode's task (relation, target / reference indices, instruction)."""
        task = self.sim_env.task
        if task is None:
            raise RuntimeError("call reset() first")
        return task

    @property
    def task_description(self) -> str:
        """This episode's instruction, e.g. "pick up the cube left of the green cube"."""
        return self.spatial_task.instruction

    @property
    def target_name(self) -> str:
        """Name (``"cube<i>"``) of the cube the instruction refers to."""
        return f"cube{self.spatial_task.target}"

    def cube_names(self) -> list[str]:
        """Names of the cubes, in index order."""
        return [c.name for c in self.sim_env.cubes]

    def privileged_state(self) -> dict[str, Any]:
        """Simulator state for scripted experts (not for policies); float64 arrays, world frame, metres:

        ``eef_pos`` (3), ``eef_quat`` (4, xyzw), ``gripper_qpos`` (2), ``table_height`` (scalar),
        ``target_pos`` (3) / ``target_quat`` (4, xyzw) of the target cube, ``gripper_to_target_pos`` (3, target
        minus eef), ``cube_positions`` (N, 3) of all cubes in index order, and ``target_index`` (int).
        """
        state = self._robot_state()
        env = self.sim_env
        data = env.sim.data
        body = env.target_body_id
        state["target_pos"] = np.array(data.body_xpos[body], dtype=np.float64)
        w, x, y, z = data.body_xquat[body]
        state["target_quat"] = np.array([x, y, z, w], dtype=np.float64)
        state["gripper_to_target_pos"] = state["target_pos"] - state["eef_pos"]
        state["cube_positions"] = np.array([data.body_xpos[b] for b in env.cube_body_ids], dtype=np.float64)
        state["target_index"] = self.spatial_task.target
        return state

    def _scene_objects(self) -> list[ObjectInfo]:
        env = self.sim_env
        model, data = env.sim.model._model, env.sim.data._data
        return [
            box_object_info(
                model,
                data,
                body_name=cube.root_body,
                name=cube.name,
                category="cube",
                color_name=color,
                color_rgb=CUBE_COLORS[color],
            )
            for cube, color in zip(env.cubes, env.cube_colors)
        ]

    def _scene_task_fields(self) -> dict[str, Any]:
        task = self.spatial_task
        return {
            "target_name": self.target_name,
            "reference_name": None if task.reference is None else f"cube{task.reference}",
            "relation": task.relation,
            "instruction": task.instruction,
            "extras": {"relation_camera": RELATION_CAMERA, "view_right_axis": self.sim_env.view.right_axis.copy()},
        }
