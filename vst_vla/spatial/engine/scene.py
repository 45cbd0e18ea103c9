"""SceneBundle: one simulator scene's ground truth plus the renders its skills need, made lazily and shared.

VST-P's samples come from images with exact 3D annotation (Yang et al. 2025, section 3); here the annotation is
the simulator's :class:`~vst_envs.scene.SceneGroundTruth`. Every skill asking about a scene gets the same
bundle, so a view (RGB, segmentation, PNG bytes) is rendered and encoded once however many skills use it.

Segmentation renders are used for *visibility gating only* (is an object or a marked surface point actually
seen, not hidden by the gripper or another cube); answers always come from the ground truth.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image
from vst_envs.scene import (
    CameraInfo,
    ObjectInfo,
    SceneGroundTruth,
    pixel_index,
    project,
)
from vst_envs.views import ViewSpec, render_segmentations, render_views

from vst_vla.spatial.engine.base import AnswerBalancer
from vst_vla.spatial.engine.geometry import corners_in_frame
from vst_vla.spatial.fov import unify_fov

FREE_FOVY_DEG = 45.0
TABLE_LOOKAT = (0.0, 0.0, 0.8)

# Single-image viewpoints: the policy's agentview plus three free cameras on the front half of the table (the
# robot stands behind the table, so these never look through it).
SINGLE_VIEWS: dict[str, ViewSpec] = {
    "agentview": ViewSpec(name="agentview", camera="agentview"),
    "front_high": ViewSpec("front_high", azimuth_deg=180.0, elevation_deg=-60.0, distance_m=0.95,
                           lookat=TABLE_LOOKAT, fovy_deg=FREE_FOVY_DEG),
    "front_left": ViewSpec("front_left", azimuth_deg=145.0, elevation_deg=-40.0, distance_m=0.95,
                           lookat=TABLE_LOOKAT, fovy_deg=FREE_FOVY_DEG),
    "front_right": ViewSpec("front_right", azimuth_deg=215.0, elevation_deg=-40.0, distance_m=0.95,
                            lookat=TABLE_LOOKAT, fovy_deg=FREE_FOVY_DEG),
}

# An object counts as visible when this share of its projected silhouette shows in the segmentation.
MIN_VISIBLE_FRACTION = 0.4
MIN_VISIBLE_PIXELS = 3


@dataclass(frozen=True, eq=False)
class RenderedView:
    """One render: upright uint8 image (H, W, 3) and the exact camera it was made with."""

    spec: ViewSpec
    image: np.ndarray
    camera: CameraInfo


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB image (deterministic: no metadata, fixed compression).

    Level 1 encodes ~4x faster than the default 6 for ~10 % more bytes on these renders.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def fov_sentence(camera: CameraInfo) -> tuple[str, float]:
    """VST's FoV prompt sentence for a render, and the focal-unification scale (stored, not applied).

    The images stay at their rendered size: resizing every 128 px render by ~4.5x to the canonical 696 px focal
    length would multiply storage ~20x for no new information. The FoV (which resizing does not change) and the
    actual pixel size are stated instead, and ``fov_scale`` in meta_info lets a loader apply the unification.
    """
    k = camera.intrinsics
    fov = unify_fov(camera.width, camera.height, float(k[0, 0]), float(k[1, 1]))
    actual = dataclasses.replace(fov, width_px=camera.width, height_px=camera.height, scale=1.0)
    return actual.prompt(), fov.scale


class SceneBundle:
    """Ground truth of one scene plus lazily rendered, cached views of it.

    Args:
        gt: the scene's ground truth (read once the scene is settled).
        env: the env in exactly this state (renders read its simulator); released by :meth:`release`.
        image_size: square render size, pixels.
        dataset_seed / scene_index / scene_seed: where the scene sits in the run (``scene_seed`` was passed to
            ``env.reset``).
        env_type: the env config's type name.
        balancer: the run's answer balancer.
        table: the table top as a box object (for table-size questions and surface points).
        table_geom_ids: MuJoCo geoms of the table (what segmentation reports for table pixels).
    """

    def __init__(
        self,
        gt: SceneGroundTruth,
        env: Any,
        image_size: int,
        dataset_seed: int,
        scene_index: int,
        scene_seed: int,
        env_type: str,
        balancer: AnswerBalancer,
        table: ObjectInfo,
        table_geom_ids: Sequence[int],
        free_fovy_deg: float = FREE_FOVY_DEG,
    ) -> None:
        self.gt = gt
        self.free_fovy_deg = free_fovy_deg
        self._env = env
        self.image_size = image_size
        self.dataset_seed = dataset_seed
        self.scene_index = scene_index
        self.scene_seed = scene_seed
        self.env_type = env_type
        self.balancer = balancer
        self.table = table
        self.table_geom_ids = tuple(table_geom_ids)
        self._views: dict[ViewSpec, RenderedView] = {}
        self._segs: dict[ViewSpec, np.ndarray] = {}
        self._pngs: dict[ViewSpec, bytes] = {}
        self._cache: dict[str, Any] = {}

    # --- renders ---------------------------------------------------------------------------------------------

    def _spec(self, view: ViewSpec | str) -> ViewSpec:
        spec = SINGLE_VIEWS[view] if isinstance(view, str) else view
        # The skills design their free cameras at FREE_FOVY_DEG; a scene made with another free fovy (a zoom that
        # makes objects larger in the image) renders them with it. Cameras with a fovy of their own (the video
        # sweep's, agentview's) keep it. Skills read the fovy from the rendered camera, so questions stay exact.
        if spec.camera is None and spec.fovy_deg == FREE_FOVY_DEG and self.free_fovy_deg != FREE_FOVY_DEG:
            spec = dataclasses.replace(spec, fovy_deg=self.free_fovy_deg)
        return spec

    def _live_env(self) -> Any:
        if self._env is None:
            raise RuntimeError(f"scene {self.scene_index} was released; its env has moved on to another scene")
        return self._env

    def view(self, view: ViewSpec | str) -> RenderedView:
        """The RGB render of a view (a :data:`SINGLE_VIEWS` name or any ViewSpec), rendered on first use."""
        spec = self._spec(view)
        if spec not in self._views:
            [(image, camera)] = render_views(self._live_env(), [spec], self.image_size)
            self._views[spec] = RenderedView(spec, image, camera)
        return self._views[spec]

    def segmentation(self, view: ViewSpec | str) -> np.ndarray:
        """int32 (H, W) MuJoCo geom ids of a view (exact with cheap_render)."""
        spec = self._spec(view)
        if spec not in self._segs:
            [(seg, _)] = render_segmentations(self._live_env(), [spec], self.image_size)
            self._segs[spec] = seg
        return self._segs[spec]

    def png(self, view: ViewSpec | str) -> bytes:
        """PNG bytes of a view's unmarked image (encoded once)."""
        spec = self._spec(view)
        if spec not in self._pngs:
            self._pngs[spec] = encode_png(self.view(spec).image)
        return self._pngs[spec]

    def cached(self, key: str, factory: Callable[[], Any]) -> Any:
        """A per-scene resource shared between skills (e.g. the video sweep), made on first use."""
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]

    def release(self) -> None:
        """Forget the env (it is about to be reset); rendered views stay readable."""
        self._env = None

    # --- visibility ------------------------------------------------------------------------------------------

    def object_visible(self, obj: ObjectInfo, view: ViewSpec | str, margin_px: float = 1.0) -> bool:
        """Whether the whole object is in frame and enough of it shows (not hidden by the gripper or a cube)."""
        camera = self.view(view).camera
        if not corners_in_frame(obj, camera, margin_px):
            return False
        pixels, _ = project(obj.box_corners_world, camera)
        hull_area = float(cv2.contourArea(cv2.convexHull(pixels.astype(np.float32))))
        seen = int(np.isin(self.segmentation(view), obj.geom_ids).sum())
        return seen >= max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * hull_area)

    def visible_objects(self, view: ViewSpec | str) -> list[ObjectInfo]:
        """The scene's objects that :meth:`object_visible` accepts in this view, in scene order."""
        return [obj for obj in self.gt.objects if self.object_visible(obj, view)]

    def surface_visible(self, point_world: np.ndarray, surface: str, view: ViewSpec | str) -> bool:
        """Whether a marked point on ``surface`` (an object name or ``"table"``) is what the view shows there.

        The 3x3 pixels around the point's projection must all belong to that surface's geoms, so a point hidden
        behind another object, or on an edge, is rejected.
        """
        camera = self.view(view).camera
        px, d = project(np.asarray(point_world, dtype=np.float64), camera)
        if d <= 0:
            return False
        row, col = pixel_index(px)
        if not (1 <= row < camera.height - 1 and 1 <= col < camera.width - 1):
            return False
        ids = self.table_geom_ids if surface == "table" else self.gt.object(surface).geom_ids
        patch = self.segmentation(view)[row - 1 : row + 2, col - 1 : col + 2]
        return bool(np.isin(patch, ids).all())

    def meta(self) -> dict[str, Any]:
        """Where the scene comes from, for meta_info (enough to rebuild it: env type and reset seed)."""
        return {
            "env_type": self.env_type,
            "seed": self.scene_seed,
            "index": self.scene_index,
            "dataset_seed": self.dataset_seed,
            "image_size": self.image_size,
        }


def pick_view(rng: np.random.Generator, names: Sequence[str] = tuple(SINGLE_VIEWS)) -> str:
    """A random single-image viewpoint name."""
    return names[int(rng.integers(len(names)))]
