"""Motion primitives for scripted experts: a pose servo, hand-orientation geometry and a phase machine.

:class:`LiftExpert`'s motion law, made reusable: an expert says each step *where* the grip site should go
(:class:`Command`: a target position, a hand orientation and a gripper command) and :class:`ArmServo` turns that
into a smooth, imitable 7-D OSC_POSE delta action (proportional with speed caps and a per-step rate limit).
:class:`PhaseExpert` is the state-machine skeleton every task expert shares (current phase, steps in it, points
remembered at transitions). The top-down primitives :func:`move_to` (open hand), :func:`grasp`,
:func:`carry_to` (closed hand: lift, carry, lower) and :func:`release` are the commands pick-and-place phases
are made of (see :mod:`vst_envs.tasks.experts`); other motions (the door's lever turn) build :class:`Command`
s with a full orientation.

Conventions: world frame (the robot base frame is aligned with it), metres, radians, quaternions xyzw.
A "downward hand with yaw y" is the Panda hand pointing straight down, turned by y about world z; its fingers
open and close along the hand's y axis, which is ``(sin y, -cos y, 0)`` in the world. No robosuite import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from vst_envs.experts import (
    _GRIPPER_CLOSE,
    _GRIPPER_DOWN,
    _GRIPPER_OPEN,
    _POS_PER_ACTION,
    _ROT_PER_ACTION,
    _rot_z,
    _wrap,
    mat_to_rotvec,
    quat_xyzw_to_mat,
)

logger = logging.getLogger(__name__)

GRIPPER_OPEN = _GRIPPER_OPEN
GRIPPER_CLOSE = _GRIPPER_CLOSE
# Yaws (rad) a downward Panda hand can reach over the table: its last joint sits at ~0.785 - yaw and stops at
# +-2.9 rad (a small margin kept). Robosuite's start pose has yaw 0.
HAND_YAW_RANGE = (-2.0, 3.5)

__all__ = [
    "GRIPPER_CLOSE",
    "GRIPPER_OPEN",
    "HAND_YAW_RANGE",
    "ArmServo",
    "Command",
    "PhaseExpert",
    "axis_rotation",
    "carry_to",
    "grasp",
    "hand_down",
    "hand_yaw",
    "move_to",
    "nearest_yaw",
    "quat_yaw",
    "release",
    "rotate_about",
    "rotation_error",
    "wrap_angle",
]


# --- geometry ----------------------------------------------------------------------------------------------


def wrap_angle(angle: float, period: float = 2.0 * np.pi) -> float:
    """``angle`` wrapped into [-period / 2, period / 2)."""
    return _wrap(angle, period)


def hand_down(yaw: float) -> np.ndarray:
    """Rotation (3, 3) of the hand pointing straight down, turned by ``yaw`` (rad) about world z."""
    return _rot_z(yaw) @ _GRIPPER_DOWN


def hand_yaw(eef_quat: np.ndarray) -> float:
    """Yaw (rad) of the hand's x axis about world z, for a hand with quaternion ``eef_quat`` (4, xyzw)."""
    rot = quat_xyzw_to_mat(eef_quat)
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def quat_yaw(quat: np.ndarray) -> float:
    """Yaw (rad) of a body's x axis about world z, for its quaternion (4, xyzw)."""
    rot = quat_xyzw_to_mat(quat)
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def nearest_yaw(current: float, yaw: float, period: float) -> float:
    """The yaw among ``yaw + k * period`` (k integer) closest to ``current``: an object symmetric under turns
    by ``period`` (pi / 2 for a cube, pi for a bar) is grasped by turning the hand as little as possible."""
    return current + wrap_angle(yaw - current, period)


def rotation_error(eef_quat: np.ndarray, target: np.ndarray) -> float:
    """Angle (rad, in [0, pi]) of the turn from the hand orientation ``eef_quat`` (4, xyzw) to ``target`` (3, 3)."""
    return float(np.linalg.norm(mat_to_rotvec(target @ quat_xyzw_to_mat(eef_quat).T)))


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation (3, 3) by ``angle`` (rad) about the unit vector ``axis`` (3,) (Rodrigues' formula)."""
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def rotate_about(point: np.ndarray, anchor: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """``point`` (3,) rotated by ``angle`` about the line through ``anchor`` (3,) along ``axis`` (3,)."""
    return anchor + axis_rotation(axis, angle) @ (np.asarray(point, dtype=np.float64) - anchor)


# --- servo -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Where the hand should go this step.

    Attributes:
        position: (3,) target of the grip site (between the fingertips), world, metres.
        gripper: -1 open, +1 close (:data:`GRIPPER_OPEN` / :data:`GRIPPER_CLOSE`).
        rotation: (3, 3) target hand orientation, or None to command no rotation.
    """

    position: np.ndarray
    gripper: float
    rotation: np.ndarray | None = None

    @classmethod
    def down(cls, position: np.ndarray, yaw: float, gripper: float) -> Command:
        """A command with the hand pointing down at ``yaw`` (the top-down grasp every pick task uses)."""
        return cls(np.asarray(position, dtype=np.float64), gripper, hand_down(yaw))


class ArmServo:
    """Turns :class:`Command` s into 7-D OSC_POSE delta actions (LiftExpert's motion law).

    Position: a proportional step towards the target with its norm capped (straight-line motion that slows
    near the target). Rotation: the axis-angle of the remaining turn, likewise. The arm part (6) of the action
    then changes by at most ``max_action_change`` per dimension per step, so phase switches ramp the motion
    instead of jumping; the gripper command switches at once.

    Args:
        pos_gain / rot_gain: fraction of the remaining position / orientation error commanded per step.
        max_pos_action / max_rot_action: caps on the action norms (speed limits, in action units; 1 = 5 cm /
            0.5 rad per step).
        max_action_change: largest change of any arm action dimension from one step to the next.
    """

    def __init__(
        self,
        pos_gain: float = 1.0,
        rot_gain: float = 1.0,
        max_pos_action: float = 0.6,
        max_rot_action: float = 0.5,
        max_action_change: float = 0.2,
    ) -> None:
        self.pos_gain = pos_gain
        self.rot_gain = rot_gain
        self.max_pos_action = max_pos_action
        self.max_rot_action = max_rot_action
        self.max_action_change = max_action_change
        self.reset()

    def reset(self) -> None:
        """Forget the last action (start of an episode)."""
        self._last_arm = np.zeros(6)

    def __call__(self, eef_pos: np.ndarray, eef_quat: np.ndarray, command: Command) -> np.ndarray:
        """The action (float32 (7,), in [-1, 1]) moving the hand at ``eef_pos`` / ``eef_quat`` (xyzw) towards
        ``command``."""
        position = _capped(self.pos_gain * (command.position - eef_pos) / _POS_PER_ACTION, self.max_pos_action)
        rotation = np.zeros(3)
        if command.rotation is not None:
            current = quat_xyzw_to_mat(eef_quat)
            # OSC_POSE applies the delta as goal = exp(delta) @ current, in the (world-aligned) base frame.
            turn = mat_to_rotvec(command.rotation @ current.T)
            rotation = _capped(self.rot_gain * turn / _ROT_PER_ACTION, self.max_rot_action)
        arm = np.concatenate([position, rotation])
        change = np.clip(arm - self._last_arm, -self.max_action_change, self.max_action_change)
        self._last_arm = np.clip(self._last_arm + change, -1.0, 1.0)
        return np.append(self._last_arm, command.gripper).astype(np.float32)


# --- primitives: top-down commands (the hand pointing down at a yaw) -----------------------------------------


def move_to(position: np.ndarray, yaw: float) -> Command:
    """Move the open hand to ``position`` (3,) at ``yaw`` (approach, descend, retreat)."""
    return Command.down(position, yaw, GRIPPER_OPEN)


def grasp(position: np.ndarray, yaw: float) -> Command:
    """Hold the hand at ``position`` (3,) and ``yaw`` while closing the fingers."""
    return Command.down(position, yaw, GRIPPER_CLOSE)


def carry_to(position: np.ndarray, yaw: float) -> Command:
    """Move the closed hand (holding something) to ``position`` (3,) at ``yaw`` (lift, carry, lower)."""
    return Command.down(position, yaw, GRIPPER_CLOSE)


def release(position: np.ndarray, yaw: float) -> Command:
    """Hold the hand at ``position`` (3,) and ``yaw`` while opening the fingers."""
    return Command.down(position, yaw, GRIPPER_OPEN)


def _capped(action: np.ndarray, cap: float) -> np.ndarray:
    norm = float(np.linalg.norm(action))
    return action * (cap / norm) if norm > cap else action


# --- phase machine -----------------------------------------------------------------------------------------


class PhaseExpert:
    """Skeleton of a scripted expert: a state machine over named phases driving an :class:`ArmServo`.

    Each step :meth:`act` reads ``env.unwrapped.privileged_state()``, lets :meth:`_transition` switch phases
    (via :meth:`goto`), asks :meth:`_command` for the phase's :class:`Command` and servos towards it.
    Subclasses set :attr:`initial_phase` and implement the two hooks; ``self.memory`` keeps points captured
    at transitions (e.g. where the grasp closed) until the next :meth:`reset`.

    Args:
        servo: the motion law (default ``ArmServo()``).
        max_phase_steps: a phase lasting longer than this many steps is stuck; :meth:`_transition` may check
            :meth:`stuck` to retry.
    """

    initial_phase: str = ""

    def __init__(self, servo: ArmServo | None = None, max_phase_steps: int = 80) -> None:
        self.servo = servo if servo is not None else ArmServo()
        self.max_phase_steps = max_phase_steps
        self.reset()

    def reset(self) -> None:
        """Forget the previous episode; call after every ``env.reset``."""
        self.phase = self.initial_phase
        self.phase_steps = 0
        self.memory: dict[str, Any] = {}
        self.servo.reset()

    def goto(self, phase: str) -> None:
        """Switch to ``phase`` (its step count restarts)."""
        logger.debug("%s: %s -> %s", type(self).__name__, self.phase, phase)
        self.phase = phase
        self.phase_steps = 0

    def stuck(self) -> bool:
        """Whether the current phase has run for more than ``max_phase_steps`` steps."""
        return self.phase_steps > self.max_phase_steps

    def act(self, env: Any) -> np.ndarray:
        """The next action (float32 (7,), in [-1, 1]) for the env (possibly wrapped), from its privileged state."""
        state = env.unwrapped.privileged_state()
        self._transition(state)
        command = self._command(state)
        self.phase_steps += 1
        return self.servo(state["eef_pos"], state["eef_quat"], command)

    def _transition(self, state: dict[str, Any]) -> None:
        """Switch phases (with :meth:`goto`) as the state requires."""
        raise NotImplementedError

    def _command(self, state: dict[str, Any]) -> Command:
        """The current phase's target."""
        raise NotImplementedError
