"""Evaluation spread over worker processes, each with its own env (and EGL context) and its own policy copy.

:func:`evaluate_parallel` gives, for the same seeds, the same per-episode results (success, length, reward) and
the same output files as :func:`vst_vla.rollout.runner.evaluate`: :func:`~vst_vla.rollout.runner.run_episode`
depends only on (env config, policy, seed), the workers map it over the seeds, and the parent hands the
results, in seed order, to the same writer (:func:`~vst_vla.rollout.runner.record_results`).

Workers are started with the ``spawn`` method: a forked child would inherit the parent's MuJoCo/EGL state
(and torch's thread pools), which is not fork-safe. Each worker builds its env from the config dict and its
policy from a picklable *policy factory*, a callable ``factory(env) -> policy`` run inside the worker:

- :class:`ExpertPolicyFactory`: the scripted expert (it acts on the worker's env);
- :class:`PretrainedPolicyFactory`: a saved checkpoint of either layout (``load_vla_policy``).

Seeds are handed out one at a time (dynamic load balancing); the first ``n_videos`` seeds come back with their
frames and the parent writes the mp4s. Errors raised in a worker (a policy/env mismatch, a bad action) are
re-raised in the parent with their own type.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.util
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from vst_vla.rollout.ablation import check_image_ablation
from vst_vla.rollout.runner import (
    DEFAULT_FPS,
    EpisodeResult,
    check_seeds,
    prepare_out_dir,
    record_results,
    run_episode,
)
from vst_vla.rollout.stats import EvalSummary

__all__ = ["ExpertPolicyFactory", "PolicyFactory", "PretrainedPolicyFactory", "evaluate_parallel"]

logger = logging.getLogger(__name__)

PolicyFactory = Callable[[Any], Any]
"""Builds a policy inside a worker, given the worker's env; must be picklable (a module-level class instance)."""

START_METHOD = "spawn"


@dataclasses.dataclass(frozen=True)
class ExpertPolicyFactory:
    """The env's scripted expert (:class:`~vst_vla.rollout.expert_policy.ExpertPolicy`) acting on ``env``."""

    def __call__(self, env: Any) -> Any:
        from vst_vla.rollout.expert_policy import ExpertPolicy

        return ExpertPolicy(env.unwrapped.config, env=env)


@dataclasses.dataclass(frozen=True)
class PretrainedPolicyFactory:
    """A :class:`~vst_vla.vla.modeling.VLAPolicy` checkpoint, loaded in eval mode and checked against the env.

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

        from vst_vla.precision import apply_precision
        from vst_vla.rollout.policy_eval import check_policy_fits_env
        from vst_vla.vla.loading import load_vla_policy

        policy = load_vla_policy(self.path).to(torch.device(self.device))
        apply_precision(policy, self.precision, self.device)
        policy.eval()
        check_policy_fits_env(policy, env)
        return policy


# --- worker side ---------------------------------------------------------------------------------------------

# One env and one policy per worker process, built by _init_worker and used by every _run_seed call there.
_WORKER: dict[str, Any] = {}


def _init_worker(env_cfg: dict[str, Any], factory: PolicyFactory, max_steps: int | None, threads: int,
                 image_ablation: str = "none") -> None:
    """Build the worker's env (wrapped for ``image_ablation``) and policy; an error is kept and raised by the first
    task, not here.

    ProcessPoolExecutor marks the whole pool broken when an initializer raises and reports only that, so the
    real exception (e.g. a policy/env mismatch) would be lost.
    """
    import torch

    # Every worker using all cores would oversubscribe the machine num_workers times over.
    torch.set_num_threads(threads)
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


def _run_seed(seed: int, record_video: bool) -> EpisodeResult:
    """One episode in this worker's env (see :func:`~vst_vla.rollout.runner.run_episode`)."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    return run_episode(
        _WORKER["env"], _WORKER["policy"], seed, max_steps=_WORKER["max_steps"], record_video=record_video
    )


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

    with ProcessPoolExecutor(
        max_workers=num_workers,
        mp_context=multiprocessing.get_context(START_METHOD),
        initializer=_init_worker,
        initargs=(cfg_dict, policy_factory, max_steps, threads, image_ablation),
    ) as pool:
        # map submits every seed up front and yields results in submission (= seed) order; chunksize 1 lets an
        # idle worker take the next seed, so long episodes do not pile up on one worker.
        results = pool.map(_run_seed, seeds, [i < n_videos for i in range(len(seeds))])
        try:
            return record_results(
                results, len(seeds), out_dir, fps if fps is not None else _video_fps(cfg_dict), progress, start,
                image_ablation=image_ablation,
            )
        except BaseException:
            # Do not wait for the remaining episodes after an error (or Ctrl-C).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
