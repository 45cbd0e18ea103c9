"""Field-of-view unification (VST section 3.1): make every image look as if taken by one canonical camera.

Images are resized so their focal length equals the canonical one, 960 / (2·tan(69.16°/2)) ≈ 696.32 px (a
960 px-wide image with a 69.16° horizontal FoV), so a given metric size spans a comparable number of pixels
across datasets; the prompt then states the horizontal and vertical FoV and the new image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CANONICAL_HFOV_DEG = 69.16
CANONICAL_WIDTH_PX = 960
CANONICAL_FOCAL_PX = CANONICAL_WIDTH_PX / (2.0 * math.tan(math.radians(CANONICAL_HFOV_DEG) / 2.0))


@dataclass(frozen=True)
class FovUnification:
    """The resize that unifies one image's focal length, and the FoV it has (resizing does not change FoV)."""

    width_px: int
    height_px: int
    hfov_deg: float
    vfov_deg: float
    scale: float

    def prompt(self) -> str:
        """The sentence VST adds to the question."""
        return (f"The image has a horizontal field of view of {self.hfov_deg:.2f} degrees and a vertical field of "
                f"view of {self.vfov_deg:.2f} degrees; its size is {self.width_px}x{self.height_px} pixels.")


def unify_fov(width_px: int, height_px: int, fx_px: float, fy_px: float | None = None,
              canonical_focal_px: float = CANONICAL_FOCAL_PX) -> FovUnification:
    """Resize target for an image of ``width_px`` x ``height_px`` with focal lengths ``fx_px`` (and ``fy_px``).

    The scale is canonical_focal / fx (one scale for both axes keeps the aspect ratio); sizes round to pixels.
    """
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"image size must be positive, got {width_px}x{height_px}")
    fy_px = fx_px if fy_px is None else fy_px
    if fx_px <= 0 or fy_px <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={fx_px}, fy={fy_px}")
    scale = canonical_focal_px / fx_px
    hfov = math.degrees(2.0 * math.atan(width_px / (2.0 * fx_px)))
    vfov = math.degrees(2.0 * math.atan(height_px / (2.0 * fy_px)))
    return FovUnification(max(1, round(width_px * scale)), max(1, round(height_px * scale)), hfov, vfov, scale)


def focal_from_fov(size_px: int, fov_deg: float) -> float:
    """Focal length in pixels of a pinhole camera with ``fov_deg`` across ``size_px`` pixels."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    return size_px / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
