"""The finished episodes of a collection under way, kept on disk so that a rerun after a kill resumes it.

While ``python -m vst_vla.collect`` runs, every kept episode is written as a complete one-episode LeRobot dataset
(:func:`~vst_vla.data.writer.write_episode_dataset`) under a hidden temporary name and renamed to
``<parent>/.<name>.collecting/episodes/task<i>-seed<s>`` only once complete, with its seed, task and outcome in
``meta/vst_episode.json``. A kill (SIGKILL, power cut, Ctrl-C) therefore leaves finished episodes under their
final names and at most one half-written one under a temporary name, which the next run deletes unread.

``collection.json`` in that directory records what is being collected (the tasks and their env configs, the seeds,
the count, whether failures are kept, the attempt limit, the repo id; not the number of workers, which changes
nothing): a rerun with the same settings keeps the finished episodes and collects only the missing ones, on the
same seeds, so its dataset equals an uninterrupted run's; a rerun with other settings is refused, naming the field
(with ``overwrite`` the old episodes are discarded instead). The directory is hidden and separate from the dataset
root, which appears only once the whole dataset is complete; it is deleted once the dataset is in place. The
dataset records its staging manifest's digest (:meth:`CollectionStaging.manifest_digest`), so a staging directory
that a kill left between the dataset's move into place and its deletion is recognised as finished and removed by
the next run (:func:`remove_finished_staging`), never resumed or left behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vst_vla.data.recording import EpisodeRecording
from vst_vla.errors import OutputExistsError
from vst_vla.io import remove_dead_temporaries, temporary_sibling, write_json_atomic

__all__ = ["CollectionStaging", "StagedEpisode", "remove_finished_staging", "staging_dir"]

logger = logging.getLogger(__name__)

MANIFEST_FILE = "collection.json"
EPISODES_DIR = "episodes"
EPISODE_INFO_FILE = "meta/vst_episode.json"  # inside each one-episode dataset
MANIFEST_VERSION = 1
_EPISODE_NAME = re.compile(r"^task(?P<task>\d+)-seed(?P<seed>\d+)$")


def staging_dir(root: str | os.PathLike[str]) -> Path:
    """Where the finished episodes of a collection into ``root`` wait: the hidden ``.<name>.collecting`` beside it."""
    root = Path(root)
    return root.with_name(f".{root.name}.collecting")


@dataclass(frozen=True)
class StagedEpisode:
    """A finished episode: a one-episode LeRobot dataset at ``path``.

    Attributes:
        path: the one-episode dataset.
        task_index: position of its task in the collection's task order.
        task: the task name.
        seed: the env seed it was rolled out on.
        success: whether the expert solved the task.
        length: number of frames.
        expert: class name of the expert.
        state_shape: the env's ``agent_pos`` space shape.
        action_shape: the env's action space shape.
    """

    path: Path
    task_index: int
    task: str
    seed: int
    success: bool
    length: int
    expert: str
    state_shape: tuple[int, ...]
    action_shape: tuple[int, ...]


class CollectionStaging:
    """The staging directory of one collection (see the module docstring); made by :meth:`open`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def episodes_dir(self) -> Path:
        return self.directory / EPISODES_DIR

    @classmethod
    def open(cls, root: Path, manifest: dict[str, Any], overwrite: bool) -> CollectionStaging:
        """The staging directory of a collection into ``root`` with settings ``manifest``; made if absent.

        An existing one with the same manifest is resumed (half-written episodes of killed writers are deleted);
        one with another manifest is discarded with ``overwrite``, else refused.

        Args:
            root: the dataset root the collection writes.
            manifest: JSON-able settings that determine the dataset (see the module docstring), grouped as
                ``{"collect": {...}, "tasks": [...], "env": {...}}`` so a difference reads as a config field.
            overwrite: whether the user allowed replacing what is at ``root``.

        Raises:
            OutputExistsError: an interrupted collection with other settings is there and ``overwrite`` is false;
                the message names the directory and the first differing field.
        """
        manifest = {"version": MANIFEST_VERSION, **json.loads(json.dumps(manifest))}  # tuples as JSON lists
        directory = staging_dir(root)
        if directory.is_dir():
            found = _read_manifest(directory)
            if found == manifest:
                remove_dead_temporaries(directory / EPISODES_DIR)
                return cls(directory)
            field, theirs, ours = _first_difference(found, manifest) if found is not None else (MANIFEST_FILE, None, "")
            if not overwrite:
                raise OutputExistsError(
                    f"{directory} holds the finished episodes of an interrupted collection into {root} with other "
                    f"settings ({field}: {theirs!r} there, {ours!r} in this run); rerun with its settings to resume "
                    f"it, or delete {directory} (or pass collect.overwrite=true) to start afresh"
                )
            logger.warning("discarding the interrupted collection in %s (%s was %r, now %r)", directory, field,
                           theirs, ours)
            cls(directory).discard()
        # Made complete under a temporary name, so the directory is never there without its manifest.
        tmp = temporary_sibling(directory)
        try:
            (tmp / EPISODES_DIR).mkdir(parents=True)
            write_json_atomic(tmp / MANIFEST_FILE, manifest)
            os.rename(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(directory)

    def episodes(self) -> list[StagedEpisode]:
        """The finished episodes, by task order then seed. An entry without its episode file (not written by this
        module) is deleted, never taken for a finished episode."""
        found = []
        for entry in sorted(self.episodes_dir.iterdir()):
            if entry.name.startswith("."):
                continue  # a live writer's temporary
            info = _read_episode_info(entry)
            if info is None or _EPISODE_NAME.match(entry.name) is None:
                logger.warning("deleting %s: not a finished episode", entry)
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                continue
            found.append(StagedEpisode(path=entry, **info))
        return sorted(found, key=lambda e: (e.task_index, e.seed))

    def add(
        self, task_index: int, task: str, episode: EpisodeRecording, write: Callable[[Path], None]
    ) -> StagedEpisode:
        """Keep ``episode``: ``write(path)`` writes its one-episode dataset at a fresh ``path``, which becomes
        finished (renamed to its final name) only once ``write`` returned and the episode file is written."""
        staged = StagedEpisode(
            path=self.episodes_dir / f"task{task_index:03d}-seed{episode.seed:012d}",
            task_index=task_index, task=task, seed=episode.seed, success=episode.success, length=episode.length,
            expert=episode.expert, state_shape=episode.state_shape, action_shape=episode.action_shape,
        )
        tmp = temporary_sibling(staged.path)
        try:
            write(tmp)
            info = asdict(staged)
            del info["path"]
            write_json_atomic(tmp / EPISODE_INFO_FILE, info)
            os.rename(tmp, staged.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return staged

    def manifest_digest(self) -> str:
        """A digest of this collection's settings, which the finished dataset records (see the module docstring)."""
        return _digest(_read_manifest(self.directory))

    def discard(self) -> None:
        """Delete the directory; renamed to a temporary name first, so a kill midway never leaves part of it under
        its own name (the next writer in the parent deletes the rest)."""
        if not self.directory.exists():
            return
        trash = temporary_sibling(self.directory, "old")
        os.rename(self.directory, trash)
        shutil.rmtree(trash, ignore_errors=True)


def remove_finished_staging(root: Path, recorded_digest: str | None) -> bool:
    """Delete the staging directory beside ``root`` if it belongs to the dataset already at ``root``.

    ``recorded_digest`` is the manifest digest that dataset recorded when it was moved into place. A match means a
    kill landed between that move and the staging directory's deletion: its episodes are all in the dataset.
    Another collection's staging directory (an interrupted overwrite of ``root``) is kept for its resume.
    Returns whether one was deleted."""
    directory = staging_dir(root)
    if recorded_digest is None or not directory.is_dir():
        return False
    staging = CollectionStaging(directory)
    if staging.manifest_digest() != recorded_digest:
        return False
    logger.info("deleting %s: its collection finished as %s", directory, root)
    staging.discard()
    return True


def _digest(manifest: dict[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        found = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _read_episode_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((path / EPISODE_INFO_FILE).read_text())
        return {
            "task_index": int(info["task_index"]), "task": str(info["task"]), "seed": int(info["seed"]),
            "success": bool(info["success"]), "length": int(info["length"]), "expert": str(info["expert"]),
            "state_shape": tuple(info["state_shape"]), "action_shape": tuple(info["action_shape"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _first_difference(theirs: Any, ours: Any, where: str = "") -> tuple[str, Any, Any]:
    """The first dotted field where two manifests differ, with both values (``where`` when they differ as a whole)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            if theirs.get(key) != ours.get(key):
                return _first_difference(theirs.get(key), ours.get(key), f"{where}.{key}" if where else key)
    return where, theirs, ours
