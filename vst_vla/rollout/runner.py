"""Closed-loop evaluation of a policy in a gymnasium env: single episodes and seeded evaluation runs.

:func:`run_episode` is a pure function of (env, policy, seed): it reseeds the env *and* torch's RNG from the
seed and resets the policy, so an episode's outcome does not depend on which episodes ran before it, or in
which process. That is what lets :func:`vst_vla.rollout.parallel.evaluate_parallel` (worker processes each
owning an env and a policy, mapping over seeds) reproduce :func:`evaluate` exactly: it runs ``run_episode`` per
seed in the workers and hands the results, in seed-list order, to the same writer, :func:`record_results`.

Outputs of :func:`evaluate` in ``out_dir``:

- ``episodes.jsonl``: one JSON object per finished episode (seed, success, length, total_reward, seconds,
  video), flushed line by line so a crash leaves every finished episode readable;
- ``episode_{seed}.mp4`` for the first ``n_videos`` episodes;
- ``summary.json``: :meth:`EvalSummary.to_dict`, written atomically once all episodes are done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from vst_vla.io import write_json_atomic
from vst_vla.rollout.ablation import image_ablation_of
from vst_vla.rollout.observation import gym_obs_to_batch
from vst_vla.rollout.stats import EvalSummary
from vst_vla.rollout.video import write_mp4

__all__ = [
    "EpisodeResult",
    "Policy",
    "PolicyActionError",
    "check_seeds",
    "evaluate",
    "prepare_out_dir",
    "record_results",
    "run_episode",
]

logger = logging.getLogger(__name__)

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
# Used when the env's metadata has no "render_fps"; the lift env's default control frequency.
DEFAULT_FPS = 20


class Policy(Protocol):
    """The part of LeRobot's ``PreTrainedPolicy`` interface a rollout uses."""

    def reset(self) -> None:
        """Clear per-episode state (action queues, observation history)."""

    def select_action(self, batch: dict[str, Any]) -> torch.Tensor:
        """One action, (1, action_dim), in env units, for a batch from :func:`gym_obs_to_batch`."""


class PolicyActionError(RuntimeError):
    """A policy produced an action the env must not receive (non-finite values or the wrong shape)."""

    def __init__(self, message: str, seed: int, step: int) -> None:
        super().__init__(f"seed {seed}, step {step}: {message}")
        self.message = message
        self.seed = seed
        self.step = step

    def __reduce__(self) -> tuple[type, tuple[str, int, int]]:
        # Exceptions pickle as cls(*self.args); ours takes three arguments, and a rollout worker process sends
        # its errors to the parent by pickling them.
        return type(self), (self.message, self.seed, self.step)


@dataclasses.dataclass
class EpisodeResult:
    """Outcome of one episode.

    Attributes:
        seed: the seed the env (and torch) was reset with.
        success: whether ``info["is_success"]`` was true at any step.
        length: env steps taken.
        total_reward: undiscounted sum of rewards.
        seconds: wall-clock duration, rendering included.
        frames: uint8 (H, W, 3) frames, the reset frame then one per step, when recorded; else None.
    """

    seed: int
    success: bool
    length: int
    total_reward: float
    seconds: float
    frames: list[np.ndarray] | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable fields, without the frames."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "frames"}


def _policy_device(policy: Any) -> torch.device:
    """Where the policy wants its inputs: its parameters' device, else ``policy.config.device``, else CPU."""
    # Parameters first: they are where the computation actually happens, whatever a config says.
    if isinstance(policy, torch.nn.Module):
        for param in policy.parameters():
            return param.device
    device = getattr(getattr(policy, "config", None), "device", None)
    return torch.device(device) if device is not None else torch.device("cpu")


def _to_env_action(action: Any, action_dim: int | None, seed: int, step: int) -> np.ndarray:
    """Check a policy's (1, action_dim) output and turn it into the float32 (action_dim,) array the env takes."""
    if isinstance(action, torch.Tensor):
        array = action.detach().to("cpu", torch.float32).numpy()
    elif isinstance(action, np.ndarray):
        array = action.astype(np.float32, copy=False)
    else:
        raise PolicyActionError(f"select_action returned {type(action).__name__}, expected a torch.Tensor", seed, step)
    if array.ndim != 2 or array.shape[0] != 1 or (action_dim is not None and array.shape[1] != action_dim):
        expected = f"(1, {action_dim if action_dim is not None else 'action_dim'})"
        raise PolicyActionError(f"action has shape {array.shape}, expected {expected}", seed, step)
    if not np.isfinite(array).all():
        raise PolicyActionError(f"action is not finite: {array[0].tolist()}", seed, step)
    return array[0]


def _action_dim(env: gym.Env) -> int | None:
    shape = getattr(env.action_space, "shape", None)
    return int(np.prod(shape)) if shape else None


def run_episode(
    env: gym.Env,
    policy: Policy,
    seed: int,
    max_steps: int | None = None,
    record_video: bool = False,
) -> EpisodeResult:
    """Run one closed-loop episode.

    Resets the policy, seeds torch's global RNG with ``seed`` (so a sampling policy's episode depends only on the
    seed) and resets the env with ``seed``; then feeds :func:`gym_obs_to_batch` of each observation, with the
    env's ``task_description``, to ``policy.select_action`` under ``torch.inference_mode`` and steps the env with
    the resulting action until it terminates or truncates, or ``max_steps`` steps have run.

    Args:
        env: a gymnasium env with the ``vst_envs`` observation layout, whose step info carries ``is_success``.
        policy: see :class:`Policy`.
        seed: episode seed.
        max_steps: optional cap on steps, below the env's own time limit.
        record_video: keep ``env.render()`` frames (one after reset, one per step).

    Returns:
        An :class:`EpisodeResult`.

    Raises:
        PolicyActionError: the policy returned a non-finite action or one not shaped (1, action_dim).
        KeyError: the env's step info has no ``is_success``.
    """
    start = time.perf_counter()
    device = _policy_device(policy)
    action_dim = _action_dim(env)
    task = env.unwrapped.task_description

    policy.reset()
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    frames = [env.render()] if record_video else None

    success, total_reward, step = False, 0.0, 0
    while max_steps is None or step < max_steps:
        batch = gym_obs_to_batch(obs, task, device)
        with torch.inference_mode():
            action = policy.select_action(batch)
        env_action = _to_env_action(action, action_dim, seed, step)
        obs, reward, terminated, truncated, info = env.step(env_action)
        step += 1
        total_reward += float(reward)
        if "is_success" not in info:
            raise KeyError(f"env step info has no 'is_success' (keys: {sorted(info)}); cannot score the episode")
        # Success at any step counts (LeRobot's convention); our envs also terminate on it.
        success = success or bool(info["is_success"])
        if frames is not None:
            frames.append(env.render())
        if terminated or truncated:
            break

    return EpisodeResult(
        seed=int(seed),
        success=success,
        length=step,
        total_reward=total_reward,
        seconds=time.perf_counter() - start,
        frames=frames,
    )


def _env_fps(env: gym.Env) -> float:
    fps = (getattr(env, "metadata", None) or {}).get("render_fps")
    if fps is None or not math.isfinite(fps) or fps <= 0:
        logger.warning("env metadata has no usable 'render_fps'; writing videos at %d fps", DEFAULT_FPS)
        return DEFAULT_FPS
    return float(fps)


def _append_jsonl(handle: IO[str], record: dict[str, Any]) -> None:
    handle.write(json.dumps(record) + "\n")
    # Flush per line: if a later episode crashes the process, the finished ones are on disk.
    handle.flush()


def check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("evaluate needs at least one seed")
    duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicates:
        # Repeated seeds replay identical episodes: they would inflate n and narrow the interval for nothing.
        raise ValueError(f"seeds must be distinct, repeated: {duplicates}")
    return seeds


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` and delete a ``summary.json`` left there by an earlier run.

    A summary left by an earlier run must not sit beside this run's episodes if this one crashes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SUMMARY_FILE).unlink(missing_ok=True)
    return out_dir


def record_results(
    results: Iterable[EpisodeResult],
    n_episodes: int,
    out_dir: Path,
    video_fps: float,
    progress: bool = True,
    start: float | None = None,
    image_ablation: str = "none",
) -> EvalSummary:
    """Write finished episodes (in the order given) to ``out_dir`` and return their summary.

    The one writer behind :func:`evaluate` and :func:`vst_vla.rollout.parallel.evaluate_parallel`, so both
    produce the same files: an episode carrying ``frames`` gets ``episode_{seed}.mp4``; every episode gets a
    line in ``episodes.jsonl`` as soon as it arrives; ``summary.json`` is written once ``results`` is exhausted.

    Args:
        results: episode results, typically a generator producing them as they finish.
        n_episodes: how many ``results`` will yield (for the progress bar).
        out_dir: an existing directory (see :func:`prepare_out_dir`).
        video_fps: frame rate of the videos.
        progress: show a tqdm bar with the running success rate.
        start: ``time.perf_counter()`` at the start of the evaluation (default: now).
        image_ablation: what the policy saw instead of the camera images, recorded in the summary.
    """
    start = time.perf_counter() if start is None else start
    finished: list[EpisodeResult] = []
    with (
        (out_dir / EPISODES_FILE).open("w", encoding="utf-8") as episodes_file,
        tqdm(total=n_episodes, desc="eval", unit="episode", disable=not progress, dynamic_ncols=True) as bar,
    ):
        for result in results:
            record = result.to_dict()
            record["video"] = None
            if result.frames:
                video = write_mp4(result.frames, out_dir / f"episode_{result.seed}.mp4", video_fps)
                record["video"] = video.name
            result.frames = None  # frames are large; keep only the scalars for the summary
            finished.append(result)
            _append_jsonl(episodes_file, record)
            n_success = sum(r.success for r in finished)
            bar.update(1)
            bar.set_postfix(success=f"{n_success}/{len(finished)} ({n_success / len(finished):.0%})")
            logger.debug("seed %d: success=%s length=%d", result.seed, result.success, result.length)

    summary = EvalSummary.from_episodes(finished, seconds=time.perf_counter() - start, image_ablation=image_ablation)
    write_json_atomic(out_dir / SUMMARY_FILE, summary.to_dict())
    logger.info(
        "success %d/%d (%.1f%%, 95%% CI [%.1f%%, %.1f%%]) in %.1f s -> %s",
        summary.successes,
        summary.n_episodes,
        100 * summary.success_rate,
        100 * summary.ci_low,
        100 * summary.ci_high,
        summary.seconds,
        out_dir,
    )
    return summary


def evaluate(
    env_factory: Callable[[], gym.Env],
    policy: Policy,
    seeds: Sequence[int],
    out_dir: str | Path,
    n_videos: int = 2,
    progress: bool = True,
    *,
    max_steps: int | None = None,
    fps: float | None = None,
) -> EvalSummary:
    """Evaluate ``policy`` on one episode per seed, sequentially, writing results to ``out_dir``.

    Args:
        env_factory: builds the env; called once, and the env is closed at the end (also on errors). An env
            wrapped by :func:`vst_vla.rollout.ablation.make_rollout_env` has its image ablation recorded.
        policy: see :class:`Policy`.
        seeds: distinct episode seeds, run in this order.
        out_dir: created if needed; ``episodes.jsonl``, ``summary.json`` and the videos go there. An existing
            ``episodes.jsonl`` is overwritten and an existing ``summary.json`` deleted first, so after a crash the
            directory never pairs a finished summary with unfinished episodes.
        n_videos: record ``episode_{seed}.mp4`` for the first this-many episodes.
        progress: show a tqdm bar with the running success rate.
        max_steps: optional per-episode step cap (see :func:`run_episode`).
        fps: video frame rate; defaults to the env's ``metadata["render_fps"]``.

    Returns:
        The :class:`EvalSummary` also written to ``summary.json``.
    """
    seeds = check_seeds(seeds)
    if n_videos < 0:
        raise ValueError(f"n_videos must be >= 0, got {n_videos}")
    out_dir = prepare_out_dir(out_dir)
    start = time.perf_counter()

    env = env_factory()
    try:
        video_fps = fps if fps is not None else _env_fps(env)
        results = (
            run_episode(env, policy, seed, max_steps=max_steps, record_video=index < n_videos)
            for index, seed in enumerate(seeds)
        )
        return record_results(results, len(seeds), out_dir, video_fps, progress=progress, start=start,
                              image_ablation=image_ablation_of(env))
    finally:
        env.close()
