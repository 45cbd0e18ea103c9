"""One scripted-expert episode, rolled out and held in memory until collection decides to write or drop it.

:func:`record_episode` depends only on the env config, the expert and the seed (the env is re-seeded and the
expert restarted at every reset), so the same seed gives the same :class:`EpisodeRecording` whichever process
rolls it out and whatever ran in that env before. That is what lets :mod:`vst_vla.data.episode_sources` spread
episodes over worker processes while the dataset stays identical to a single-process collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from vst_envs.layout import GYM_AGENT_POS, GYM_PIXELS

from vst_vla.constants import ACTION, OBS_STATE, TASK, image_key

__all__ = ["EpisodeRecording", "record_episode"]


@dataclass(frozen=True)
class EpisodeRecording:
    """What the expert saw and did in one episode, frame by frame.

    Frame t holds the observation the expert saw and the action it then took; the final observation (after the
    last action) has no action and is not kept.

    Attributes:
        seed: the env seed (``env.reset(seed=seed)``).
        task: the episode's language instruction.
        images: camera name -> uint8 (T, H, W, 3), upright frames.
        states: float32 (T, state_dim), the env's ``agent_pos``.
        actions: float32 (T, action_dim), the expert's actions.
        success: whether the expert solved the task (the env ends the episode at the success step).
        expert: class name of the expert.
        state_shape: the env's ``agent_pos`` space shape (checked across the tasks of one dataset).
        action_shape: the env's action space shape.
    """

    seed: int
    task: str
    images: dict[str, np.ndarray]
    states: np.ndarray
    actions: np.ndarray
    success: bool
    expert: str
    state_shape: tuple[int, ...]
    action_shape: tuple[int, ...]

    @property
    def length(self) -> int:
        """Number of frames T."""
        return len(self.actions)

    def frames(self) -> Iterator[dict[str, Any]]:
        """The frames as ``LeRobotDataset.add_frame`` takes them (image per camera, state, action, task)."""
        for t in range(self.length):
            frame: dict[str, Any] = {image_key(cam): images[t] for cam, images in self.images.items()}
            frame[OBS_STATE] = self.states[t]
            frame[ACTION] = self.actions[t]
            frame[TASK] = self.task
            yield frame


def record_episode(env: Any, expert: Any, seed: int, cameras: tuple[str, ...], max_steps: int) -> EpisodeRecording:
    """Roll the expert out once from ``env.reset(seed=seed)`` and return the episode.

    Args:
        env: a vst_envs gym env rendering at least ``cameras``.
        expert: its scripted expert (``reset()``, ``act(env)``).
        seed: the env seed.
        cameras: the cameras to keep, in dataset order.
        max_steps: a bound on the episode length; the env truncates at its own ``max_episode_steps`` first,
            this only guards against an env that never ends.

    Returns:
        An :class:`EpisodeRecording` with T >= 1 frames.
    """
    obs, _ = env.reset(seed=seed)
    expert.reset()
    task = env.unwrapped.task_description
    images: dict[str, list[np.ndarray]] = {cam: [] for cam in cameras}
    states: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    success = False
    while len(actions) < max_steps:
        action = np.asarray(expert.act(env), dtype=np.float32)
        for cam in cameras:
            # The env returns a fresh array per observation, so keeping the reference is safe.
            images[cam].append(obs[GYM_PIXELS][cam])
        states.append(np.asarray(obs[GYM_AGENT_POS], dtype=np.float32))
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        success = bool(info.get("is_success", False))
        if terminated or truncated:
            break
    return EpisodeRecording(
        seed=seed,
        task=task,
        images={cam: np.stack(frames) for cam, frames in images.items()},
        states=np.stack(states),
        actions=np.stack(actions),
        success=success,
        expert=type(expert).__name__,
        state_shape=tuple(env.observation_space[GYM_AGENT_POS].shape),
        action_shape=tuple(env.action_space.shape),
    )
