"""Scripted experts of the :mod:`vst_envs.tasks` envs, built on :mod:`vst_envs.primitives`.

:class:`PickPlaceExpert` is one top-down pick-and-place state machine (move_to above the grasp point, descend,
grasp, lift, carry above the place target, lower, release, retreat) with per-task hooks for where to grasp,
how to turn the hand, and where the object goes; :class:`StackExpert`, :class:`PickPlaceCanExpert` and
:class:`NutAssemblyExpert` fill them in. The door expert is in :mod:`.door_expert`.

Like :class:`~vst_envs.experts.LiftExpert` they act from ``env.unwrapped.privileged_state()`` with smooth,
rate-limited proportional control, so their actions are imitable. No robosuite import.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vst_envs.primitives import (
    HAND_YAW_RANGE,
    ArmServo,
    Command,
    PhaseExpert,
    carry_to,
    grasp,
    hand_down,
    hand_yaw,
    move_to,
    nearest_yaw,
    quat_yaw,
    release,
    wrap_angle,
)
from vst_envs.tasks.door_expert import DoorExpert

logger = logging.getLogger(__name__)

__all__ = ["DoorExpert", "NutAssemblyExpert", "PickPlaceCanExpert", "PickPlaceExpert", "StackExpert"]

_UP = np.array([0.0, 0.0, 1.0])


class PickPlaceExpert(PhaseExpert):
    """Top-down pick and place: grasp the object at a point, carry it, set it down at a target, let go.

    The object's *reference point* (e.g. its centre) is what gets placed; at the grasp the expert records it
    in the hand frame, so the hand target for placing is the place target minus that offset turned by the
    carry orientation, whatever the grip.

    Phases: approach (above the grasp point, open, hand turned to the grasp yaw) -> descend -> grasp (close,
    hold) -> lift -> carry (at the transit height, over the place target, hand turned to the place yaw) ->
    lower (slowly) -> release (open, hold) -> retreat (straight up). An object left behind or dropped before
    the lower phase sends it back to approach.

    Args:
        hover_height: metres above the grasp point to approach to before descending.
        grasp_steps / release_steps: steps the gripper closes / opens for before moving on.
        lower_step: metres the hand target runs below the hand while lowering onto the target (its speed).
        lower_xy_tol: lowering pauses while the hand is farther than this (metres) sideways from its target.
        retreat_height: metres to rise after releasing.
        servo: the motion law (default ``ArmServo()``).
    """

    initial_phase = "approach"
    # Whether carrying steers by the object's live position (True) or by the grasp offset recorded when the hand
    # closed (the hand's yaw always follows the plan made at the grasp).
    track_object = False

    def __init__(
        self,
        hover_height: float = 0.06,
        grasp_steps: int = 8,
        release_steps: int = 6,
        lower_step: float = 0.012,
        lower_xy_tol: float = 0.01,
        retreat_height: float = 0.12,
        servo: ArmServo | None = None,
    ) -> None:
        self.hover_height = hover_height
        self.grasp_steps = grasp_steps
        self.release_steps = release_steps
        self.lower_step = lower_step
        self.lower_xy_tol = lower_xy_tol
        self.retreat_height = retreat_height
        super().__init__(servo)

    # --- task hooks ------------------------------------------------------------------------------------------

    def _object_pos(self, state: dict[str, Any]) -> np.ndarray:
        """(3,) the object's reference point, world."""
        raise NotImplementedError

    def _grasp_point(self, state: dict[str, Any]) -> np.ndarray:
        """(3,) where the grip site closes on the object, world."""
        raise NotImplementedError

    def _grasp_yaw(self, state: dict[str, Any]) -> float:
        """Hand yaw (rad) for the grasp."""
        raise NotImplementedError

    def _place_target(self, state: dict[str, Any]) -> np.ndarray:
        """(3,) where the object's reference point is released, world."""
        raise NotImplementedError

    def _transit_z(self, state: dict[str, Any]) -> float:
        """World z of the object's reference point while carrying (clear of everything in between)."""
        raise NotImplementedError

    def _place_yaw(self, state: dict[str, Any]) -> float:
        """Hand yaw (rad) for carrying and placing, decided once at the grasp; default: keep the grasp yaw."""
        return float(self.memory["grasp_yaw"])

    # --- state machine ---------------------------------------------------------------------------------------

    def _transition(self, state: dict[str, Any]) -> None:
        eef = state["eef_pos"]
        if self.phase == "approach":
            target = self._grasp_point(state) + self.hover_height * _UP
            yaw_err = abs(wrap_angle(self._grasp_yaw(state) - hand_yaw(state["eef_quat"])))
            if _xy_dist(eef, target) < 0.01 and abs(eef[2] - target[2]) < 0.02 and yaw_err < 0.1:
                self.goto("descend")
        elif self.phase == "descend":
            target = self._grasp_point(state)
            if _xy_dist(eef, target) > 0.03:
                self.goto("approach")  # the object moved away: start over from above it
            elif (_xy_dist(eef, target) < 0.01 and abs(eef[2] - target[2]) < 0.01) or self.stuck():
                self.memory["grasp"] = eef.copy()
                self.goto("grasp")
        elif self.phase == "grasp":
            if self.phase_steps >= self.grasp_steps:
                self.memory["grasp_yaw"] = hand_yaw(state["eef_quat"])
                self.memory["offset"] = self._hand_offset(state)
                self.memory["place_yaw"] = self._place_yaw(state)
                self.goto("lift")
        elif self.phase in ("lift", "carry"):
            if self._slipped(state):
                self.goto("approach")
            elif self.phase == "lift" and eef[2] > self._carry_hand_z(state) - 0.02:
                self.goto("carry")
            elif self.phase == "carry":
                target = self._place_hand(state)
                yaw_err = abs(wrap_angle(self.memory["place_yaw"] - hand_yaw(state["eef_quat"])))
                if _xy_dist(eef, target) < 0.008 and yaw_err < 0.05:
                    self.goto("lower")
        elif self.phase == "lower":
            target = self._place_hand(state)
            if abs(eef[2] - target[2]) < 0.006 or self.stuck():
                self.goto("release")
        elif self.phase == "release" and self.phase_steps >= self.release_steps:
            self.memory["release"] = eef.copy()
            self.goto("retreat")

    def _command(self, state: dict[str, Any]) -> Command:
        if self.phase == "approach":
            return move_to(self._grasp_point(state) + self.hover_height * _UP, self._grasp_yaw(state))
        if self.phase == "descend":
            return move_to(self._grasp_point(state), self._grasp_yaw(state))
        if self.phase == "grasp":
            return grasp(self.memory["grasp"], self._grasp_yaw(state))
        yaw = float(self.memory["place_yaw"])
        if self.phase == "lift":
            above = self.memory["grasp"] * [1.0, 1.0, 0.0] + self._carry_hand_z(state) * _UP
            return carry_to(above, self.memory["grasp_yaw"])
        if self.phase == "carry":
            target = self._place_hand(state)
            target[2] = self._carry_hand_z(state)
            return carry_to(target, yaw)
        if self.phase == "lower":
            target = self._place_hand(state)
            eef = state["eef_pos"]
            # Straighten out first, then descend a little per step: a capped speed would instead dilute the
            # sideways correction in the downward motion, and a swinging object would land off target.
            if _xy_dist(target, eef) < self.lower_xy_tol:
                target[2] = max(target[2], eef[2] - self.lower_step)
            else:
                target[2] = eef[2]
            return carry_to(target, yaw)
        if self.phase == "release":
            return release(state["eef_pos"], yaw)
        return move_to(self.memory["release"] + self.retreat_height * _UP, yaw)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _hand_offset(self, state: dict[str, Any]) -> np.ndarray:
        """(3,) the object's reference point in the hand frame (what a rigid grasp keeps fixed)."""
        rot = hand_down(hand_yaw(state["eef_quat"]))
        return rot.T @ (self._object_pos(state) - state["eef_pos"])

    def _place_hand(self, state: dict[str, Any]) -> np.ndarray:
        """(3,) the grip-site target that puts the object's reference point on the place target."""
        if self.track_object:
            # Closed loop on the object itself: a grasp that lets it swing or turn is corrected for.
            return state["eef_pos"] + self._place_target(state) - self._object_pos(state)
        return self._place_target(state) - hand_down(self.memory["place_yaw"]) @ self.memory["offset"]

    def _carry_hand_z(self, state: dict[str, Any]) -> float:
        rot = hand_down(hand_yaw(state["eef_quat"]))
        return self._transit_z(state) - float((rot @ self.memory["offset"])[2])

    def _slipped(self, state: dict[str, Any]) -> bool:
        """Whether the object is no longer where the grasp holds it (missed, or dropped)."""
        return bool(np.linalg.norm(self._hand_offset(state) - self.memory["offset"]) > 0.03)


def _xy_dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a[:2] - b[:2]))


class StackExpert(PickPlaceExpert):
    """Stack: grasp the red cube (fingers across the gap to the green cube when they are close), put it on
    the green cube with their faces aligned, let go. Reads ``cube_a_*`` / ``cube_b_*`` of the privileged state."""

    def _object_pos(self, state: dict[str, Any]) -> np.ndarray:
        return state["cube_a_pos"]

    def _grasp_point(self, state: dict[str, Any]) -> np.ndarray:
        return state["cube_a_pos"] - np.array([0.0, 0.0, 0.005])

    def _grasp_yaw(self, state: dict[str, Any]) -> float:
        if "approach_yaw" not in self.memory or self.phase == "approach":
            self.memory["approach_yaw"] = self._choose_grasp_yaw(state)
        return float(self.memory["approach_yaw"])

    def _choose_grasp_yaw(self, state: dict[str, Any]) -> float:
        current = hand_yaw(state["eef_quat"])
        cube_yaw = quat_yaw(state["cube_a_quat"])
        options = [nearest_yaw(current, cube_yaw + k * np.pi / 2, np.pi) for k in (0, 1)]
        gap = state["cube_b_pos"][:2] - state["cube_a_pos"][:2]
        if np.linalg.norm(gap) > 0.1:
            return min(options, key=lambda y: abs(y - current))
        # The fingers open along the hand's y axis (sin y, -cos y): keep them off the neighbouring cube.
        direction = gap / np.linalg.norm(gap)
        return min(options, key=lambda y: abs(np.sin(y) * direction[0] - np.cos(y) * direction[1]))

    def _place_target(self, state: dict[str, Any]) -> np.ndarray:
        # Released a few millimetres above the contact height: the cube settles onto the green one.
        return state["cube_b_pos"] + (state["cube_b_half"] + state["cube_a_half"] + 0.004) * _UP

    def _transit_z(self, state: dict[str, Any]) -> float:
        return float(self._place_target(state)[2] + 0.04)

    def _place_yaw(self, state: dict[str, Any]) -> float:
        turn = wrap_angle(quat_yaw(state["cube_b_quat"]) - quat_yaw(state["cube_a_quat"]), np.pi / 2)
        return float(self.memory["grasp_yaw"] + turn)


class PickPlaceCanExpert(PickPlaceExpert):
    """PickPlaceCan: grasp the can around its middle (any yaw: it is round), lift it over the bin walls,
    lower it into the centre of its quadrant of the other bin, let go and rise clear (success needs the hand
    ~4 cm from the can's centre). Reads ``can_*`` and ``target_*`` of the privileged state."""

    def _object_pos(self, state: dict[str, Any]) -> np.ndarray:
        return state["can_pos"]

    def _grasp_point(self, state: dict[str, Any]) -> np.ndarray:
        # Slightly above the middle: the fingertips close on the can's straight side, clear of the bin floor.
        return state["can_pos"] + np.array([0.0, 0.0, 0.01])

    def _grasp_yaw(self, state: dict[str, Any]) -> float:
        # A can looks the same at every yaw: keep the hand's yaw of the episode start.
        return float(self.memory.setdefault("start_yaw", hand_yaw(state["eef_quat"])))

    # Gap kept between the can's centre and the quadrant's walls (the can is 2.5 cm in radius).
    wall_margin = 0.05

    def _place_target(self, state: dict[str, Any]) -> np.ndarray:
        # The quadrant's point nearest the robot: its centre is at the edge of the Panda's reach, where the hand
        # can no longer hold its orientation.
        low, high = state["target_low"][:2] + self.wall_margin, state["target_high"][:2] - self.wall_margin
        xy = np.clip(state["robot_base_pos"][:2], low, high)
        return np.array([xy[0], xy[1], state["table_height"] + state["can_half_height"] + 0.01])

    def _transit_z(self, state: dict[str, Any]) -> float:
        # The can's bottom 2 cm over the bin rims: higher costs reach on the far side.
        return float(state["bin_wall_top"] + state["can_half_height"] + 0.02)


class NutAssemblyExpert(PickPlaceExpert):
    """NutAssemblySquare: grasp the nut's handle across its width, lift the nut above the peg, turn it square
    to the peg with the handle towards the robot, lower it over the peg (steering by the nut's live position:
    held by the handle it swings) and let go. Reads ``nut_*``, ``handle_pos``, ``peg_*`` and
    ``robot_base_pos`` of the privileged state.

    The grasp and the turn are planned together (:meth:`_plan`): with the handle on the far side of the peg
    the hand would have to reach past it, beyond the Panda's reach at that height, and both the grasp and the
    carry yaw must stay inside the wrist's range (:data:`~vst_envs.primitives.HAND_YAW_RANGE`).
    """

    track_object = True

    def __init__(self, lower_step: float = 0.008, lower_xy_tol: float = 0.003, **kwargs: Any) -> None:
        super().__init__(lower_step=lower_step, lower_xy_tol=lower_xy_tol, **kwargs)

    def _object_pos(self, state: dict[str, Any]) -> np.ndarray:
        return state["nut_pos"]

    def _grasp_point(self, state: dict[str, Any]) -> np.ndarray:
        return state["handle_pos"].copy()

    def _grasp_yaw(self, state: dict[str, Any]) -> float:
        if self.phase == "approach" or "plan" not in self.memory:
            self.memory["plan"] = self._plan(state)
        return float(self.memory["plan"][0])

    def _plan(self, state: dict[str, Any]) -> tuple[float, float]:
        """(grasp yaw, yaw turn while carrying), rad: the least turning that grasps the handle across, ends
        square to the peg with the handle not pointing away from the robot, and stays in the wrist's range."""
        current = hand_yaw(state["eef_quat"])
        arm = state["handle_pos"][:2] - state["nut_pos"][:2]
        handle = float(np.arctan2(arm[1], arm[0]))
        to_robot = state["robot_base_pos"][:2] - state["peg_pos"][:2]
        to_robot_angle = float(np.arctan2(to_robot[1], to_robot[0]))
        square = wrap_angle(quat_yaw(state["peg_quat"]) - quat_yaw(state["nut_quat"]), np.pi / 2)
        low, high = HAND_YAW_RANGE
        best: tuple[float, float, float] | None = None
        # The hand's x axis along the handle either way round grips it (fingers close across its width).
        for grasp_yaw in (handle + j * np.pi for j in range(-3, 4)):
            if not low <= grasp_yaw <= high:
                continue
            for turn in (square + k * np.pi / 2 for k in range(-3, 4)):
                if not low <= grasp_yaw + turn <= high or np.cos(handle + turn - to_robot_angle) < 0.0:
                    continue
                cost = abs(grasp_yaw - current) + abs(turn)
                if best is None or cost < best[0]:
                    best = (cost, grasp_yaw, turn)
        assert best is not None, "some quarter turn always points the handle towards the robot"
        return best[1], best[2]

    def _place_yaw(self, state: dict[str, Any]) -> float:
        return float(self.memory["grasp_yaw"] + self.memory["plan"][1])

    def _place_target(self, state: dict[str, Any]) -> np.ndarray:
        # Let go with the nut low on the peg (success needs it within 5 cm of the table); it slides the rest.
        peg = state["peg_pos"]
        return np.array([peg[0], peg[1], state["table_height"] + 0.035])

    def _transit_z(self, state: dict[str, Any]) -> float:
        return float(state["peg_top"] + 0.035)
