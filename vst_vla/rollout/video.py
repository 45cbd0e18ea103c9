"""Write rollout frames to an H.264 mp4 that browsers, wandb and video players all accept.

Encoding goes through PyAV (libx264, ``yuv420p``), as LeRobot's ``write_video`` does; PyAV comes with
``lerobot[dataset]``. ``yuv420p`` halves the chroma resolution, so both frame sides must be even: odd sizes are
padded by repeating the last row/column (LeRobot crops instead, which would drop image content).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from vst_vla.io import atomic_path

__all__ = ["write_mp4"]

logger = logging.getLogger(__name__)


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    """Validate uint8 (H, W, 3) frames of one size; returns (H, W)."""
    if len(frames) == 0:
        raise ValueError("write_mp4 needs at least one frame")
    first = np.asarray(frames[0])
    if first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"frames must be RGB (H, W, 3), got shape {first.shape}")
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise TypeError(f"frame {i}: expected uint8, got {frame.dtype}")
        if frame.shape != first.shape:
            raise ValueError(f"frame {i} has shape {frame.shape}, frame 0 has {first.shape}")
    return first.shape[0], first.shape[1]


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Pad an (H, W, 3) frame at the bottom/right to even sides (edge values, so no visible border)."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if not (pad_h or pad_w):
        return frame
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: float) -> Path:
    """Encode frames to an H.264/yuv420p mp4 at ``path``, atomically.

    Args:
        frames: uint8 RGB frames, each (H, W, 3), all the same size (or one (T, H, W, 3) array).
        path: destination file; its directory is created if needed. The video appears there only once it is
            complete (written to a hidden temp file beside it, then ``os.replace``-d), and an existing file is
            left untouched if encoding fails.
        fps: frames per second (the env's control frequency gives real-time playback).

    Returns:
        ``path`` as a :class:`~pathlib.Path`. Odd frame sizes come out padded to the next even size.
    """
    import av  # heavy import, only needed when a video is actually written

    if not (fps > 0 and np.isfinite(fps)):
        raise ValueError(f"fps must be finite and positive, got {fps}")
    height, width = _check_frames(frames)
    out_h, out_w = height + height % 2, width + width % 2
    if (out_h, out_w) != (height, width):
        logger.debug("padding %dx%d frames to %dx%d for yuv420p", width, height, out_w, out_h)

    path = Path(path)
    # The temp name does not end in .mp4, so the container format is named explicitly.
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        # limit_denominator keeps fractional rates such as 29.97 exact enough without huge time bases.
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = out_w, out_h
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(_pad_to_even(np.asarray(frame)), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
    return path
