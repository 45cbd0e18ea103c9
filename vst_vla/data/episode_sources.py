"""Where collection's episodes come from: this process, or worker processes rolling out seeds side by side.

Both sources give the :class:`~vst_vla.data.recording.EpisodeRecording` of seeds ``seeds[0], seeds[1], ...``
in that order, so the collecting process writes (or drops) them exactly as a single-process run would; the
dataset is the same whatever the number of workers, because an episode depends only on the env config, the
expert and its seed (:func:`~vst_vla.data.recording.record_episode`).

:class:`WorkerEpisodes` follows :mod:`vst_vla.rollout.parallel`: ``spawn``-ed workers (a forked child would
inherit the parent's MuJoCo / EGL state), each with its own env, made on a worker's first episode of a task and
kept for the next ones. Seeds are queued to whichever worker is free, ahead of the collector (so workers never
wait for it to write) but no further than it may still keep (``wanted``), so a task whose episodes all succeed
rolls out no episode in vain.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from vst_envs import make_env, make_expert

from vst_vla.data.recording import EpisodeRecording, record_episode
from vst_vla.workers import exit_with_parent

__all__ = ["EpisodeSource", "InProcessEpisodes", "WorkerEpisodes", "make_episode_source"]

logger = logging.getLogger(__name__)

START_METHOD = "spawn"

# Render threads per worker, unless the user set it: llvmpipe (Mesa's CPU rasteriser behind EGL on a machine
# without a GPU) otherwise starts one render thread per core in every worker. Read when the first GL context is
# made, i.e. at the worker's first env.
RENDER_THREADS_VAR = "LP_NUM_THREADS"


class EpisodeSource(Protocol):
    """Rolls out expert episodes of a task by seed and yields them in seed order."""

    def episodes(
        self, task: str, env_cfg: Any, seeds: Sequence[int], wanted: Callable[[], int]
    ) -> Iterator[EpisodeRecording]:
        """The episodes of ``seeds`` in order; ``wanted()`` says how many more the caller may keep at most."""
        ...

    def close(self, wait_for_workers: bool = True) -> None:
        """Free the envs and worker processes; without ``wait_for_workers``, do not wait for running episodes."""
        ...


class InProcessEpisodes:
    """Every episode in this process, one env per task (made when the task starts, closed when it ends)."""

    def episodes(
        self, task: str, env_cfg: Any, seeds: Sequence[int], wanted: Callable[[], int]
    ) -> Iterator[EpisodeRecording]:
        """See :class:`EpisodeSource`; ``wanted`` is not needed, since nothing runs ahead of the caller."""
        env = make_env(env_cfg)
        try:
            expert = make_expert(env_cfg)
            for seed in seeds:
                yield record_episode(env, expert, seed, tuple(env_cfg.cameras), env_cfg.max_episode_steps)
        finally:
            env.close()

    def close(self, wait_for_workers: bool = True) -> None:
        """Nothing outlives a task here."""


# --- worker side ---------------------------------------------------------------------------------------------

# The worker's current task, its env and its expert; replaced when the worker gets a seed of another task.
_WORKER: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    """Cap the worker's render threads before its first env creates a GL context; exit if the collector dies."""
    exit_with_parent()
    os.environ.setdefault(RENDER_THREADS_VAR, str(threads))
    # Close the env (and free its GL context) when the worker exits; atexit does not run in pool workers.
    multiprocessing.util.Finalize(None, _close_worker_env, exitpriority=10)


def _close_worker_env() -> None:
    env = _WORKER.pop("env", None)
    _WORKER.clear()
    if env is not None:
        env.close()


def _record_in_worker(task: str, env_cfg: dict[str, Any], seed: int) -> EpisodeRecording:
    """One episode of ``task`` in this worker's env (made from the config dict on the task's first seed)."""
    if _WORKER.get("task") != task:
        _close_worker_env()
        env = make_env(env_cfg)
        _WORKER.update(task=task, env=env, expert=make_expert(env_cfg), cfg=env.unwrapped.config)
    cfg = _WORKER["cfg"]
    return record_episode(_WORKER["env"], _WORKER["expert"], seed, tuple(cfg.cameras), cfg.max_episode_steps)


# --- parent side ---------------------------------------------------------------------------------------------


class WorkerEpisodes:
    """Episodes rolled out by ``num_workers`` spawned processes and yielded in seed order.

    Args:
        num_workers: worker processes (>= 2; one worker is :class:`InProcessEpisodes` without the overhead).
        threads_per_worker: llvmpipe render threads per worker (``LP_NUM_THREADS``; a value already in the
            environment wins); default ``max(1, cpu_count // num_workers)``.
    """

    def __init__(self, num_workers: int, threads_per_worker: int | None = None) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 2:
            raise ValueError(f"WorkerEpisodes needs num_workers >= 2, got {num_workers!r}")
        self.num_workers = num_workers
        threads = threads_per_worker or max(1, (os.cpu_count() or 1) // num_workers)
        # Episodes queued or done but not yet taken (held in memory until the caller takes them, in order).
        self.max_pending = 4 * num_workers
        self._pool = ProcessPoolExecutor(
            max_workers=num_workers,
            mp_context=multiprocessing.get_context(START_METHOD),
            initializer=_init_worker,
            initargs=(threads,),
        )
        logger.info("collecting on %d worker processes (%d render threads each)", num_workers, threads)

    def episodes(
        self, task: str, env_cfg: Any, seeds: Sequence[int], wanted: Callable[[], int]
    ) -> Iterator[EpisodeRecording]:
        """See :class:`EpisodeSource`. Seeds run ahead of the caller up to ``wanted()`` episodes (at most
        ``max_pending``); closing the iterator early cancels the queued seeds the pool can still take back (the
        others finish and are discarded)."""
        cfg = env_cfg.to_dict()
        pending: deque[Future[EpisodeRecording]] = deque()
        next_seed = 0
        try:
            while True:
                # Queue seeds ahead, so workers keep going while this process writes (or imports LeRobot), but
                # no more than the caller may still keep: when every episode succeeds, none is rolled out in vain.
                while next_seed < len(seeds) and len(pending) < min(wanted(), self.max_pending):
                    pending.append(self._pool.submit(_record_in_worker, task, cfg, seeds[next_seed]))
                    next_seed += 1
                if not pending:
                    return
                # In seed order: later seeds may be done already and wait here. result() re-raises a worker's
                # error with its own type.
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self, wait_for_workers: bool = True) -> None:
        """Cancel queued seeds and stop the workers; ``wait_for_workers=False`` (after an error or Ctrl-C)
        returns at once instead of waiting for the episodes under way."""
        self._pool.shutdown(wait=wait_for_workers, cancel_futures=True)


def make_episode_source(num_workers: int) -> EpisodeSource:
    """:class:`InProcessEpisodes` for one worker, :class:`WorkerEpisodes` for more."""
    return InProcessEpisodes() if num_workers == 1 else WorkerEpisodes(num_workers)
