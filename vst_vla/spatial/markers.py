"""Labelled point markers drawn on an image: a magenta dot with its label boxed up-right of it.

One drawing for the spatial engine's marked-point skills (:mod:`vst_vla.spatial.engine.marks`) and for the
perception probes that teach a model to read them on synthetic canvases (:mod:`vst_vla.spatial.probes`), so a
probe's markers look exactly like the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MARKER_COLOR = (255, 0, 255)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow's bundled font: identical on every machine, so marked images are byte-identical across runs.
    return ImageFont.load_default(size=size)


def mark_image(image: np.ndarray, marks: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """``image`` (H x W x 3 uint8) with a dot and a boxed label at each ``(pixel (u, v), label)``.

    Sizes scale with the image (radius ~1/64 of the width, labels ~1/11) so 96-512 px renders all stay legible;
    labels sit up-right of the dot and are kept inside the image.
    """
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    radius = max(2, round(width / 64))
    font = _font(max(8, round(width / 11)))
    for (u, v), label in marks:
        draw.ellipse((u - radius, v - radius, u + radius, v + radius), fill=MARKER_COLOR, outline=(255, 255, 255))
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left, bottom - top
        x = min(max(u + radius, 0), width - tw - 2)
        y = min(max(v - radius - th - 2, 0), height - th - 2)
        draw.rectangle((x, y, x + tw + 2, y + th + 2), fill=(255, 255, 255))
        draw.text((x + 1 - left, y + 1 - top), label, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)
