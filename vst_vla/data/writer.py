"""Writing recorded expert episodes into a new LeRobot (v3) dataset: PNG staging, AV1 video, parquet.

This is the only part of collection that needs LeRobot, and it imports it only when the dataset is created, at
the first episode: LeRobot brings torch and ``datasets`` (seconds on a warm machine, over half a minute on a
cold, busy one). The worker processes of :mod:`vst_vla.data.episode_sources`, which re-import the entry module
(``python -m vst_vla.collect``) under ``spawn``, so start without it, and the collecting process imports it
while the workers roll out the next episodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vst_vla.data.recording import EpisodeRecording
from vst_vla.native_output import native_output_silenced

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

__all__ = ["DatasetWriter"]


class DatasetWriter:
    """A LeRobot dataset made on demand at ``root`` and filled one :class:`EpisodeRecording` at a time.

    Args:
        repo_id: LeRobot repo id recorded in the dataset.
        root: the (new) dataset directory.
    """

    def __init__(self, repo_id: str, root: Path) -> None:
        self.repo_id, self.root = repo_id, root
        self.dataset: LeRobotDataset | None = None

    def create(self, fps: int, features: dict[str, dict[str, Any]]) -> None:
        """Make the dataset: ``features`` as ``LeRobotDataset.create`` takes them, videos for image features."""
        from lerobot.datasets.lerobot_dataset import LeRobotDataset  # late on purpose: see the module docstring

        self.dataset = LeRobotDataset.create(
            self.repo_id, fps=fps, root=self.root, features=features, use_videos=True, video_backend="pyav"
        )

    def write(self, episode: EpisodeRecording) -> None:
        """Add the episode's frames and save it as the dataset's next episode (one video per camera)."""
        from lerobot.utils.utils import SuppressProgressBars  # loaded by create() already

        assert self.dataset is not None, "create() before write()"
        for frame in episode.frames():
            self.dataset.add_frame(frame)
        # save_episode shows a `datasets` progress bar, which garbles collection's own; it also encodes the
        # videos, and SVT-AV1 prints a ~20-line banner per video straight to the stderr descriptor.
        with SuppressProgressBars(), native_output_silenced():
            self.dataset.save_episode()

    def finalize(self) -> None:
        """Write the parquet footers (without them the dataset cannot be read); idempotent."""
        if self.dataset is not None:
            self.dataset.finalize()
