"""Marked points: sampling visible 3D surface points and drawing labelled markers on images.

VST's point-level skills (depth order of marked points, point depth, cross-view correspondence) show small
labelled markers on the image and ask about the 3D points under them. Points are drawn from surfaces whose
geometry is exact (cube top faces and the table top), then kept only if the view really shows that surface
at the marker (see :meth:`SceneBundle.surface_visible`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from vst_envs.views import ViewSpec

from vst_vla.spatial.engine.geometry import is_upright, pixel, top_face_point
from vst_vla.spatial.engine.scene import SceneBundle, encode_png
from vst_vla.spatial.markers import mark_image

# Table-top area points are drawn from (world x, y), inside the table and the front views.
TABLE_X_RANGE_M = (-0.25, 0.28)
TABLE_Y_RANGE_M = (-0.30, 0.30)
# A table point must not be this close (xy) to a cube centre: it would sit under or against the cube.
TABLE_POINT_CLEARANCE_M = 0.045


@dataclass(frozen=True)
class SurfacePoint:
    """A 3D point on a named surface (an object name or ``"table"``), world frame, metres."""

    surface: str
    position: np.ndarray


def sample_surface_point(scene: SceneBundle, rng: np.random.Generator) -> SurfacePoint:
    """A random point on the table top or on an upright cube's top face (not yet checked for visibility)."""
    cubes = [o for o in scene.gt.objects if is_upright(o)]
    if cubes and rng.random() < 0.5:
        obj = cubes[int(rng.integers(len(cubes)))]
        return SurfacePoint(obj.name, top_face_point(obj, rng.uniform(-0.6, 0.6, size=2)))
    centres = np.array([o.position_world[:2] for o in scene.gt.objects]).reshape(-1, 2)
    for _ in range(100):  # the cubes cover a few percent of the area: this practically never runs out
        xy = np.array([rng.uniform(*TABLE_X_RANGE_M), rng.uniform(*TABLE_Y_RANGE_M)])
        if len(centres) == 0 or np.min(np.linalg.norm(centres - xy, axis=1)) >= TABLE_POINT_CLEARANCE_M:
            break
    return SurfacePoint("table", np.array([xy[0], xy[1], scene.gt.table_height]))


def visible_points(
    scene: SceneBundle,
    rng: np.random.Generator,
    views: Sequence[ViewSpec | str],
    count: int,
    min_separation_px: float = 12.0,
    edge_margin_px: float = 8.0,
    attempts: int = 60,
) -> list[SurfacePoint]:
    """Up to ``count`` surface points visible in every one of ``views``, pairwise ``min_separation_px`` apart
    in each view's image and ``edge_margin_px`` inside its border (so the marker and label fit)."""
    cameras = [scene.view(v).camera for v in views]
    found: list[SurfacePoint] = []
    for _ in range(attempts):
        if len(found) == count:
            break
        point = sample_surface_point(scene, rng)
        pixels = [pixel(point.position, cam) for cam in cameras]
        if any(
            not (edge_margin_px <= px[0] <= cam.width - edge_margin_px
                 and edge_margin_px <= px[1] <= cam.height - edge_margin_px)
            for px, cam in zip(pixels, cameras, strict=True)
        ):
            continue
        crowded = any(
            np.linalg.norm(pixel(other.position, cam) - px) < min_separation_px
            for other in found
            for px, cam in zip(pixels, cameras, strict=True)
        )
        if crowded or not all(scene.surface_visible(point.position, point.surface, v) for v in views):
            continue
        found.append(point)
    return found


def draw_markers(image: np.ndarray, marks: Sequence[tuple[np.ndarray, str]]) -> bytes:
    """PNG of ``image`` with a dot and a boxed label at each ``(pixel (u, v), label)`` (:func:`mark_image`)."""
    return encode_png(mark_image(image, marks))
