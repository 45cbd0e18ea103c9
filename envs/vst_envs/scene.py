"""Scene ground truth: object boxes, camera models and projections for the current simulator state.

Conventions (all lengths in metres, world frame = robosuite's world, z up; the robot base frame is aligned
with it, so world and base differ only by the base position):

* Quaternions are ``(x, y, z, w)`` like robosuite's observations (MuJoCo stores ``w`` first).
* Camera frames follow OpenCV: x right, y down, z forward (along the viewing direction). MuJoCo cameras look
  along their own -z with y up (OpenGL); ``world_from_camera = [R_mj @ diag(1, -1, -1) | p]`` converts.
* Pixel coordinates ``(u, v)`` are continuous with the origin at the top-left corner of an *upright* image
  (the frames vst_envs returns): pixel ``(row i, col j)`` covers ``u in [j, j + 1)``, ``v in [i, i + 1)``, so
  its centre is ``(j + 0.5, i + 0.5)`` and the pixel a point falls on is ``(floor(v), floor(u))``.
  (robosuite's own ``project_points_from_world_to_camera`` rounds instead, which is half a pixel off.)
* ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` maps camera-frame points to pixels: ``u = fx x / z + cx``.

This module needs only numpy and mujoco (no robosuite, no GL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

# MuJoCo camera axes (x right, y up, looking along -z) -> OpenCV camera axes (x right, y down, z forward).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])

# Corner sign pattern of a box, (8, 3): x varies slowest. Corner k = centre + R @ (signs[k] * half_size).
BOX_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class ObjectInfo:
    """One object of the scene, as a (possibly rotated) box.

    Attributes:
        name: unique name in the scene (e.g. ``"cube2"``); the simulator body is ``body_name``.
        category: object class (``"cube"``).
        color_name: colour word used in language (``"green"``).
        color_rgb: (3,) its RGB colour in [0, 1].
        position_world: (3,) centre in the world frame, metres.
        quat_world: (4,) orientation, xyzw.
        box_size: (3,) full extents along the object's own axes, metres.
        box_corners_world: (8, 3) the box corners in the world frame, metres (order: :data:`BOX_CORNER_SIGNS`).
        body_name: the MuJoCo body of the object.
        geom_ids: MuJoCo geom ids of the body (what a segmentation render reports for it).
    """

    name: str
    category: str
    color_name: str
    color_rgb: tuple[float, float, float]
    position_world: np.ndarray
    quat_world: np.ndarray
    box_size: np.ndarray
    box_corners_world: np.ndarray
    body_name: str = ""
    geom_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (arrays become nested lists)."""
        return _json_safe(dataclasses.asdict(self))


@dataclass(frozen=True, eq=False)
class CameraInfo:
    """A pinhole camera for upright ``width`` x ``height`` images (see the module docstring for conventions).

    Attributes:
        name: the model camera's name, or a view's name for free cameras.
        width / height: image size in pixels.
        intrinsics: (3, 3) K.
        world_from_camera: (4, 4) pose of the OpenCV camera frame in the world (camera -> world transform).
        fovy_deg: vertical field of view in degrees.
    """

    name: str
    width: int
    height: int
    intrinsics: np.ndarray
    world_from_camera: np.ndarray
    fovy_deg: float

    @property
    def camera_from_world(self) -> np.ndarray:
        """(4, 4) world -> camera transform (the inverse of :attr:`world_from_camera`)."""
        rot, pos = self.world_from_camera[:3, :3], self.world_from_camera[:3, 3]
        out = np.eye(4)
        out[:3, :3] = rot.T
        out[:3, 3] = -rot.T @ pos
        return out

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in the world, metres."""
        return self.world_from_camera[:3, 3].copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (arrays become nested lists)."""
        return _json_safe(dataclasses.asdict(self))


def to_camera_frame(points_world: np.ndarray, camera: CameraInfo) -> np.ndarray:
    """World points (N, 3) (or (3,)) in the camera's OpenCV frame, same shape, metres."""
    pts = np.asarray(points_world, dtype=np.float64)
    transform = camera.camera_from_world
    return pts @ transform[:3, :3].T + transform[:3, 3]


def project(points_world: np.ndarray, camera: CameraInfo) -> tuple[np.ndarray, np.ndarray]:
    """Project world points onto the camera's upright image.

    Args:
        points_world: (N, 3) world points in metres (a single (3,) point is accepted too).
        camera: the camera.
    Returns:
        ``(pixels, depth_m)``: pixels (N, 2) as continuous ``(u, v)`` = (column, row) coordinates, and the
        depth (N,) along the optical axis in metres (points with depth <= 0 are behind the camera and their
        pixels are meaningless). For a single point the shapes are (2,) and ().
    """
    pts = np.asarray(points_world, dtype=np.float64)
    single = pts.ndim == 1
    cam = to_camera_frame(pts.reshape(-1, 3), camera)
    depth = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = cam @ camera.intrinsics.T
        pixels = uvw[:, :2] / uvw[:, 2:3]
    if single:
        return pixels[0], depth[0]
    return pixels, depth


def pixel_index(pixels: np.ndarray) -> np.ndarray:
    """Integer ``(row, col)`` (N, 2) of the pixels continuous ``(u, v)`` coordinates (N, 2) fall on."""
    uv = np.floor(np.asarray(pixels, dtype=np.float64)).astype(np.int64)
    return uv[..., ::-1]


@dataclass(frozen=True, eq=False)
class SceneGroundTruth:
    """Ground truth of one simulator state.

    Attributes:
        objects: the task's objects.
        cameras: the observation cameras by name (at the observation image size).
        table_height: world z of the table top, metres.
        robot_eef_pos: (3,) end-effector (grip site) position, world, metres.
        robot_base_pos: (3,) robot base position, world, metres.
        target_name: name of the object the instruction refers to (None for tasks without one).
        reference_name: name of the object the instruction's relation is anchored on, if any.
        relation: the instruction's spatial relation (e.g. ``"left_of"``), if any.
        instruction: the episode's language instruction, if the task has a per-episode one.
    """

    objects: list[ObjectInfo]
    cameras: dict[str, CameraInfo]
    table_height: float
    robot_eef_pos: np.ndarray
    robot_base_pos: np.ndarray | None = None
    target_name: str | None = None
    reference_name: str | None = None
    relation: str | None = None
    instruction: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def object(self, name: str) -> ObjectInfo:
        """The object called ``name``; KeyError listing the names otherwise."""
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object {name!r}; objects are {[o.name for o in self.objects]}")

    def camera(self, name: str) -> CameraInfo:
        """The observation camera ``name``."""
        return self.cameras[name]

    def project(self, points_world: np.ndarray, camera: CameraInfo | str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`project` with a camera given by name (an observation camera) or as a CameraInfo."""
        return project(points_world, self.cameras[camera] if isinstance(camera, str) else camera)

    def to_camera_frame(self, points_world: np.ndarray, camera: CameraInfo | str) -> np.ndarray:
        """:func:`to_camera_frame` with a camera given by name (an observation camera) or as a CameraInfo."""
        return to_camera_frame(points_world, self.cameras[camera] if isinstance(camera, str) else camera)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of everything (arrays become nested lists)."""
        return _json_safe(dataclasses.asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# --- builders from a MuJoCo model / data -------------------------------------------------------------------


def intrinsics_from_fovy(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """(3, 3) K of a MuJoCo perspective camera (square pixels, vertical fov, principal point at the centre)."""
    f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def camera_info_from_model(
    model: mujoco.MjModel, data: mujoco.MjData, name: str, width: int, height: int
) -> CameraInfo:
    """CameraInfo of the model camera ``name`` in the current state (``data`` must be forwarded)."""
    cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cam_id < 0:
        raise KeyError(f"the model has no camera {name!r}")
    fovy = float(model.cam_fovy[cam_id])
    pose = np.eye(4)
    pose[:3, :3] = data.cam_xmat[cam_id].reshape(3, 3) @ _GL_TO_CV
    pose[:3, 3] = data.cam_xpos[cam_id]
    return CameraInfo(name, width, height, intrinsics_from_fovy(fovy, width, height), pose, fovy)


def camera_info_from_gl_camera(gl_camera: mujoco.MjvGLCamera, name: str, width: int, height: int) -> CameraInfo:
    """CameraInfo of the camera MuJoCo actually rendered with (an averaged ``MjvGLCamera``), any camera type.

    Mirrors mjr_render's projection: ``glFrustum(center -+ halfwidth, bottom, top, near)`` where halfwidth is
    ``frustum_width`` or, when that is 0, the one matching the viewport aspect ratio.
    """
    forward = np.asarray(gl_camera.forward, dtype=np.float64)
    up = np.asarray(gl_camera.up, dtype=np.float64)
    right = np.cross(forward, up)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, -up, forward], axis=1)
    pose[:3, 3] = gl_camera.pos
    near, top, bottom = gl_camera.frustum_near, gl_camera.frustum_top, gl_camera.frustum_bottom
    center = gl_camera.frustum_center
    halfwidth = gl_camera.frustum_width or 0.5 * width / height * (top - bottom)
    fx = width * near / (2.0 * halfwidth)
    fy = height * near / (top - bottom)
    cx = width / 2.0 - width * center / (2.0 * halfwidth)
    # OpenCV y is OpenGL's -y, so an off-centre frustum shifts the principal point the other way vertically.
    cy = height / 2.0 * (1.0 + (top + bottom) / (top - bottom))
    intrinsics = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    fovy = float(np.rad2deg(np.arctan(top / near) - np.arctan(bottom / near)))
    return CameraInfo(name, width, height, intrinsics, pose, fovy)


def body_geom_ids(model: mujoco.MjModel, body_id: int) -> tuple[int, ...]:
    """Ids of the geoms attached directly to body ``body_id``."""
    return tuple(int(g) for g in np.flatnonzero(model.geom_bodyid == body_id))


def box_object_info(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    body_name: str,
    name: str,
    category: str,
    color_name: str,
    color_rgb: tuple[float, float, float],
) -> ObjectInfo:
    """ObjectInfo of a body whose shape is a box geom (the largest box geom of the body gives the extents)."""
    body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body_name)
    if body_id < 0:
        raise KeyError(f"the model has no body {body_name!r}")
    geoms = body_geom_ids(model, body_id)
    boxes = [g for g in geoms if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX]
    if not boxes:
        raise ValueError(f"body {body_name!r} has no box geom")
    box = max(boxes, key=lambda g: float(np.prod(model.geom_size[g])))
    half = np.array(model.geom_size[box], dtype=np.float64)
    rot = data.geom_xmat[box].reshape(3, 3)
    corners = data.geom_xpos[box] + (BOX_CORNER_SIGNS * half) @ rot.T
    w, x, y, z = data.xquat[body_id]
    return ObjectInfo(
        name=name,
        category=category,
        color_name=color_name,
        color_rgb=tuple(float(c) for c in color_rgb),  # type: ignore[arg-type]
        position_world=np.array(data.xpos[body_id], dtype=np.float64),
        quat_world=np.array([x, y, z, w], dtype=np.float64),
        box_size=2.0 * half,
        box_corners_world=corners,
        body_name=body_name,
        geom_ids=geoms,
    )
