"""Render the current state of a vst_envs env from extra viewpoints, with the camera model of each render.

``render_views(env, [ViewSpec(...)], size)`` returns upright uint8 images and their :class:`CameraInfo`, so
ground-truth points project onto them with :func:`vst_envs.scene.project`. A view is either a model camera by
name (``ViewSpec(camera="agentview")``) or a MuJoCo free camera orbiting a look-at point (azimuth / elevation /
distance, MuJoCo's conventions: the camera looks along ``(cos el cos az, cos el sin az, sin el)``, so
``azimuth_deg=180, elevation_deg=-30`` looks from +x towards the robot and down). :func:`orbit_views` makes a
ring of such views around the table.

Rendering never disturbs the env: it uses its own MjvScene / MjvCamera / MjvOption and only reads the
simulator data. It draws through the env's own GL context and framebuffer (made current first, as every
vst_envs render does, and left to the env afterwards); a camera-free env is given robosuite's offscreen
context on first use (freed with the simulator). Image sizes are limited to the model's offscreen buffer
(640 x 480 for robosuite models).

Segmentation renders (:func:`render_segmentations`) give MuJoCo geom ids per pixel; with multisampling on
(cheap_render off) object edges can carry blended, meaningless ids, so use cheap_render where exact masks matter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from vst_envs.scene import CameraInfo, ObjectInfo, camera_info_from_gl_camera

logger = logging.getLogger(__name__)

# Same as vst_envs.base.CHEAP_RENDER_OFF_FLAGS (not imported: this module must not import robosuite).
_CHEAP_OFF_FLAGS = (
    mujoco.mjtRndFlag.mjRND_SHADOW,
    mujoco.mjtRndFlag.mjRND_REFLECTION,
    mujoco.mjtRndFlag.mjRND_SKYBOX,
)


@dataclass(frozen=True)
class ViewSpec:
    """One viewpoint: a model camera (``camera`` set) or a free camera (the orbit fields).

    Attributes:
        name: the view's name (the CameraInfo's name for free cameras).
        camera: a model camera name (e.g. ``"agentview"``); the orbit fields are then ignored.
        azimuth_deg: direction the free camera looks in, degrees about world z from +x (180 looks along -x).
        elevation_deg: degrees above the horizontal the camera looks (negative looks down).
        distance_m: metres from the camera to ``lookat``.
        lookat: (3,) world point the camera looks at, metres.
        fovy_deg: vertical field of view; None uses the model's free-camera fovy (45 degrees in robosuite).
    """

    name: str = "view"
    camera: str | None = None
    azimuth_deg: float = 180.0
    elevation_deg: float = -35.0
    distance_m: float = 1.3
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.82)
    fovy_deg: float | None = None

    def __post_init__(self) -> None:
        if self.camera is None and self.distance_m <= 0:
            raise ValueError(f"distance_m must be positive, got {self.distance_m}")
        if self.fovy_deg is not None and not 0 < self.fovy_deg < 180:
            raise ValueError(f"fovy_deg must be in (0, 180), got {self.fovy_deg}")


def orbit_views(
    n: int,
    elevation_deg: float = -35.0,
    distance_m: float = 1.3,
    lookat: Sequence[float] = (0.0, 0.0, 0.82),
    start_azimuth_deg: float = 180.0,
    span_deg: float = 360.0,
    fovy_deg: float | None = None,
) -> list[ViewSpec]:
    """``n`` free-camera views evenly spaced in azimuth over ``span_deg`` starting at ``start_azimuth_deg``.

    The default ring is centred on the table (robosuite's table top is at z = 0.8 m) and starts on the
    agentview side (looking along -x, towards the robot).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    step = span_deg / n if span_deg >= 360.0 else span_deg / max(n - 1, 1)
    return [
        ViewSpec(
            name=f"orbit{i}",
            azimuth_deg=start_azimuth_deg + i * step,
            elevation_deg=elevation_deg,
            distance_m=distance_m,
            lookat=tuple(float(x) for x in lookat),  # type: ignore[arg-type]
            fovy_deg=fovy_deg,
        )
        for i in range(n)
    ]


class ViewRenderer:
    """Renders an env's current state from :class:`ViewSpec` viewpoints (see the module docstring).

    Made by ``env.unwrapped.view_renderer()`` and freed by the env's ``close``; not meant to be built directly.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        sim = env.sim_env.sim
        self._model: mujoco.MjModel = sim.model._model
        self._data: mujoco.MjData = sim.data._data
        context = sim._render_context_offscreen
        if context is None:
            context = _attach_render_context(env)
        # Borrow the env's context: no second EGL context, and the env's render settings (hidden collision
        # geoms, cheap-render flags) apply to the views too. Its MjrContext is looked up at each render because
        # robosuite replaces it when it grows the framebuffer.
        self._context = context
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = context.vopt.geomgroup
        self._scene = mujoco.MjvScene(self._model, maxgeom=10000)
        self._scene.flags[:] = context.scn.flags

    @property
    def max_size(self) -> tuple[int, int]:
        """Largest ``(width, height)`` the framebuffer holds."""
        con = self._context.con
        return int(con.offWidth), int(con.offHeight)

    def render(
        self, view: ViewSpec, width: int, height: int, segmentation: bool = False
    ) -> tuple[np.ndarray, CameraInfo]:
        """Render one view.

        Returns ``(image, camera)``: image is upright uint8 (H, W, 3), or with ``segmentation`` int32 (H, W)
        MuJoCo geom ids (-1 where no geom is seen); camera is the CameraInfo of exactly this render.
        """
        max_w, max_h = self.max_size
        if not (0 < width <= max_w and 0 < height <= max_h):
            raise ValueError(f"view size {width}x{height} must be positive and at most {max_w}x{max_h}")
        self._context.gl_ctx.make_current()
        try:
            camera = self._update_scene(view, width, height)
            image = self._draw(width, height, segmentation)
        finally:
            # Leave the env's own context current, as its next robosuite render expects.
            self._env._make_gl_current()
        return image, camera

    def _update_scene(self, view: ViewSpec, width: int, height: int) -> CameraInfo:
        cam = mujoco.MjvCamera()
        if view.camera is not None:
            cam_id = mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_CAMERA, view.camera)
            if cam_id < 0:
                raise KeyError(f"the model has no camera {view.camera!r}")
            cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
            cam.fixedcamid = cam_id
        else:
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
            cam.lookat[:] = view.lookat
            cam.distance = view.distance_m
            cam.azimuth = view.azimuth_deg
            cam.elevation = view.elevation_deg
        global_vis = self._model.vis.global_
        saved_fovy = float(global_vis.fovy)
        if view.camera is None and view.fovy_deg is not None:
            # Free cameras take the model-wide fovy; set it only while the scene is built (model cameras and
            # robosuite's renders do not read it).
            global_vis.fovy = view.fovy_deg
        try:
            mujoco.mjv_updateScene(
                self._model, self._data, self._option, None, cam, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene
            )
        finally:
            global_vis.fovy = saved_fovy
        # Mono rendering draws with the average of the two eye cameras (mjr_render does the same).
        gl_camera = mujoco.mjv_averageCamera(self._scene.camera[0], self._scene.camera[1])
        return camera_info_from_gl_camera(gl_camera, view.camera or view.name, width, height)

    def _draw(self, width: int, height: int, segmentation: bool) -> np.ndarray:
        viewport = mujoco.MjrRect(0, 0, width, height)
        flags = self._scene.flags
        saved = (flags[mujoco.mjtRndFlag.mjRND_SEGMENT], flags[mujoco.mjtRndFlag.mjRND_IDCOLOR])
        if segmentation:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
            flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
        try:
            con = self._context.con
            mujoco.mjr_render(viewport, self._scene, con)
            rgb = np.empty((height, width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(rgb, None, viewport, con)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT], flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = saved
        # OpenGL rows run bottom-up; flip to the upright frames vst_envs uses everywhere.
        rgb = np.ascontiguousarray(rgb[::-1])
        return self._decode_segmentation(rgb) if segmentation else rgb

    def _decode_segmentation(self, rgb: np.ndarray) -> np.ndarray:
        """Geom ids (H, W) int32 from an ID-colour frame: colour = segid + 1, 0 = background."""
        code = rgb[..., 0].astype(np.int64) | (rgb[..., 1].astype(np.int64) << 8) | (rgb[..., 2].astype(np.int64) << 16)
        ngeom = self._scene.ngeom
        lookup = np.full(ngeom + 1, -1, dtype=np.int32)
        for i in range(ngeom):
            geom = self._scene.geoms[i]
            if geom.segid >= 0 and geom.objtype == mujoco.mjtObj.mjOBJ_GEOM:
                lookup[geom.segid + 1] = geom.objid
        # Codes past the table (blended edges under multisampling) mean nothing: background.
        code[(code < 0) | (code > ngeom)] = 0
        return lookup[code]

    def close(self) -> None:
        """Drop the references to the env and its context (the env frees the context); safe to call twice."""
        self._env = None
        self._context = None


def _attach_render_context(env: Any) -> Any:
    """Give a camera-free env the offscreen render context robosuite would have made, and return it.

    Robosuite owns and frees it with the simulator (and the env makes it current like any other), so the
    views of a camera-free env render exactly like those of an env with cameras. The context picks its GL
    backend the way robosuite does, from ``MUJOCO_GL``.
    """
    from robosuite.utils.binding_utils import MjRenderContextOffscreen

    sim_env = env.sim_env
    context = MjRenderContextOffscreen(sim_env.sim, device_id=sim_env.render_gpu_device_id)  # registers itself
    context.vopt.geomgroup[0] = 1 if sim_env.render_collision_mesh else 0
    context.vopt.geomgroup[1] = 1 if sim_env.render_visual_mesh else 0
    if getattr(env.config, "cheap_render", False):
        for flag in _CHEAP_OFF_FLAGS:
            context.scn.flags[flag] = 0
    logger.debug("attached an offscreen render context to a camera-free %s", type(env).__name__)
    return context


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    width, height = size
    return int(width), int(height)


def render_views(
    env: Any, views: Sequence[ViewSpec], size: int | tuple[int, int]
) -> list[tuple[np.ndarray, CameraInfo]]:
    """Render the env's current state from each view.

    Args:
        env: a vst_envs env (possibly wrapped), after ``reset``.
        views: the viewpoints.
        size: square image size in pixels, or ``(width, height)``.
    Returns:
        One ``(image uint8 (H, W, 3) upright, CameraInfo)`` per view, in order.
    """
    width, height = _size(size)
    renderer = env.unwrapped.view_renderer()
    return [renderer.render(view, width, height) for view in views]


def render_segmentations(
    env: Any, views: Sequence[ViewSpec], size: int | tuple[int, int]
) -> list[tuple[np.ndarray, CameraInfo]]:
    """Like :func:`render_views` but each image is int32 (H, W) MuJoCo geom ids (-1: nothing / background)."""
    width, height = _size(size)
    renderer = env.unwrapped.view_renderer()
    return [renderer.render(view, width, height, segmentation=True) for view in views]


def object_masks(segmentation: np.ndarray, objects: Sequence[ObjectInfo]) -> dict[str, np.ndarray]:
    """Boolean (H, W) mask per object name: the pixels whose geom belongs to that object."""
    return {obj.name: np.isin(segmentation, obj.geom_ids) for obj in objects}
