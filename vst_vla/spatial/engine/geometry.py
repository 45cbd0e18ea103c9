"""Exact geometry the skills derive their answers from: camera frames, frustum tests, boxes, headings.

Everything here reads only simulator ground truth (:class:`vst_envs.scene.SceneGroundTruth`, its objects and
the :class:`~vst_envs.scene.CameraInfo` of each render), never pixels. World frame: z up, metres. Camera frames:
OpenCV (x right, y down, z forward). The robot base frame is aligned with the world (the Panda faces +x), so the
robot's left is world +y.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from vst_envs.scene import CameraInfo, ObjectInfo, project, to_camera_frame

from vst_vla.spatial.boxes import Box3D

__all__ = [
    "any_corner_in_frame",
    "box_axes_world",
    "box_in_camera",
    "camera_dict",
    "camera_forward",
    "camera_right",
    "centre_in_frame",
    "corners_in_frame",
    "depth",
    "heading_turn_deg",
    "is_upright",
    "pixel",
    "top_face_point",
    "top_height",
    "view_looking",
]


def camera_dict(camera: CameraInfo) -> dict[str, Any]:
    """The camera as JSON-safe meta_info (enough to re-project points: size, K, pose)."""
    return {
        "name": camera.name,
        "width": camera.width,
        "height": camera.height,
        "intrinsics": camera.intrinsics.tolist(),
        "world_from_camera": camera.world_from_camera.tolist(),
    }


def depth(point_world: np.ndarray, camera: CameraInfo) -> float:
    """Depth of a world point along the camera's optical axis (camera-frame z), metres."""
    return float(to_camera_frame(np.asarray(point_world, dtype=np.float64), camera)[2])


def pixel(point_world: np.ndarray, camera: CameraInfo) -> np.ndarray:
    """Continuous ``(u, v)`` pixel of a world point (meaningless when it is behind the camera)."""
    return project(np.asarray(point_world, dtype=np.float64), camera)[0]


def _inside(pixels: np.ndarray, depths: np.ndarray, camera: CameraInfo, margin_px: float) -> np.ndarray:
    u, v = pixels[..., 0], pixels[..., 1]
    return (
        (depths > 0.05)
        & (u >= margin_px) & (u <= camera.width - margin_px)
        & (v >= margin_px) & (v <= camera.height - margin_px)
    )


def corners_in_frame(obj: ObjectInfo, camera: CameraInfo, margin_px: float = 1.0) -> bool:
    """Whether every box corner projects inside the image, ``margin_px`` from the border (whole object in view)."""
    pixels, depths = project(obj.box_corners_world, camera)
    return bool(np.all(_inside(pixels, depths, camera, margin_px)))


def any_corner_in_frame(obj: ObjectInfo, camera: CameraInfo, margin_px: float = -1.0) -> bool:
    """Whether any box corner projects inside the image grown by ``-margin_px`` (any part possibly in view)."""
    pixels, depths = project(obj.box_corners_world, camera)
    return bool(np.any(_inside(pixels, depths, camera, margin_px)))


def centre_in_frame(point_world: np.ndarray, camera: CameraInfo, margin_px: float = 0.0) -> bool:
    """Whether a world point projects inside the image, at least ``margin_px`` from the border."""
    px, d = project(np.asarray(point_world, dtype=np.float64), camera)
    return bool(_inside(px, np.asarray(d), camera, margin_px))


def box_axes_world(obj: ObjectInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centre (3,), rotation (3, 3) with the box's unit axes as columns, size (3,))`` from the corners.

    Corner order is :data:`vst_envs.scene.BOX_CORNER_SIGNS` (x slowest): corners 4, 2, 1 differ from corner 0
    along the box's x, y and z axes.
    """
    c = obj.box_corners_world
    edges = np.stack([c[4] - c[0], c[2] - c[0], c[1] - c[0]], axis=1)
    size = np.linalg.norm(edges, axis=0)
    # Re-orthonormalise (polar decomposition): corners are float64 but rounding must not leak into the rotation.
    u, _, vt = np.linalg.svd(edges / size)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        raise ValueError(f"{obj.name}: box corners are not right-handed")
    return c.mean(axis=0), rotation, size


def box_in_camera(obj: ObjectInfo, camera: CameraInfo, label: str | None = None) -> Box3D:
    """The object's box in the camera frame (VST's 9-DoF box once written with ``to_vst``)."""
    centre, rotation, size = box_axes_world(obj)
    cam_from_world = camera.camera_from_world
    return Box3D(
        center=to_camera_frame(centre, camera),
        size=size,
        rotation=cam_from_world[:3, :3] @ rotation,
        label=label,
    )


def is_upright(obj: ObjectInfo, tol: float = 0.99) -> bool:
    """Whether the box's own z axis points (anti)parallel to world z, i.e. its top face is flat."""
    _, rotation, _ = box_axes_world(obj)
    return abs(float(rotation[2, 2])) >= tol


def top_height(obj: ObjectInfo) -> float:
    """World z of the object's highest point, metres."""
    return float(obj.box_corners_world[:, 2].max())


def top_face_point(obj: ObjectInfo, offset: np.ndarray) -> np.ndarray:
    """A point on the top face of an upright box; ``offset`` in [-1, 1]^2 scales the half extents (x, y)."""
    centre, rotation, size = box_axes_world(obj)
    local = np.array([offset[0] * size[0] / 2.0, offset[1] * size[1] / 2.0, 0.0])
    point = centre + rotation @ local
    point[2] = top_height(obj)
    return point


def camera_forward(camera: CameraInfo) -> np.ndarray:
    """Unit viewing direction (camera z) in the world."""
    return camera.world_from_camera[:3, 2].copy()


def camera_right(camera: CameraInfo) -> np.ndarray:
    """Unit image-right direction (camera x) in the world."""
    return camera.world_from_camera[:3, 0].copy()


def heading_turn_deg(first: CameraInfo, second: CameraInfo) -> float:
    """Signed change of horizontal viewing heading from ``first`` to ``second``, degrees (positive = left, CCW)."""
    f1, f2 = camera_forward(first)[:2], camera_forward(second)[:2]
    cross = f1[0] * f2[1] - f1[1] * f2[0]
    return math.degrees(math.atan2(cross, float(f1 @ f2)))


def view_looking(position: np.ndarray, azimuth_deg: float, elevation_deg: float, distance_m: float = 0.6) -> dict:
    """ViewSpec fields for a free camera at ``position`` looking along (azimuth, elevation), MuJoCo's convention.

    MuJoCo's free camera sits ``distance`` behind its look-at point along the viewing direction
    ``(cos el cos az, cos el sin az, sin el)``, so the look-at point is ``position + distance * direction``.
    """
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    lookat = np.asarray(position, dtype=np.float64) + distance_m * direction
    return {
        "azimuth_deg": float(azimuth_deg),
        "elevation_deg": float(elevation_deg),
        "distance_m": float(distance_m),
        "lookat": tuple(round(float(x), 6) for x in lookat),
    }
