"""Writing recorded expert episodes as LeRobot (v3) datasets: one dataset per finished episode, then one merged.

:func:`write_episode_dataset` writes a kept episode on its own as a complete one-episode LeRobot dataset (PNG
staging, AV1 video, parquet, finalized metadata); :func:`merge_episode_datasets` joins them, in episode order, with
LeRobot's own ``aggregate_datasets``, which copies the parquet rows and stream-copies the videos (no re-encoding)
into the layout a directly recorded dataset has. Appending to one open dataset instead (``save_episode`` on it, or
``LeRobotDataset.resume``) keeps the parquet footer unwritten until ``finalize`` and rewrites ``info.json``,
``stats.json`` and the shared video file in place, so a kill mid-append could cost the episodes already finished;
a finished one-episode dataset is never written again (:mod:`vst_vla.data.staging` keeps them for a resume).

This is the only part of collection that needs LeRobot, and it imports it only at the first episode written:
LeRobot brings torch and ``datasets`` (seconds on a warm machine, over half a minute on a cold, busy one). The
worker processes of :mod:`vst_vla.data.episode_sources`, which re-import the entry module (``python -m
vst_vla.collect``) under ``spawn``, so start without it, and the collecting process imports it while the workers
roll out the next episodes.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vst_vla.data.recording import EpisodeRecording
from vst_vla.native_output import native_output_silenced

__all__ = ["merge_episode_datasets", "write_episode_dataset"]


def write_episode_dataset(
    episode: EpisodeRecording, root: Path, repo_id: str, fps: int, features: dict[str, dict[str, Any]]
) -> None:
    """Write ``episode`` as a complete one-episode LeRobot dataset at ``root`` (which must not exist yet).

    Args:
        episode: the recorded episode (its frames become episode 0).
        root: the new dataset directory.
        repo_id: LeRobot repo id recorded in the dataset.
        fps: the env's control frequency.
        features: as ``LeRobotDataset.create`` takes them; image features become videos.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset  # late on purpose: see the module docstring
    from lerobot.utils.utils import SuppressProgressBars

    dataset = LeRobotDataset.create(
        repo_id, fps=fps, root=root, features=features, use_videos=True, video_backend="pyav"
    )
    try:
        for frame in episode.frames():
            dataset.add_frame(frame)
        # save_episode shows a `datasets` progress bar, which garbles collection's own; it also encodes the
        # videos, and SVT-AV1 prints a ~20-line banner per video straight to the stderr descriptor.
        with SuppressProgressBars(), native_output_silenced():
            dataset.save_episode()
    except BaseException:
        # Release the parquet files before the caller deletes the directory, without masking the error.
        with contextlib.suppress(Exception):
            dataset.finalize()
        raise
    dataset.finalize()  # the parquet footers: without them the dataset cannot be read
    _remove_empty_dirs(root / "images")  # LeRobot's PNG staging area, empty once the videos are encoded


def merge_episode_datasets(parts: Sequence[Path], repo_id: str, root: Path) -> None:
    """Join the datasets ``parts`` (same features and fps), in order, into one new dataset at ``root``.

    Episode ``i`` of the result is the ``i``-th part's episode, frames, videos and task strings unchanged; the
    statistics are LeRobot's aggregate of the parts' (as a directly recorded dataset's are of its episodes').
    """
    from lerobot.datasets.aggregate import aggregate_datasets

    # libav notes the mp4 second pass of every concatenation on the stderr descriptor.
    with native_output_silenced():
        aggregate_datasets([repo_id] * len(parts), repo_id, roots=list(parts), aggr_root=root)


def _remove_empty_dirs(path: Path) -> None:
    """Delete ``path`` if it holds no files (only, possibly, empty directories)."""
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
        shutil.rmtree(path)
