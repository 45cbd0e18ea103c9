"""Evaluation spread over worker processes, each with its own env (and EGL context) and its own policy copy.

:func:`evaluate_parallel` gives, for the same seeds, the same per-episode results (success, length, reward) and
the same output files as :func:`vst_vla.rollout.runner.evaluate`: :func:`~vst_vla.rollout.runner.run_episode`
depends only on (env config, policy, seed), the workers map it over the seeds, and the parent hands the
results, in seed order, to the same writer (:func:`~vst_vla.rollout.runner.record_results`).

Workers are started with the ``spawn`` method: a forked child would inherit the parent's MuJoCo/EGL state
(and torch's thread pools), which is not fork-safe. Each worker builds its env from the config dict and its
policy from a picklable *policy factory*, a callable ``factory(env) -> policy`` run inside the worker:

- :class:`ExpertPolicyFactory`: the scripted expert (it acts on the worker's env);
- :class:`PretrainedPolicyFactory`: a saved checkpoint (``load_policy``).

Seeds are handed out one at a time (dynamic load balancing); the first ``n_videos`` seeds come back with their
frames and the parent writes the mp4s. Errors raised in a worker (a policy/env mismatch, a bad action) are
re-raised in the parent with their own type. A worker that dies without raising (a segfault, the OOM killer,
``os._exit``) breaks the pool; that is reported as :class:`WorkerCrashedError` naming the seed it was running and
its exit code, found through a shared table where each worker marks the seed it is running. On either kind of
failure every episode that finished, in any worker, is written to ``episodes.jsonl`` before the error is raised.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.util
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from vst_vla.rollout.ablation import check_image_ablation
from vst_vla.rollout.runner import (
    DEFAULT_FPS,
    EPISODES_FILE,
    EpisodeResult,
    check_seeds,
    prepare_out_dir,
    record_results,
    run_episode,
)
from vst_vla.rollout.stats import EvalSummary
from vst_vla.workers import exit_with_parent

__all__ = ["ExpertPolicyFactory", "PolicyFactory", "PretrainedPolicyFactory", "WorkerCrashedError", "evaluate_parallel"]

logger = logging.getLogger(__name__)

PolicyFactory = Callable[[Any], Any]
"""Builds a policy inside a worker, given the worker's env; must be picklable (a module-level class instance)."""

START_METHOD = "spawn"
# Entries of the shared seed table: a seed not yet started, or finished (with a result or an error the parent
# receives); a running seed holds its worker's pid.
_NOT_STARTED, _DONE = 0, -1


class WorkerCrashedError(RuntimeError):
    """A worker process died without raising (segfault, OOM kill, ``os._exit``) and took its episode with it.

    Attributes:
        seeds: the seeds whose worker crashed while running them (empty if it died between episodes).
        exit_codes: those workers' exit codes (negative: killed by that signal), in the same order.
        interrupted_seeds: seeds another worker was running when the broken pool was shut down (not failures).
        episodes_file: where the episodes that finished are.
    """

    def __init__(self, message: str, seeds: tuple[int, ...], exit_codes: tuple[int | None, ...],
                 interrupted_seeds: tuple[int, ...], episodes_file: Path) -> None:
        super().__init__(message)
        self.seeds, self.exit_codes = seeds, exit_codes
        self.interrupted_seeds, self.episodes_file = interrupted_seeds, episodes_file


@dataclasses.dataclass(frozen=True)
class ExpertPolicyFactory:
    """The env's scripted expert (:class:`~vst_vla.rollout.expert_policy.ExpertPolicy`) acting on ``env``."""

    def __call__(self, env: Any) -> Any:
        from vst_vla.rollout.expert_policy import ExpertPolicy

        return ExpertPolicy(env.unwrapped.config, env=env)


@dataclasses.dataclass(frozen=True)
class PretrainedPolicyFactory:
    """A VLA checkpoint (:func:`~vst_vla.policy.processed.load_policy`), in eval mode and checked against the env.

    Attributes:
        path: the ``pretrained_model`` directory.
        device: torch device name (``"cpu"``, ``"cuda"``); every worker loads its own copy there.
        precision: ``"auto"``, ``"bf16"`` (autocast) or ``"fp32"`` (see :mod:`vst_vla.precision`).
    """

    path: str
    device: str = "cpu"
    precision: str = "auto"

    def __call__(self, env: Any) -> Any:
        import torch

        from vst_vla.policy.processed import load_policy
        from vst_vla.precision import apply_precision
        from vst_vla.rollout.policy_eval import check_policy_fits_env

        policy = load_policy(self.path, self.device).to(torch.device(self.device))
        apply_precision(policy, self.precision, self.device)
        policy.eval()
        check_policy_fits_env(policy, env)
        return policy


# --- worker side ---------------------------------------------------------------------------------------------

# One env and one policy per worker process, built by _init_worker and used by every _run_seed call there.
_WORKER: dict[str, Any] = {}


def _init_worker(env_cfg: dict[str, Any], factory: PolicyFactory, max_steps: int | None, threads: int,
                 image_ablation: str = "none", running: Any = None) -> None:
    """Build the worker's env (wrapped for ``image_ablation``) and policy, and keep ``running``, the parent's shared
    seed table (see :func:`_run_seed`); an error is kept and raised by the first task, not here.

    ProcessPoolExecutor marks the whole pool broken when an initializer raises and reports only that, so the
    real exception (e.g. a policy/env mismatch) would be lost.
    """
    exit_with_parent()  # a killed evaluation leaves no worker waiting for seeds
    import torch

    # Every worker using all cores would oversubscribe the machine num_workers times over.
    torch.set_num_threads(threads)
    _WORKER["running"] = running
    try:
        from vst_vla.rollout.ablation import make_rollout_env

        env = make_rollout_env(env_cfg, image_ablation)
        _WORKER["env"] = env
        # Close the env (and free its GL context) when the worker exits; atexit does not run in pool workers.
        multiprocessing.util.Finalize(None, env.close, exitpriority=10)
        _WORKER["policy"] = factory(env)
        _WORKER["max_steps"] = max_steps
    except BaseException as err:  # noqa: BLE001 - re-raised by _run_seed in the parent's view
        _WORKER["error"] = err


def _run_seed(seed: int, record_video: bool, index: int | None = None) -> EpisodeResult:
    """One episode in this worker's env (see :func:`~vst_vla.rollout.runner.run_episode`). With a shared seed table
    (``running``, and this seed's ``index`` in it), the entry holds this process's pid until the episode returns
    or raises; only a crash leaves it there."""
    running = _WORKER.get("running") if index is not None else None
    if running is None:
        running, index = {}, 0  # nothing to mark (a direct call, as in tests)
    running[index] = os.getpid()
    try:
        if "error" in _WORKER:
            raise _WORKER["error"]
        return run_episode(
            _WORKER["env"], _WORKER["policy"], seed, max_steps=_WORKER["max_steps"], record_video=record_video
        )
    finally:
        running[index] = _DONE


# --- parent side ---------------------------------------------------------------------------------------------


def _env_cfg_dict(env_cfg: Any) -> dict[str, Any]:
    """The env config as the plain dict a worker rebuilds it from (configs pickle fine, dicts are sturdier)."""
    from vst_envs.config import env_config_from_dict

    # Round-trip through the registry so a bad config fails here, before any worker starts.
    return env_config_from_dict(env_cfg if isinstance(env_cfg, Mapping) else env_cfg.to_dict()).to_dict()


def _video_fps(env_cfg: dict[str, Any]) -> float:
    """Our envs render at their control frequency (``metadata["render_fps"]``)."""
    fps = env_cfg.get("control_freq")
    return float(fps) if isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def evaluate_parallel(
    env_cfg: Any,
    policy_factory: PolicyFactory,
    seeds: Sequence[int],
    out_dir: str | Path,
    num_workers: int = 2,
    n_videos: int = 2,
    progress: bool = True,
    *,
    max_steps: int | None = None,
    fps: float | None = None,
    threads_per_worker: int | None = None,
    image_ablation: str = "none",
) -> EvalSummary:
    """Like :func:`~vst_vla.rollout.runner.evaluate`, with the episodes run by ``num_workers`` processes.

    Args:
        env_cfg: an env config (``LiftEnvConfig``, ...) or its ``to_dict()``; each worker makes its own env.
        policy_factory: picklable ``factory(env) -> policy`` run once per worker (see the module docstring).
        seeds: distinct episode seeds; results are written in this order whichever worker ran them.
        out_dir: as for ``evaluate`` (``episodes.jsonl``, ``summary.json``, ``episode_{seed}.mp4``).
        num_workers: worker processes (>= 1; capped at the number of seeds).
        n_videos: the first this-many seeds are recorded (their frames travel back to the parent).
        progress: show a tqdm bar.
        max_steps: optional per-episode step cap.
        fps: video frame rate; defaults to the env config's ``control_freq``.
        threads_per_worker: torch intra-op threads per worker; default ``max(1, cpu_count // num_workers)``.
            Learned policies can differ from a single-process run in the last bits when this differs from the
            parent's thread count; the scripted expert is exact either way.
        image_ablation: what the policy sees instead of the camera images (:mod:`vst_vla.rollout.ablation`);
            recorded in the summary.

    Returns:
        The :class:`EvalSummary` also written to ``summary.json``.
    """
    seeds = check_seeds(seeds)
    if n_videos < 0:
        raise ValueError(f"n_videos must be >= 0, got {n_videos}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
    check_image_ablation(image_ablation)
    cfg_dict = _env_cfg_dict(env_cfg)
    num_workers = min(num_workers, len(seeds))
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // num_workers)
    out_dir = prepare_out_dir(out_dir)
    start = time.perf_counter()
    logger.info("evaluating %d seeds on %d worker processes (%d torch threads each)", len(seeds), num_workers, threads)

    context = multiprocessing.get_context(START_METHOD)
    # The seed table: entry i is the pid of the worker running seeds[i] (see _run_seed). Shared memory, not a
    # message, so it survives the worker that crashes while running the seed.
    running = context.RawArray("q", len(seeds))
    children_before = set(multiprocessing.active_children())
    broken: BrokenProcessPool | None = None
    with ProcessPoolExecutor(
        max_workers=num_workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(cfg_dict, policy_factory, max_steps, threads, image_ablation, running),
    ) as pool:
        # Every seed is submitted up front and results are written in submission (= seed) order; one seed per task
        # lets an idle worker take the next seed, so long episodes do not pile up on one worker.
        futures = [pool.submit(_run_seed, seed, i < n_videos, i) for i, seed in enumerate(seeds)]
        # The pool's processes (spawned by submit), kept to read their exit codes if one crashes.
        workers = [p for p in multiprocessing.active_children() if p not in children_before]
        try:
            return record_results(
                _finished_in_seed_order(futures), len(seeds), out_dir,
                fps if fps is not None else _video_fps(cfg_dict), progress, start, image_ablation=image_ablation,
            )
        except BrokenProcessPool as err:
            broken = err  # reported below, once the pool has shut down and its processes' exit codes are known
        except BaseException:
            # Do not wait for the remaining episodes after an error (or Ctrl-C).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    raise _crash_report(seeds, running, workers, out_dir) from broken


def _finished_in_seed_order(futures: list[Future]) -> Iterator[EpisodeResult]:
    """The episodes' results in seed order; at the first failure, every later episode that has finished too (out of
    order, so the results file keeps them), then the failure itself."""
    for k, future in enumerate(futures):
        try:
            result = future.result()
        except Exception:
            for later in futures[k + 1 :]:
                if later.done() and not later.cancelled() and later.exception() is None:
                    yield later.result()
            raise
        yield result


def _crash_report(seeds: list[int], running: Any, workers: list[multiprocessing.Process],
                  out_dir: Path) -> WorkerCrashedError:
    """Which seeds the dead workers were running, from the seed table and the workers' exit codes."""
    exit_codes = {p.pid: p.exitcode for p in workers}
    # The pool terminates (SIGTERM) the healthy workers once one has died: their seeds were interrupted, not at fault.
    stopped = -signal.SIGTERM
    in_flight = [(seed, int(pid), exit_codes.get(int(pid))) for seed, pid in zip(seeds, running, strict=True)
                 if pid not in (_NOT_STARTED, _DONE)]
    crashed = [(seed, pid, code) for seed, pid, code in in_flight if code != stopped]
    interrupted = tuple(seed for seed, _, code in in_flight if code == stopped)
    if not crashed and interrupted:
        # Every in-flight worker got SIGTERM: killed from outside, so none can be told apart as the first to go.
        crashed, interrupted = in_flight, ()
    episodes_file = out_dir / EPISODES_FILE
    n_kept = len(episodes_file.read_text().splitlines()) if episodes_file.is_file() else 0
    if crashed:
        what = "; ".join(f"seed {seed}: worker process {pid} died with exit code {code}" for seed, pid, code in crashed)
    else:
        codes = sorted({code for code in exit_codes.values() if code not in (None, 0, stopped)})
        what = f"a worker process died between episodes (exit codes {codes})"
    message = (f"evaluation worker crashed: {what}"
               + (f"; seeds {list(interrupted)} were interrupted when the pool shut down" if interrupted else "")
               + f". The {n_kept} finished episodes are in {episodes_file}; no summary was written.")
    logger.error("%s", message)
    return WorkerCrashedError(message, tuple(seed for seed, _, _ in crashed),
                              tuple(code for _, _, code in crashed), interrupted, episodes_file)
