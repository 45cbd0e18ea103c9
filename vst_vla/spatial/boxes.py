"""9-DoF camera-frame 3D boxes as VST writes them, their exact IoU, and reading them out of model output.

VST (Yang et al. 2025) teaches 3D object detection / grounding in VST-P and rewards it in VST-R with a box
reward, both on boxes written as ``[x, y, z, x_size, y_size, z_size, pitch, yaw, roll]``:

* ``x, y, z``: the box centre in the camera frame, in metres. The frame is OpenCV's: X right, Y down, Z forward
  (so z is depth).
* ``x_size, y_size, z_size``: the box's extent along its own X, Y, Z axes, i.e. along the camera axes when all
  angles are zero.
* ``pitch, yaw, roll``: rotations about the X, Y and Z axes, in units of 180° (0.5 is 90°, 1.0 is 180°).

Euler convention. The rotations are applied about the *fixed* camera axes in the order X, Y, Z (extrinsic x-y-z),
which is the same rotation as intrinsic z-y'-x'':

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch),        p_camera = center + R @ p_box

This is ``scipy.spatial.transform.Rotation.from_euler("xyz", [pitch, yaw, roll])`` (lowercase: extrinsic), the
call VST's released data tooling makes when it turns these boxes into quaternions. Note that in this camera frame
Y is the vertical axis, so *yaw* turns a box about the vertical (Y), not about Z as in z-up world conventions.
``to_vst`` returns the canonical angles pitch, roll in (-1, 1] and yaw in [-0.5, 0.5] (roll = 0 at gimbal lock,
|yaw| = 0.5); ``from_vst(b.to_vst())`` always gives the same box, and ``to_vst(from_vst(v))`` gives ``v`` back
whenever ``v``'s angles are already canonical.

IoU is exact for arbitrarily rotated boxes: box A's faces are clipped against B's six half-spaces
(Sutherland-Hodgman in 3D, adding a cap face on each cutting plane), and the volume of the resulting convex
polyhedron is summed as pyramids from an interior point. No convex-hull call is involved, so disjoint, touching
and flat intersections simply come out as 0 without Qhull errors.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Box3D",
    "box_iou_3d",
    "coerce_boxes",
    "euler_to_matrix",
    "intersection_volume",
    "iou_matrix",
    "matrix_to_euler",
    "parse_boxes",
]

# Corner i has, for (x, y, z), the sign bits (i >> 2 & 1, i >> 1 & 1, i & 1): 0 -> -size/2, 1 -> +size/2.
_UNIT_CORNERS = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=np.float64) - 0.5
# The six faces as corner indices in cyclic order (neighbours differ in one bit): -x, +x, -y, +y, -z, +z.
_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
# Rotation matrices must be orthonormal and proper to this tolerance (model outputs go through from_vst, which is
# exact; hand-built matrices rounded to ~7 digits still pass).
_ROTATION_ATOL = 1e-6


def euler_to_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Rotation matrix ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` for angles in radians. Returns (3, 3)."""
    cx, sx = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cz, sz = math.cos(roll), math.sin(roll)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


def matrix_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`euler_to_matrix`: canonical ``(pitch, yaw, roll)`` in radians.

    pitch, roll in (-pi, pi], yaw in [-pi/2, pi/2]. At gimbal lock (|yaw| = pi/2) only pitch - roll (or
    pitch + roll) is determined; roll is then set to 0.
    """
    r = np.asarray(rotation, dtype=np.float64)
    # R[2, 0] = -sin(yaw); clip guards against |.| creeping past 1 by rounding.
    sin_yaw = float(np.clip(-r[2, 0], -1.0, 1.0))
    yaw = math.asin(sin_yaw)
    if math.sqrt(r[2, 1] ** 2 + r[2, 2] ** 2) > 1e-9:
        pitch = math.atan2(r[2, 1], r[2, 2])  # cos(yaw) * (sin, cos)(pitch)
        roll = math.atan2(r[1, 0], r[0, 0])  # cos(yaw) * (sin, cos)(roll)
    else:
        # cos(yaw) = 0: R = Ry(±pi/2) @ Rx(pitch) with roll = 0, whose middle row is (0, cos, -sin)(pitch).
        pitch = math.atan2(-r[1, 2], r[1, 1])
        roll = 0.0
    return _wrap_pi(pitch), yaw, _wrap_pi(roll)


def _wrap_pi(angle: float) -> float:
    """Map an angle from atan2's [-pi, pi] onto (-pi, pi], so -180° and 180° read the same."""
    return angle + 2.0 * math.pi if angle <= -math.pi else angle


def _readonly(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.array(values, dtype=np.float64)  # a copy, so freezing it cannot freeze the caller's array
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Box3D:
    """An oriented 3D box: ``p_camera = center + rotation @ p_box`` with ``p_box`` in ``[-size/2, size/2]``.

    Attributes:
        center: (3,) centre in the camera frame, metres.
        size: (3,) non-negative extents along the box's own X, Y, Z axes, metres.
        rotation: (3, 3) proper rotation matrix (orthonormal, det +1); identity by default.
        label: optional object name carried along from model output or annotations.

    Arrays are copied to read-only float64 on construction. Equality is identity (numpy arrays make ``==``
    ambiguous); compare ``to_vst()`` lists or use :func:`box_iou_3d` instead.
    """

    center: np.ndarray
    size: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", _readonly(self.center, (3,), "center"))
        object.__setattr__(self, "size", _readonly(self.size, (3,), "size"))
        object.__setattr__(self, "rotation", _readonly(self.rotation, (3, 3), "rotation"))
        if np.any(self.size < 0):
            raise ValueError(f"size must be non-negative, got {self.size.tolist()}")
        r = self.rotation
        if not np.allclose(r.T @ r, np.eye(3), atol=_ROTATION_ATOL) or np.linalg.det(r) < 0:
            raise ValueError(f"rotation must be a proper rotation matrix, got {r.tolist()}")

    @classmethod
    def from_vst(cls, values: Sequence[float], label: str | None = None) -> Box3D:
        """Build from VST's ``[x, y, z, x_size, y_size, z_size, pitch, yaw, roll]`` (angles in units of 180°).

        Raises:
            ValueError: not 9 finite numbers, or a negative size.
        """
        v = np.array(values, dtype=np.float64)
        if v.shape != (9,):
            raise ValueError(f"a VST box has 9 numbers, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"a VST box must be finite, got {v.tolist()}")
        pitch, yaw, roll = (math.pi * a for a in v[6:9])
        return cls(center=v[:3], size=v[3:6], rotation=euler_to_matrix(pitch, yaw, roll), label=label)

    def to_vst(self) -> list[float]:
        """VST's 9 numbers with canonical angles in units of 180° (see the module docstring)."""
        angles = [a / math.pi + 0.0 for a in matrix_to_euler(self.rotation)]  # + 0.0 turns -0.0 into 0.0
        return [*map(float, self.center), *map(float, self.size), *angles]

    def corners(self) -> np.ndarray:
        """(8, 3) corners in the camera frame; corner i takes +size/2 on x, y, z where bit 2, 1, 0 of i is set."""
        return self.center + (_UNIT_CORNERS * self.size) @ self.rotation.T

    @property
    def volume(self) -> float:
        return math.prod(map(float, self.size))  # Python floats overflow to inf quietly (huge model outputs)

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """The box as ``normals @ p <= offsets``: normals (6, 3) unit outward, offsets (6,); face order -x..+z."""
        axes = self.rotation.T  # row k is the box's k-th axis in the camera frame
        normals = np.stack([-axes[0], axes[0], -axes[1], axes[1], -axes[2], axes[2]])
        half = np.repeat(self.size / 2.0, 2)
        return normals, normals @ self.center + half

    def faces(self) -> list[np.ndarray]:
        """The six faces as (4, 3) arrays of corners in cyclic order, -x, +x, -y, +y, -z, +z."""
        corners = self.corners()
        return [corners[list(face)] for face in _FACES]


# ---------------------------------------------------------------------------------------------------------------
# Exact intersection volume of two oriented boxes.


def _clip_polygon(face: np.ndarray, dist: np.ndarray, tol: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sutherland-Hodgman: the part of a convex planar polygon with signed distance <= 0 to a plane.

    Args:
        face: (k, 3) vertices in cyclic order.
        dist: (k,) signed distances of the vertices to the plane (positive = outside).
        tol: distances within ``tol`` of 0 count as on the plane (and as inside).

    Returns:
        (kept polygon vertices in cyclic order, the vertices of it that lie on the plane).
    """
    kept: list[np.ndarray] = []
    on_plane: list[np.ndarray] = []
    k = len(face)
    for i in range(k):
        j = (i + 1) % k
        if dist[i] <= tol:
            kept.append(face[i])
            if dist[i] >= -tol:
                on_plane.append(face[i])
        crosses = (dist[i] < -tol and dist[j] > tol) or (dist[i] > tol and dist[j] < -tol)
        if crosses:
            # Interpolate from the inside endpoint, so both faces sharing this edge make the bit-identical point.
            (p_in, d_in), (p_out, d_out) = ((face[i], dist[i]), (face[j], dist[j]))
            if d_in > 0:
                (p_in, d_in), (p_out, d_out) = (p_out, d_out), (p_in, d_in)
            point = p_in + (d_in / (d_in - d_out)) * (p_out - p_in)
            kept.append(point)
            on_plane.append(point)
    return kept, on_plane


def _order_on_plane(points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Sort points of a convex polygon lying in a plane with the given normal into cyclic (angular) order."""
    centred = points - points.mean(axis=0)
    # Any unit u perpendicular to the normal, then v = n x u, spans the plane.
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    return points[np.argsort(np.arctan2(centred @ v, centred @ u))]


def _clip_polyhedron(faces: list[np.ndarray], normal: np.ndarray, offset: float, tol: float) -> list[np.ndarray]:
    """The part of a convex polyhedron (list of faces) with ``normal @ p <= offset``, as a list of faces."""
    dists = [face @ normal - offset for face in faces]
    every = np.concatenate(dists)
    if every.max() <= tol:
        # Nothing is cut off. Returning early also keeps a face lying *on* the plane from getting a duplicate cap.
        return faces
    if every.min() >= -tol:
        return []  # nothing strictly inside: empty, or flat against the plane (zero volume either way)
    clipped: list[np.ndarray] = []
    cap: list[np.ndarray] = []
    for face, dist in zip(faces, dists, strict=True):
        kept, on_plane = _clip_polygon(face, dist, tol)
        if len(kept) >= 3:
            clipped.append(np.asarray(kept))
        cap.extend(on_plane)
    if len(cap) >= 3:
        clipped.append(_order_on_plane(np.asarray(cap), normal))
    return clipped


def _convex_volume(faces: list[np.ndarray]) -> float:
    """Volume of a convex polyhedron given by its faces (each convex, vertices in cyclic order).

    Sums the pyramids from an interior reference point (the mean of all face vertices) over fan triangles of
    every face. Absolute values make the result independent of each face's winding.
    """
    if not faces:
        return 0.0
    ref = np.concatenate(faces).mean(axis=0)
    total = 0.0
    for face in faces:
        a = face[0] - ref
        b, c = face[1:-1] - ref, face[2:] - ref
        total += float(np.abs(np.cross(b, c) @ a).sum())
    return total / 6.0


def intersection_volume(a: Box3D, b: Box3D) -> float:
    """Exact volume of the intersection of two oriented boxes (0 when disjoint or only touching)."""
    # Distances are compared to a tolerance relative to the scene's scale so millimetre and kilometre boxes behave.
    scale = max(1.0, float(np.abs(a.corners()).max()), float(np.abs(b.corners()).max()))
    tol = 1e-9 * scale
    faces = a.faces()
    normals, offsets = b.halfspaces()
    for normal, offset in zip(normals, offsets, strict=True):
        faces = _clip_polyhedron(faces, normal, float(offset), tol)
        if not faces:
            return 0.0
    return _convex_volume(faces)


def box_iou_3d(a: Box3D, b: Box3D) -> float:
    """Exact 3D IoU of two oriented boxes, in [0, 1]. Degenerate (zero-volume) boxes have IoU 0 with anything."""
    va, vb = a.volume, b.volume
    if not (va > 0 and vb > 0 and math.isfinite(va) and math.isfinite(vb)):
        return 0.0
    # Bounding spheres that do not overlap: skip the clipping.
    if np.linalg.norm(a.center - b.center) > 0.5 * (np.linalg.norm(a.size) + np.linalg.norm(b.size)):
        return 0.0
    inter = min(max(intersection_volume(a, b), 0.0), va, vb)  # clamp rounding so IoU stays in [0, 1]
    union = va + vb - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(preds: Sequence[Box3D], gts: Sequence[Box3D]) -> np.ndarray:
    """Pairwise IoU, (len(preds), len(gts)) float64; empty inputs give an empty matrix of that shape."""
    out = np.zeros((len(preds), len(gts)), dtype=np.float64)
    for i, p in enumerate(preds):
        for j, g in enumerate(gts):
            out[i, j] = box_iou_3d(p, g)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Reading boxes out of model output.

_FENCED = re.compile(r"```[A-Za-z]*\s*(.*?)```", re.DOTALL)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _box_from_numbers(values: Any, label: Any = None) -> Box3D | None:
    if not isinstance(values, list | tuple) or len(values) != 9 or not all(_is_number(v) for v in values):
        return None
    try:
        return Box3D.from_vst(values, label=label if isinstance(label, str) else None)
    except (ValueError, OverflowError):  # negative size, inf/nan
        return None


def _box_from_item(item: Any) -> Box3D | None:
    if isinstance(item, Box3D):
        return item
    if isinstance(item, dict):
        return _box_from_numbers(item.get("bbox_3d"), item.get("label"))
    return _box_from_numbers(item)


def coerce_boxes(value: Any) -> list[Box3D]:
    """Boxes from an already-decoded value; anything that is not a box is skipped, nothing raises.

    Accepts a :class:`Box3D`, a ``{"bbox_3d": [9 numbers], "label": ...}`` dict, a bare list of 9 numbers, a list
    of any of those, or a string (handed to :func:`parse_boxes`).
    """
    if isinstance(value, str):
        return parse_boxes(value)
    single = _box_from_item(value)
    if single is not None:
        return [single]
    if isinstance(value, list | tuple):
        return [box for box in map(_box_from_item, value) if box is not None]
    return []


def _decode(candidate: str) -> Any:
    """JSON, else a Python literal (models often write single quotes); None when neither parses."""
    try:
        return json.loads(candidate)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(candidate)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _candidates(text: str) -> list[str]:
    """Substrings that might hold the boxes, most specific first."""
    found = [m.strip() for m in _FENCED.findall(text)]
    found.append(text.strip())
    for open_, close in (("[", "]"), ("{", "}")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            found.append(text[start : end + 1])
    return found


def parse_boxes(text: str) -> list[Box3D]:
    """Extract VST boxes from model output; malformed input gives ``[]`` and never raises.

    Understands ``[{"bbox_3d": [9 numbers], "label": "cube"}, ...]`` (optionally in a ```json fence, or with
    single quotes), a single such dict, a bare list of 9 numbers, and a list of such lists. Entries that are not
    valid boxes (wrong length, non-numbers, negative sizes) are dropped; the others are kept.
    """
    if not isinstance(text, str):
        return []
    for candidate in _candidates(text):
        value = _decode(candidate)
        if value is not None and not isinstance(value, str):
            boxes = coerce_boxes(value)
            if boxes:
                return boxes
    return []
