"""Scripted experts that solve vst_envs tasks from privileged simulator state (for demonstrations and tests).

Experts must be imitable: they use proportional control with a speed cap, so actions vary smoothly within a
phase instead of jumping between -1 and 1.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

import numpy as np

from vst_envs.layout import POSITION_DELTA_M_PER_UNIT, ROTATION_DELTA_RAD_PER_UNIT

logger = logging.getLogger(__name__)

# OSC_POSE scales an action of 1 to this many metres / radians (robosuite's BASIC controller config).
_POS_PER_ACTION = POSITION_DELTA_M_PER_UNIT
_ROT_PER_ACTION = ROTATION_DELTA_RAD_PER_UNIT
_GRIPPER_OPEN = -1.0
_GRIPPER_CLOSE = 1.0


def quat_xyzw_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion in robosuite's (x, y, z, w) order."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_rotvec(r: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of a rotation matrix; the angle is in [0, pi]."""
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos))
    if angle < 1e-8:
        return np.zeros(3)
    if angle > np.pi - 1e-4:
        # Near pi the antisymmetric part vanishes; the axis is the dominant column of (R + I) / 2.
        m = (r + np.eye(3)) / 2.0
        axis = m[:, int(np.argmax(np.diag(m)))]
        return angle * axis / np.linalg.norm(axis)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2.0 * np.sin(angle))
    return angle * axis


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _wrap(angle: float, period: float) -> float:
    """Angle wrapped into [-period / 2, period / 2)."""
    return (angle + period / 2.0) % period - period / 2.0


# The Panda hand pointing straight down with zero yaw: x along world x, z along world -z.
_GRIPPER_DOWN = np.diag([1.0, -1.0, -1.0])


class LiftPhase(enum.Enum):
    """The expert's state machine: each phase has a target pose and a gripper command."""

    APPROACH = "approach"  # move above the cube, gripper open, align yaw with a cube face
    DESCEND = "descend"  # go down around the cube
    GRASP = "grasp"  # hold still and close the gripper
    LIFT = "lift"  # raise the cube


class LiftExpert:
    """Scripted Lift expert: approach above the cube, descend, close, lift.

    Args:
        hover_height: metres above the cube centre to approach to before descending.
        grasp_depth: metres below the cube centre the gripper site goes to (fingertips wrap the cube).
        lift_height: metres above the grasp point to lift to (success needs ~2 cm).
        pos_gain / rot_gain: fraction of the remaining position / orientation error commanded per step.
        max_pos_action / max_rot_action: caps on the action norms (speed limits, in action units).
        max_action_change: largest change of any arm action dimension from one step to the next, so phase
            switches ramp the motion instead of jumping (the gripper command still switches at once).
        grasp_steps: steps the gripper closes for before lifting.
        object_key: which object of ``privileged_state()`` to lift: the expert reads ``{object_key}_pos`` (3) and
            ``{object_key}_quat`` (4, xyzw) (``"cube"`` for Lift, ``"target"`` for tabletop_pick).
    """

    def __init__(
        self,
        hover_height: float = 0.06,
        grasp_depth: float = 0.005,
        lift_height: float = 0.12,
        pos_gain: float = 1.0,
        rot_gain: float = 1.0,
        max_pos_action: float = 0.6,
        max_rot_action: float = 0.5,
        max_action_change: float = 0.2,
        grasp_steps: int = 8,
        object_key: str = "cube",
    ) -> None:
        self.hover_height = hover_height
        self.grasp_depth = grasp_depth
        self.lift_height = lift_height
        self.pos_gain = pos_gain
        self.rot_gain = rot_gain
        self.max_pos_action = max_pos_action
        self.max_rot_action = max_rot_action
        self.max_action_change = max_action_change
        self.grasp_steps = grasp_steps
        self.object_key = object_key
        self.reset()

    def reset(self) -> None:
        """Forget the previous episode; call after every ``env.reset``."""
        self.phase = LiftPhase.APPROACH
        self._phase_steps = 0
        self._grasp_pos: np.ndarray | None = None
        self._last_arm_action = np.zeros(6)

    def act(self, env: Any) -> np.ndarray:
        """The next action (float32 (7,), in [-1, 1]) for a LiftEnv (possibly wrapped), from its privileged state."""
        state = self._object_state(env.unwrapped.privileged_state())
        self._advance_phase(state)
        target_pos, gripper = self._phase_target(state)
        position = self._position_action(state["eef_pos"], target_pos)
        rotation = self._rotation_action(state["eef_quat"], state["cube_quat"])
        arm = np.concatenate([position, rotation])
        # Rate-limit the arm so phase switches ramp the motion instead of jumping: easier for a policy to imitate.
        change = np.clip(arm - self._last_arm_action, -self.max_action_change, self.max_action_change)
        self._last_arm_action = np.clip(self._last_arm_action + change, -1.0, 1.0)
        self._phase_steps += 1
        return np.append(self._last_arm_action, gripper).astype(np.float32)

    def _object_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The privileged state with the object to lift under ``cube_pos`` / ``cube_quat``, the keys used below."""
        if self.object_key == "cube":
            return state
        return {**state, "cube_pos": state[f"{self.object_key}_pos"], "cube_quat": state[f"{self.object_key}_quat"]}

    def _set_phase(self, phase: LiftPhase) -> None:
        logger.debug("LiftExpert: %s -> %s", self.phase.value, phase.value)
        self.phase = phase
        self._phase_steps = 0

    def _advance_phase(self, state: dict[str, np.ndarray]) -> None:
        eef, cube = state["eef_pos"], state["cube_pos"]
        xy_err = float(np.linalg.norm(cube[:2] - eef[:2]))
        yaw_err = abs(self._yaw_error(state["eef_quat"], state["cube_quat"]))
        if self.phase is LiftPhase.APPROACH:
            z_err = abs(cube[2] + self.hover_height - eef[2])
            if xy_err < 0.01 and z_err < 0.02 and yaw_err < 0.1:
                self._set_phase(LiftPhase.DESCEND)
        elif self.phase is LiftPhase.DESCEND:
            z_err = abs(cube[2] - self.grasp_depth - eef[2])
            if z_err < 0.01 and xy_err < 0.01:
                self._grasp_pos = eef.copy()
                self._set_phase(LiftPhase.GRASP)
            elif xy_err > 0.03:
                # The cube was pushed away: start over from above it.
                self._set_phase(LiftPhase.APPROACH)
        elif self.phase is LiftPhase.GRASP:
            if self._phase_steps >= self.grasp_steps:
                self._set_phase(LiftPhase.LIFT)
        elif self.phase is LiftPhase.LIFT and eef[2] - cube[2] > 0.05:
            # The cube stayed behind (missed or slipped): open and retry.
            self._set_phase(LiftPhase.APPROACH)

    def _phase_target(self, state: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """Target gripper-site position and gripper command for the current phase."""
        cube = state["cube_pos"]
        if self.phase is LiftPhase.APPROACH:
            return cube + np.array([0.0, 0.0, self.hover_height]), _GRIPPER_OPEN
        if self.phase is LiftPhase.DESCEND:
            return cube - np.array([0.0, 0.0, self.grasp_depth]), _GRIPPER_OPEN
        assert self._grasp_pos is not None
        if self.phase is LiftPhase.GRASP:
            return self._grasp_pos, _GRIPPER_CLOSE
        return self._grasp_pos + np.array([0.0, 0.0, self.lift_height]), _GRIPPER_CLOSE

    def _position_action(self, eef_pos: np.ndarray, target: np.ndarray) -> np.ndarray:
        # Proportional step with a norm cap: straight-line motion whose speed tapers near the target.
        action = self.pos_gain * (target - eef_pos) / _POS_PER_ACTION
        norm = float(np.linalg.norm(action))
        if norm > self.max_pos_action:
            action *= self.max_pos_action / norm
        return action

    def _rotation_action(self, eef_quat: np.ndarray, cube_quat: np.ndarray) -> np.ndarray:
        """Axis-angle action turning the hand to point down with its fingers square to the cube's faces."""
        current = quat_xyzw_to_mat(eef_quat)
        yaw = self._gripper_yaw(current) + self._yaw_error(eef_quat, cube_quat)
        target = _rot_z(yaw) @ _GRIPPER_DOWN
        # OSC_POSE applies the delta as goal = exp(delta) @ current, in the (world-aligned) base frame.
        action = self.rot_gain * mat_to_rotvec(target @ current.T) / _ROT_PER_ACTION
        norm = float(np.linalg.norm(action))
        if norm > self.max_rot_action:
            action *= self.max_rot_action / norm
        return action

    @staticmethod
    def _gripper_yaw(rot: np.ndarray) -> float:
        return float(np.arctan2(rot[1, 0], rot[0, 0]))

    def _yaw_error(self, eef_quat: np.ndarray, cube_quat: np.ndarray) -> float:
        """Smallest yaw turn aligning the hand with a cube face (the cube looks the same every 90 degrees)."""
        cube_rot = quat_xyzw_to_mat(cube_quat)
        cube_yaw = float(np.arctan2(cube_rot[1, 0], cube_rot[0, 0]))
        return _wrap(cube_yaw - self._gripper_yaw(quat_xyzw_to_mat(eef_quat)), np.pi / 2)


class PickExpert(LiftExpert):
    """Scripted tabletop_pick expert: :class:`LiftExpert` aimed at the instruction's target cube.

    It reads the target from ``privileged_state()["target_pos"]`` / ``["target_quat"]``, so it always lifts the
    right cube; the other cubes are far enough apart (see ``vst_envs.tabletop.MIN_SEPARATION_M``) for the
    open gripper to descend between them. Arguments are LiftExpert's.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("object_key", "target")
        super().__init__(**kwargs)
