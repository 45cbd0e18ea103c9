"""Collect scripted-expert demonstrations into a local LeRobot (v3) dataset.

:func:`collect_demos` runs the env's scripted expert on seeds ``seed, seed + 1, ...``, keeps the successful
episodes (all of them with ``keep_failed``) and writes them as a LeRobot dataset: camera images as video,
``observation.state`` (the env's ``agent_pos``) and ``action``, with the env's language instruction as the task.
Next to LeRobot's own metadata it stores ``meta/vst_env.json``: the env config and the seeds, so evaluation can
rebuild exactly the env the demonstrations came from.

:func:`collect_multitask_demos` does the same for several tasks into ONE dataset (one after the other, each with
its own env and expert); every frame carries its episode's instruction as the LeRobot task string, and
``meta/vst_env.json`` records every task's env config (see :mod:`vst_vla.data.multitask`).

Episodes are rolled out by ``collect.num_workers`` processes (:mod:`vst_vla.data.episode_sources`) and come
back, in seed order, to this process, which alone writes the dataset: the same seeds give the same dataset
(frames, states, actions, episode order, kept and dropped episodes) with any number of workers. Failed episodes
are dropped before they reach LeRobot, and the video encoder's native console banner is silenced
(:mod:`vst_vla.native_output`).

Every kept episode is first written as its own one-episode LeRobot dataset into the hidden staging directory
``.<name>.collecting`` beside ``root`` (:mod:`vst_vla.data.staging`), renamed there only once complete; when all
are there, LeRobot's ``aggregate_datasets`` merges them in episode order into a hidden sibling of ``root``
(:mod:`vst_vla.data.writer`), which is renamed into place. So a crash, kill or Ctrl-C never leaves a half-written
dataset at ``root``, and a rerun with the same settings keeps every finished episode and collects only the missing
ones, on the seeds an uninterrupted run would use: the dataset is the same as if it had never stopped.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vst_vla.constants import ACTION, OBS_STATE, image_key
from vst_vla.data.config import ENV_METADATA_FILE, CollectConfig
from vst_vla.data.episode_sources import EpisodeSource, make_episode_source
from vst_vla.data.exact_stats import write_exact_quantiles
from vst_vla.data.multitask import check_same_layout, check_same_spaces
from vst_vla.data.staging import CollectionStaging, StagedEpisode, remove_finished_staging
from vst_vla.data.writer import merge_episode_datasets, write_episode_dataset
from vst_vla.errors import ConfigError, OutputExistsError, UserError
from vst_vla.io import check_writable_destination, remove_dead_temporaries, temporary_sibling, write_json_atomic

logger = logging.getLogger(__name__)

# 2: adds "tasks" (every task's env config and episodes); "env" and "collection" are kept as in version 1.
ENV_METADATA_VERSION = 2


@dataclass(frozen=True)
class CollectReport:
    """What :func:`collect_demos` wrote.

    Attributes:
        root: the dataset directory.
        episodes_kept: episodes in the dataset.
        episodes_dropped: failed episodes that were discarded (always 0 with ``keep_failed``).
        frames: frames in the dataset (sum of the kept episodes' lengths).
        seconds: wall-clock time of the whole collection, encoding included.
        successes: episodes in the dataset in which the expert succeeded.
        seeds: env seed of each kept episode, in episode-index order.
        episode_tasks: task name of each kept episode, in episode-index order.
        episodes_resumed: episodes an interrupted run had finished, kept rather than collected again.
    """

    root: Path
    episodes_kept: int
    episodes_dropped: int
    frames: int
    seconds: float
    successes: int = 0
    seeds: tuple[int, ...] = field(default_factory=tuple)
    episode_tasks: tuple[str, ...] = field(default_factory=tuple)
    episodes_resumed: int = 0


class NotEnoughEpisodesError(RuntimeError):
    """The expert succeeded on fewer seeds than requested within the attempt limit."""


_Shapes = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass
class _TaskRun:
    """What collection produced for one task."""

    episodes: list[StagedEpisode]  # kept, in seed order
    dropped: list[int]
    expert: str
    shapes: _Shapes  # the env's (agent_pos shape, action shape)


def dataset_features(env_cfg: Any, state_dim: int, action_dim: int) -> dict[str, dict]:
    """LeRobot feature spec for an env: one video per camera, the state vector and the action vector.

    Args:
        env_cfg: env config with ``cameras`` and ``image_size`` (square images).
        state_dim: length of the env's ``agent_pos``.
        action_dim: length of the action vector.

    Returns:
        ``{feature name: {"dtype", "shape", "names"}}`` as ``LeRobotDataset.create`` expects.
    """
    size = int(env_cfg.image_size)
    features: dict[str, dict] = {
        image_key(cam): {"dtype": "video", "shape": (size, size, 3), "names": ["height", "width", "channels"]}
        for cam in env_cfg.cameras
    }
    features[OBS_STATE] = {"dtype": "float32", "shape": (state_dim,), "names": None}
    features[ACTION] = {"dtype": "float32", "shape": (action_dim,), "names": None}
    return features


def collect_demos(env_cfg: Any, collect_cfg: CollectConfig) -> CollectReport:
    """Run the scripted expert and write its episodes as a LeRobot dataset at ``collect_cfg.root``.

    Args:
        env_cfg: an env config from ``vst_envs.config`` (e.g. ``LiftEnvConfig``); it must render at least one
            camera, since the dataset stores images.
        collect_cfg: how many episodes, seeds, where to write, whether to keep failures / overwrite.

    Returns:
        A :class:`CollectReport`.

    An interrupted collection into the same ``root`` with the same settings is resumed: its finished episodes
    are kept and only the missing ones collected (``CollectReport.episodes_resumed`` counts them).

    Raises:
        FileExistsError: ``root`` exists and ``overwrite`` is false (or it is not a dataset we may replace), or
            an interrupted collection into ``root`` with other settings waits there and ``overwrite`` is false.
        NotEnoughEpisodesError: (a RuntimeError) fewer than ``num_episodes`` episodes succeeded within
            ``max_attempts``; nothing is written.
    """
    if not env_cfg.cameras:
        raise ConfigError("env.cameras is empty: a demonstration dataset needs at least one camera to record")
    return _collect({env_cfg.type: env_cfg}, collect_cfg)


def collect_multitask_demos(env_cfgs: Mapping[str, Any], collect_cfg: CollectConfig) -> CollectReport:
    """Collect ``collect_cfg.num_episodes`` expert episodes of every task into ONE LeRobot dataset.

    Tasks are collected one after the other, in the given order, each on seeds ``seed, seed + 1, ...``; episode
    indices follow that order. Frames carry their episode's instruction as the LeRobot task string.

    Args:
        env_cfgs: task name -> env config (e.g. from :func:`vst_vla.data.multitask.resolve_tasks`). The tasks
            must share cameras, image size, control frequency, robot and state / action layout.
        collect_cfg: as for :func:`collect_demos`; ``num_episodes`` is per task.

    Raises:
        TaskLayoutError: the tasks cannot share one dataset (checked before any episode runs; the state and
            action shapes before each task's first episode is written). Nothing is written.
        FileExistsError, RuntimeError: as for :func:`collect_demos`.
    """
    check_same_layout(env_cfgs)
    return _collect(dict(env_cfgs), collect_cfg)


def _collect(env_cfgs: dict[str, Any], collect_cfg: CollectConfig) -> CollectReport:
    """Collect every task's missing episodes into the staging directory, merge them, move the dataset into place."""
    root = Path(collect_cfg.root).expanduser().absolute()
    remove_finished_staging(root, _recorded_staging_digest(root))
    _check_can_write(root, collect_cfg.overwrite)
    check_writable_destination(root, "collect.root")
    root.parent.mkdir(parents=True, exist_ok=True)
    # A collection killed outright (SIGKILL, power loss) ran no cleanup: its hidden temp dataset goes now.
    remove_dead_temporaries(root.parent)
    staging = CollectionStaging.open(root, _manifest(env_cfgs, collect_cfg), collect_cfg.overwrite)
    resumed = len(staging.episodes())
    if resumed:
        logger.info("resumed %d finished episodes of the interrupted collection in %s; collecting the rest",
                    resumed, staging.directory)
    start = time.perf_counter()
    try:
        runs = _record(env_cfgs, collect_cfg, staging)
    except (UserError, NotEnoughEpisodesError):
        # A rerun would end the same way (the episodes depend only on the settings): nothing to resume.
        staging.discard()
        raise
    except BaseException:
        kept = len(staging.episodes())
        if kept:
            logger.warning("collection stopped; its %d finished episodes are kept in %s: rerun the same command to "
                           "resume it", kept, staging.directory)
        raise
    # Same directory as root so the final os.rename is atomic (same filesystem) and leaves no partial dataset.
    tmp_root = temporary_sibling(root)
    try:
        episodes = [ep for run in runs.values() for ep in run.episodes]
        merge_episode_datasets([ep.path for ep in episodes], collect_cfg.repo_id, tmp_root)
        # The one place the normalization statistics are computed: every trainer reads them from meta/stats.json.
        write_exact_quantiles(tmp_root)
        metadata = _env_metadata(env_cfgs, collect_cfg, runs)
        metadata["collection"]["staging_manifest"] = staging.manifest_digest()
        write_json_atomic(tmp_root / ENV_METADATA_FILE, metadata)
        _move_into_place(tmp_root, root, collect_cfg.overwrite)
    except BaseException:
        # BaseException: a Ctrl-C must not leave the hidden temp directory behind either.
        shutil.rmtree(tmp_root, ignore_errors=True)
        raise
    staging.discard()
    report = CollectReport(
        root=root,
        episodes_kept=len(episodes),
        episodes_dropped=sum(len(run.dropped) for run in runs.values()),
        frames=sum(ep.length for ep in episodes),
        seconds=time.perf_counter() - start,
        successes=sum(ep.success for ep in episodes),
        seeds=tuple(ep.seed for ep in episodes),
        episode_tasks=tuple(ep.task for ep in episodes),
        episodes_resumed=resumed,
    )
    logger.info(
        "wrote %d episodes (%d frames, %d tasks; %d resumed) to %s in %.1fs; dropped %d failed episodes",
        report.episodes_kept,
        report.frames,
        len(runs),
        resumed,
        root,
        report.seconds,
        report.episodes_dropped,
    )
    return report


def _manifest(env_cfgs: dict[str, Any], collect_cfg: CollectConfig) -> dict[str, Any]:
    """What determines the dataset, as the staging directory records it (grouped and named as the config is)."""
    c = collect_cfg
    env = {name: cfg.to_dict() for name, cfg in env_cfgs.items()}
    return {
        "collect": {"num_episodes": c.num_episodes, "seed": c.seed, "keep_failed": c.keep_failed,
                    "max_attempts": c.max_attempts, "repo_id": c.repo_id},
        "tasks": list(env_cfgs),
        "env": next(iter(env.values())) if len(env) == 1 else env,
    }


def _record(env_cfgs: dict[str, Any], collect_cfg: CollectConfig, staging: CollectionStaging) -> dict[str, _TaskRun]:
    """Run every task's missing expert episodes, each kept one into ``staging`` as a one-episode dataset.

    Episodes are rolled out by ``collect_cfg.num_workers`` processes (this one when 1) and written here, in seed
    order. Each later task's state / action shapes are checked against the first task's before its first episode
    is written. Returns each task's kept episodes (those staged before included), dropped seeds and shapes.
    """
    staged = staging.episodes()
    runs: dict[str, _TaskRun] = {}
    # More workers than episodes per task would only start processes that get no seed. Workers start on the
    # first seed submitted, so a collection with nothing left to roll out starts none.
    source = make_episode_source(min(collect_cfg.num_workers, collect_cfg.num_episodes))
    try:
        for index, (name, env_cfg) in enumerate(env_cfgs.items()):
            first = next(iter(runs.items()), None)
            first_task = (first[0], first[1].shapes) if first is not None else None
            done = [ep for ep in staged if ep.task_index == index]
            runs[name] = _run_episodes(source, staging, env_cfg, collect_cfg, (index, name), done, first_task)
        source.close()
        return runs
    except BaseException:
        # Do not wait for episodes under way after an error (or Ctrl-C).
        source.close(wait_for_workers=False)
        raise


def _run_episodes(
    source: EpisodeSource,
    staging: CollectionStaging,
    env_cfg: Any,
    collect_cfg: CollectConfig,
    task: tuple[int, str],
    done: list[StagedEpisode],
    first_task: tuple[str, _Shapes] | None,
) -> _TaskRun:
    """The attempt loop: keep successes (or everything with keep_failed), drop failures, stop when done.

    Starts after ``done``, the task's episodes finished by an interrupted run: attempt ``i`` is always seed
    ``collect_cfg.seed + i`` and episodes come in seed order, so the seeds before the last finished one that are
    not among ``done`` were dropped, and the rest of the run is the one an uninterrupted collection makes. A later
    task's spaces are checked against ``first_task`` (name, shapes) before anything of it is written.
    """
    task_index, task_name = task
    target, limit, first_seed = collect_cfg.num_episodes, collect_cfg.attempt_limit, collect_cfg.seed
    kept = list(done)
    next_seed = kept[-1].seed + 1 if kept else first_seed
    dropped = sorted(set(range(first_seed, next_seed)) - {ep.seed for ep in kept})
    shapes: _Shapes = (kept[0].state_shape, kept[0].action_shape) if kept else ((), ())
    expert = kept[0].expert if kept else ""
    if kept and first_task is not None:
        check_same_spaces(task_name, *shapes, *first_task)
    bar = tqdm(total=target, initial=len(kept), desc=f"collect {task_name}".strip(), unit="ep", dynamic_ncols=True)
    seeds = range(next_seed, first_seed + limit) if len(kept) < target else range(0)
    episodes = source.episodes(task_name, env_cfg, seeds, wanted=lambda: target - len(kept))
    try:
        for episode in episodes:
            attempt = episode.seed - first_seed
            if not expert:
                shapes, expert = (episode.state_shape, episode.action_shape), episode.expert
                if first_task is not None:
                    check_same_spaces(task_name, *shapes, *first_task)
            if episode.success or collect_cfg.keep_failed:
                features = dataset_features(env_cfg, *(int(np.prod(s)) for s in shapes))
                write = functools.partial(write_episode_dataset, episode, repo_id=collect_cfg.repo_id,
                                          fps=env_cfg.control_freq, features=features)
                kept.append(staging.add(task_index, task_name, episode, write))
                bar.update(1)
            else:
                # A failed episode never reaches the dataset: its frames were only held in memory.
                dropped.append(episode.seed)
                logger.info("expert failed on seed %d after %d steps; episode dropped", episode.seed, episode.length)
            bar.set_postfix(dropped=len(dropped), attempts=attempt + 1)
            if len(kept) == target:
                break
            if len(kept) + (limit - attempt - 1) < target:
                break  # cannot reach the target any more; fail now rather than simulate in vain
    finally:
        episodes.close()  # cancels the seeds still queued for a worker
        bar.close()
    if dropped:
        logger.warning("dropped %d failed episodes (seeds %s)", len(dropped), dropped)
    if len(kept) < target:
        where = f"{task_name}: " if task_name else ""
        raise NotEnoughEpisodesError(
            f"{where}only {len(kept)} of the {target} requested episodes succeeded after {len(kept) + len(dropped)} "
            f"attempts (seeds {first_seed}..{first_seed + len(kept) + len(dropped) - 1}; the expert "
            f"failed on seeds {dropped}); nothing was written. Raise collect.max_attempts, raise "
            f"env.max_episode_steps (now {env_cfg.max_episode_steps}), or set collect.keep_failed=true"
        )
    return _TaskRun(kept, dropped, expert, shapes)


def _env_metadata(env_cfgs: dict[str, Any], collect_cfg: CollectConfig, runs: dict[str, _TaskRun]) -> dict[str, Any]:
    """The contents of ``meta/vst_env.json``: every task's env config plus how the episodes were produced.

    ``env`` (the first task) and ``collection`` (all episodes, in episode-index order) read as in version 1.
    """
    tasks: dict[str, Any] = {}
    seeds: list[int] = []
    success: list[bool] = []
    episode_tasks: list[str] = []
    for name, run in runs.items():
        start = len(seeds)
        tasks[name] = {
            "env": env_cfgs[name].to_dict(),
            "expert": run.expert,
            "episode_indices": list(range(start, start + len(run.episodes))),
            "episode_seeds": [ep.seed for ep in run.episodes],
            "episode_success": [ep.success for ep in run.episodes],
            "dropped_seeds": run.dropped,
        }
        seeds += [ep.seed for ep in run.episodes]
        success += [ep.success for ep in run.episodes]
        episode_tasks += [name] * len(run.episodes)
    experts = list(dict.fromkeys(run.expert for run in runs.values()))
    return {
        "version": ENV_METADATA_VERSION,
        "env": next(iter(env_cfgs.values())).to_dict(),
        "tasks": tasks,
        "collection": {
            "expert": ", ".join(experts),
            "seed": collect_cfg.seed,
            "episode_seeds": seeds,  # index i = LeRobot episode_index i
            "episode_success": success,
            "episode_tasks": episode_tasks,
            "dropped_seeds": [seed for run in runs.values() for seed in run.dropped],
            "keep_failed": collect_cfg.keep_failed,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }


def _recorded_staging_digest(root: Path) -> str | None:
    """The staging manifest digest the dataset at ``root`` recorded, if it is a dataset this module wrote."""
    try:
        digest = json.loads((root / ENV_METADATA_FILE).read_text())["collection"]["staging_manifest"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def _is_replaceable(root: Path) -> bool:
    """Whether ``overwrite`` may delete ``root``: an empty directory or a LeRobot dataset, nothing else.

    This keeps a mistyped ``collect.root=.`` with ``overwrite=true`` from deleting a source tree.
    """
    return root.is_dir() and (not any(root.iterdir()) or (root / "meta" / "info.json").is_file())


def _check_can_write(root: Path, overwrite: bool) -> None:
    if not root.exists():
        return
    if not overwrite:
        raise OutputExistsError(
            f"{root} already exists; refusing to overwrite it. Pass overwrite=True "
            f"(collect.overwrite=true on the command line) or choose another collect.root"
        )
    if not _is_replaceable(root):
        raise OutputExistsError(
            f"{root} exists and is neither an empty directory nor a LeRobot dataset (no meta/info.json); "
            f"refusing to delete it even with overwrite=True"
        )


def _move_into_place(tmp_root: Path, root: Path, overwrite: bool) -> None:
    """Rename the finished dataset to ``root``, replacing an old one only when allowed."""
    # Checked again: something may have appeared at root while we were collecting.
    _check_can_write(root, overwrite)
    if not root.exists():
        os.rename(tmp_root, root)
        return
    # Directories cannot be swapped atomically; move the old one aside first so either the old or the new
    # dataset is at root at every moment, and put it back if the second rename fails.
    trash = temporary_sibling(root, "old")
    os.rename(root, trash)
    try:
        os.rename(tmp_root, root)
    except BaseException:
        os.rename(trash, root)
        raise
    shutil.rmtree(trash, ignore_errors=True)
    logger.info("replaced the existing dataset at %s", root)
