"""What the robosuite task wrappers of :mod:`vst_envs.tasks` share: the robosuite-class adapter and boxes of
arbitrary bodies for the scene ground truth.

Importing this module imports robosuite (through :mod:`vst_envs.base`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import mujoco
import numpy as np

# vst_envs.base imports robosuite with its import-time noise filtered, so it must come before robosuite imports.
from vst_envs.base import CheapRenderMixin, RobosuiteGymEnv
from vst_envs.scene import BOX_CORNER_SIGNS, ObjectInfo

logger = logging.getLogger(__name__)


def adapt_robosuite_class(base: type) -> type:
    """A subclass of the robosuite env class ``base`` that the gym wrapper can build and seed.

    It takes ``cheap_render`` (see :class:`CheapRenderMixin`), and hands the composite placement sampler's
    generator (which :meth:`RobosuiteGymEnv.reset` points at gymnasium's ``np_random``) to its sub-samplers
    before every reset: robosuite's ``SequentialCompositeSampler`` (PickPlace, NutAssembly) samples with each
    sub-sampler's own generator, which would otherwise stay the one drawn at construction and make resets
    ignore their seed.
    """

    class _Adapted(CheapRenderMixin, base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, cheap_render: bool = False, **kwargs: Any) -> None:
            self._cheap_render = cheap_render
            super().__init__(*args, **kwargs)

        def _reset_internal(self) -> None:
            sampler = getattr(self, "placement_initializer", None)
            for sub in getattr(sampler, "samplers", {}).values():
                sub.rng = sampler.rng  # type: ignore[union-attr]
            super()._reset_internal()

    _Adapted.__name__ = _Adapted.__qualname__ = f"_{base.__name__}"
    return _Adapted


def _descendants(model: mujoco.MjModel, body_id: int) -> list[int]:
    """``body_id`` and every body below it in the kinematic tree."""
    return [b for b in range(model.nbody) if b == body_id or _is_below(model, b, body_id)]


def _is_below(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        body = int(model.body_parentid[body])
        if body == ancestor:
            return True
    return False


def bbox_object_info(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    body_name: str,
    name: str,
    category: str,
    color_name: str,
    color_rgb: Sequence[float],
    with_children: bool = False,
) -> ObjectInfo:
    """ObjectInfo of a body of any shape: the box is the tightest one, in the body's own axes, around the
    MuJoCo bounding boxes (``geom_aabb``) of the body's collision geoms (and its children's, with
    ``with_children``).

    ``position_world`` is the body's origin (what robosuite reports as the object's position, e.g. a nut's
    ring centre); the box centre may differ from it. ``geom_ids`` lists every geom of the bodies (visual ones
    too), as segmentation reports them. ``data`` must be forwarded. Raises KeyError for an unknown body and
    ValueError for a body without collision geoms.
    """
    body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body_name)
    if body_id < 0:
        raise KeyError(f"the model has no body {body_name!r}")
    bodies = _descendants(model, body_id) if with_children else [body_id]
    geoms = [g for g in range(model.ngeom) if int(model.geom_bodyid[g]) in bodies]
    # Visual geoms mirror the collision ones (or are decorative); collision geoms are the physical extent.
    solid = [g for g in geoms if model.geom_contype[g] or model.geom_conaffinity[g]]
    if not solid:
        raise ValueError(f"body {body_name!r} has no collision geoms")
    body_rot = data.xmat[body_id].reshape(3, 3)
    body_pos = data.xpos[body_id]
    corners_body = []
    for g in solid:
        centre, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
        corners_geom = centre + BOX_CORNER_SIGNS * half
        corners_world = data.geom_xpos[g] + corners_geom @ data.geom_xmat[g].reshape(3, 3).T
        corners_body.append((corners_world - body_pos) @ body_rot)
    points = np.concatenate(corners_body)
    low, high = points.min(axis=0), points.max(axis=0)
    centre_world = body_pos + body_rot @ ((low + high) / 2.0)
    half = (high - low) / 2.0
    w, x, y, z = data.xquat[body_id]
    return ObjectInfo(
        name=name,
        category=category,
        color_name=color_name,
        color_rgb=tuple(float(c) for c in color_rgb),  # type: ignore[arg-type]
        position_world=np.array(body_pos, dtype=np.float64),
        quat_world=np.array([x, y, z, w], dtype=np.float64),
        box_size=2.0 * half,
        box_corners_world=centre_world + (BOX_CORNER_SIGNS * half) @ body_rot.T,
        body_name=body_name,
        geom_ids=tuple(geoms),
    )


class TaskEnv(RobosuiteGymEnv):
    """A :class:`RobosuiteGymEnv` whose instruction is fixed by its config's ``instruction`` field, with
    helpers to read bodies and sites of the simulator."""

    @property
    def task_description(self) -> str:
        """The language instruction for this env (fixed by the config)."""
        return str(self.config.instruction)

    def _body_pose(self, body_id: int) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and quaternion (4, xyzw) of body ``body_id``, float64 copies."""
        data = self.sim_env.sim.data
        w, x, y, z = data.body_xquat[body_id]
        return np.array(data.body_xpos[body_id], dtype=np.float64), np.array([x, y, z, w], dtype=np.float64)

    def _body_id(self, name: str) -> int:
        return int(self.sim_env.sim.model.body_name2id(name))

    def _mj(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        """The raw MuJoCo model and data."""
        sim = self.sim_env.sim
        return sim.model._model, sim.data._data
