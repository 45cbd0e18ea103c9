"""A vst_envs task behind LeRobot's ``Robot`` interface, so ``lerobot-rollout`` and friends drive it like an arm.

Features follow LeRobot's conventions for arms (``lerobot-rollout`` keeps only ``.pos`` / ``.vel`` scalars):
the 9 proprioceptive values as ``<name>.pos`` (end-effector position and quaternion, finger joints; see
:mod:`vst_envs.layout`) and each camera as ``(H, W, 3)``. Actions are the task's 7 delta end-effector commands,
named ``<name>.vel`` (a delta per control step is a rate). Their order is the env's, which is the order of
``observation.state`` / ``action`` in datasets written by ``python -m vst_vla.collect``, so a policy trained on
those datasets maps onto this robot by name.

Besides policy actions, :meth:`VSTSimRobot.send_action` accepts a pose goal in the observation's own ``.pos``
keys, which LeRobot sends when it returns an arm to its start pose at shutdown: the goal is tracked with
proportional delta commands, as a real arm's position controller would. Pose goals do not count as policy steps.

A real arm never resets its scene; the simulation does, when an episode succeeds or runs out of steps
(``reset_on_episode_end``), and logs each episode's outcome so a rollout ends with a success count.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from lerobot.robots.robot import Robot
from vst_envs.layout import (
    ACTION_NAMES,
    AGENT_POS_NAMES,
    POSITION_DELTA_M_PER_UNIT,
    ROTATION_DELTA_RAD_PER_UNIT,
)

from lerobot_robot_vst.config_vst_sim_robot import VSTSimRobotConfig
from lerobot_robot_vst.episode_tally import EpisodeResult, EpisodeTally
from vst_vla.io import write_json_atomic

logger = logging.getLogger(__name__)

STATE_KEYS = tuple(f"{name}.pos" for name in AGENT_POS_NAMES)
ACTION_KEYS = tuple(f"{name}.vel" for name in ACTION_NAMES)
# A finger-opening error (metres) below this holds the gripper where it is in pose-goal mode.
_GRIPPER_DEADBAND_M = 1e-3


class InvalidCommandError(ValueError):
    """A command ``send_action`` refuses before anything moves; the message names the key and the value."""


class VSTSimRobot(Robot):
    """The simulated Panda of a vst_envs task; see the module docstring.

    Args:
        config: which task, cameras and seeds (``--robot.*`` on LeRobot's command lines).
    """

    config_class = VSTSimRobotConfig
    name = "vst_sim"

    def __init__(self, config: VSTSimRobotConfig) -> None:
        super().__init__(config)
        self.config = config
        self._env: Any | None = None
        self._obs: dict[str, Any] | None = None
        self._episode_seed = config.seed
        self._episode_steps = 0
        self._episode_done = False
        self.tally = EpisodeTally()

    # ---- features (valid before connect) -----------------------------------------------------------------------

    @cached_property
    def _env_config(self) -> Any:
        from vst_envs.config import env_config_from_dict

        return env_config_from_dict(self.config.env_fields())

    @property
    def observation_features(self) -> dict[str, type | tuple]:
        size = self.config.image_size
        return {**dict.fromkeys(STATE_KEYS, float), **dict.fromkeys(self.config.camera_names, (size, size, 3))}

    @property
    def action_features(self) -> dict[str, type]:
        return dict.fromkeys(ACTION_KEYS, float)

    @property
    def task_description(self) -> str:
        """The current episode's instruction (for ``--task`` / ``--dataset.single_task``)."""
        if self._env is None:
            raise RuntimeError(f"{self} is not connected")
        return self._env.task_description

    # ---- connection --------------------------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._env is not None

    def connect(self, calibrate: bool = True) -> None:
        """Build the simulator and start the first episode (seed ``config.seed``)."""
        if self.is_connected:
            raise RuntimeError(f"{self} is already connected")
        from vst_envs import make_env

        self._env = make_env(self._env_config)
        self._start_episode()
        logger.info("%s connected: task %s, instruction %r", self, self.config.task, self.task_description)

    @property
    def is_calibrated(self) -> bool:
        return True  # simulated joints have exact encoders: nothing to calibrate

    def calibrate(self) -> None:
        """Nothing to do: a simulated arm has no encoder offsets."""

    def configure(self) -> None:
        """Nothing to do: the controller is configured when the simulator is built."""

    def disconnect(self) -> None:
        """Record the running episode as interrupted, log (and optionally write) the tally, free the simulator."""
        if not self.is_connected:
            raise RuntimeError(f"{self} is not connected")
        if self._episode_steps > 0 and not self._episode_done:
            self.tally.record(EpisodeResult(self._episode_seed, self._episode_steps, success=False, finished=False))
        logger.info("%s: %s", self, self.tally.describe())
        if self.config.summary_path:
            write_json_atomic(Path(self.config.summary_path), {"task": self.config.task, **self.tally.summary()})
        self._env.close()
        self._env = None

    # ---- observation / action ----------------------------------------------------------------------------------

    def get_observation(self) -> dict[str, Any]:
        """``{"<state name>.pos": float, ..., "<camera>": uint8 (H, W, 3)}`` of the current simulator state."""
        if self._obs is None:
            raise RuntimeError(f"{self} is not connected")
        state = self._obs["agent_pos"]
        observation: dict[str, Any] = {key: float(value) for key, value in zip(STATE_KEYS, state, strict=True)}
        observation.update(self._obs["pixels"])
        return observation

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]:
        """Step the simulation one control step; returns the action actually applied (clipped to [-1, 1]).

        ``action`` holds every ``.vel`` key of :attr:`action_features`, or (a pose goal) a subset of the
        observation's ``.pos`` keys. Raises ValueError on missing or unknown keys and on NaN / inf values,
        before anything moves.
        """
        if self._env is None:
            raise RuntimeError(f"{self} is not connected")
        keys = set(action)
        if keys and keys <= set(STATE_KEYS):
            command = self._command_towards(_numbers(action, "pose goal"))
            self._step(command, counts_as_policy_step=False)
            return dict(zip(ACTION_KEYS, command.tolist(), strict=True))
        missing, unknown = sorted(set(ACTION_KEYS) - keys), sorted(keys - set(ACTION_KEYS))
        if missing or unknown:
            raise InvalidCommandError(
                f"vst_sim action must have exactly the keys {list(ACTION_KEYS)} "
                f"(or a pose goal in {list(STATE_KEYS)}); "
                f"missing {missing}, unknown {unknown}"
            )
        values = _numbers(action, "action")
        command = np.clip(np.array([values[k] for k in ACTION_KEYS], dtype=np.float64), -1.0, 1.0)
        self._step(command, counts_as_policy_step=True)
        return dict(zip(ACTION_KEYS, command.tolist(), strict=True))

    # ---- episodes ----------------------------------------------------------------------------------------------

    def _start_episode(self) -> None:
        self._obs, _ = self._env.reset(seed=self._episode_seed)
        self._episode_steps = 0
        self._episode_done = False

    def _step(self, command: np.ndarray, counts_as_policy_step: bool) -> None:
        # The motor boundary: whatever computed the command, only 7 finite values in [-1, 1] reach the controller.
        if command.shape != (len(ACTION_KEYS),) or not np.all(np.isfinite(command)) or np.abs(command).max() > 1.0:
            raise InvalidCommandError(f"vst_sim refuses the command {command.tolist()}; expected {len(ACTION_KEYS)} "
                                      "finite values in [-1, 1]")
        self._obs, _, terminated, truncated, info = self._env.step(command.astype(np.float32))
        if not counts_as_policy_step or self._episode_done:
            return
        self._episode_steps += 1
        self.tally.policy_steps += 1
        if terminated or truncated:
            success = bool(info.get("is_success", False))
            self.tally.record(EpisodeResult(self._episode_seed, self._episode_steps, success, finished=True))
            logger.info("%s: episode seed %d %s after %d steps (%s)", self, self._episode_seed,
                        "succeeded" if success else "failed", self._episode_steps, self.tally.describe())
            self._episode_done = True
            if self.config.reset_on_episode_end:
                self._episode_seed += 1
                self._start_episode()

    def _command_towards(self, goal: dict[str, float]) -> np.ndarray:
        """A delta command moving the end effector (and fingers) towards a pose goal given in ``.pos`` keys."""
        from scipy.spatial.transform import Rotation

        current = dict(zip(STATE_KEYS, np.asarray(self._obs["agent_pos"], dtype=np.float64), strict=True))
        target = {key: goal.get(key, current[key]) for key in STATE_KEYS}
        quat_now = np.array([current[k] for k in STATE_KEYS[3:7]])
        quat_goal = np.array([target[k] for k in STATE_KEYS[3:7]])
        norm = np.linalg.norm(quat_goal)
        if not np.isfinite(norm) or norm < 1e-6:
            # scipy would refuse it with a message naming none of our keys (and 1e160 overflows its norm to inf).
            raise InvalidCommandError(f"vst_sim pose goal {dict(zip(STATE_KEYS[3:7], quat_goal.tolist()))} is not "
                                      "a rotation; expected a unit quaternion (norm 1)")
        # OSC_POSE rotates by an axis-angle given in the base frame: goal = delta * now.
        rotation = (Rotation.from_quat(quat_goal) * Rotation.from_quat(quat_now).inv()).as_rotvec()
        rotation /= ROTATION_DELTA_RAD_PER_UNIT
        with np.errstate(over="ignore"):  # a goal past ±1e308 overflows to ±inf, which the clip below saturates
            position = np.array([target[k] - current[k] for k in STATE_KEYS[:3]]) / POSITION_DELTA_M_PER_UNIT
            opening_error = (target["finger_left.pos"] - target["finger_right.pos"]) - (
                current["finger_left.pos"] - current["finger_right.pos"]
            )
        gripper = 0.0 if abs(opening_error) < _GRIPPER_DEADBAND_M else (-1.0 if opening_error > 0 else 1.0)
        return np.clip(np.concatenate([position, rotation, [gripper]]), -1.0, 1.0)


def _numbers(command: dict[str, Any], what: str) -> dict[str, float]:
    """Every value of ``command`` as a finite float, or an InvalidCommandError naming the key and the value."""
    values = {}
    for key, value in command.items():
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            raise InvalidCommandError(f"vst_sim {what} {key!r} is {value!r}; expected one number") from None
        if not np.isfinite(values[key]):
            raise InvalidCommandError(f"vst_sim refuses a non-finite {what}: {key!r} is {values[key]}")
    return values
