"""Scripted expert of the ``door`` task (robosuite Door with its latch), built on :mod:`vst_envs.primitives`.

Grasp the lever near its free end from the front (hand pointing at the door, fingers closing on the bar from
above and below: from above, the Panda hand is too wide to fit between lever and door), turn it *up* about
the latch axis (a roll of the wrist; the bolt is symmetric, so up frees it as well as down, and down would
roll the Panda's last joint into its limit) until the bolt clears the frame, then pull the handle along the
door's swing arc. Both motions follow the
door's kinematics: the hand target is where the grasped point of the lever would be with the hinge / latch at
the next angle along the way, so the hand and the lever move together. No robosuite import.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vst_envs.primitives import (
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    ArmServo,
    Command,
    PhaseExpert,
    axis_rotation,
    rotate_about,
    rotation_error,
)

logger = logging.getLogger(__name__)

_UP = np.array([0.0, 0.0, 1.0])


class DoorExpert(PhaseExpert):
    """Door: approach in front of the lever, move onto it, close, turn it down, pull the door open.

    Args:
        grasp_along: where on the lever to grasp, in metres from the bar's centre towards its free end.
        standoff: metres in front of the grasp point (towards the robot) to approach to first.
        grasp_steps: steps the gripper closes for before turning.
        turn_goal: latch angle (rad) to turn the lever to; the bolt clears the frame beyond ~1.3 rad either
            way (the latch stops at +-1.57). Negative turns the lever's free end up.
        turn_lead / pull_lead: how far ahead (rad) of the current latch / hinge angle the hand target runs.
        open_goal: hinge angle (rad) the pull aims at (success is > 0.3; the hinge stops at 0.4).
        servo: the motion law (default ``ArmServo()``).
    """

    initial_phase = "approach"

    def __init__(
        self,
        grasp_along: float = 0.04,
        standoff: float = 0.07,
        grasp_steps: int = 8,
        turn_goal: float = -1.45,
        turn_lead: float = 0.25,
        pull_lead: float = 0.15,
        open_goal: float = 0.38,
        servo: ArmServo | None = None,
    ) -> None:
        self.grasp_along = grasp_along
        self.standoff = standoff
        self.grasp_steps = grasp_steps
        self.turn_goal = turn_goal
        self.turn_lead = turn_lead
        self.pull_lead = pull_lead
        self.open_goal = open_goal
        super().__init__(servo)

    def _grasp_point(self, state: dict[str, Any]) -> np.ndarray:
        lever, end = state["lever_pos"], state["handle_pos"]
        return lever + self.grasp_along * (end - lever) / np.linalg.norm(end - lever)

    @staticmethod
    def _grasp_rotation(state: dict[str, Any]) -> np.ndarray:
        """Hand pointing into the door along the latch axis (its z), fingers closing vertically (its y, up).

        With its y axis up this is a quarter turn from the start pose; with y down it would be a half turn,
        which the servo's shortest-path rotation drives into the Panda's wrist limits.
        """
        forward = state["latch_axis"] * [1.0, 1.0, 0.0]
        forward /= np.linalg.norm(forward)
        return np.stack([np.cross(_UP, forward), _UP, forward], axis=1)

    def _standoff_point(self, state: dict[str, Any]) -> np.ndarray:
        return self._grasp_point(state) - self.standoff * state["latch_axis"]

    def _pose(self, latch: float, hinge: float) -> tuple[np.ndarray, np.ndarray]:
        """Hand position (3,) and orientation (3, 3) holding the lever at these latch / hinge angles (rad)."""
        m = self.memory
        point = rotate_about(m["grasp"], m["latch_anchor"], m["latch_axis"], latch - m["latch0"])
        point = rotate_about(point, m["hinge_anchor"], m["hinge_axis"], hinge - m["hinge0"])
        rot = axis_rotation(m["hinge_axis"], hinge - m["hinge0"]) @ axis_rotation(m["latch_axis"], latch - m["latch0"])
        return point, rot @ m["grasp_rot"]

    def _transition(self, state: dict[str, Any]) -> None:
        eef = state["eef_pos"]
        if self.phase == "approach":
            turn = rotation_error(state["eef_quat"], self._grasp_rotation(state))
            if np.linalg.norm(eef - self._standoff_point(state)) < 0.015 and turn < 0.1:
                self.goto("reach")
        elif self.phase == "reach":
            if np.linalg.norm(eef - self._grasp_point(state)) < 0.008 or self.stuck():
                self.memory.update(
                    grasp=eef.copy(),
                    grasp_rot=self._grasp_rotation(state),
                    latch_anchor=state["latch_anchor"],
                    latch_axis=state["latch_axis"],
                    hinge_anchor=state["hinge_anchor"],
                    hinge_axis=state["hinge_axis"],
                    latch0=float(state["latch_qpos"]),
                    hinge0=float(state["hinge_qpos"]),
                )
                self.goto("grasp")
        elif self.phase == "grasp":
            if self.phase_steps >= self.grasp_steps:
                self.goto("turn")
        elif self.phase in ("turn", "pull"):
            held, _ = self._pose(float(state["latch_qpos"]), float(state["hinge_qpos"]))
            if np.linalg.norm(held - eef) > 0.05:
                self.goto("retry")  # the lever slipped out of the hand
            elif self.phase == "turn" and abs(state["latch_qpos"] - self.turn_goal) < 0.08:
                self.goto("pull")
        elif self.phase == "retry" and self.phase_steps > 15:
            self.goto("approach")

    def _command(self, state: dict[str, Any]) -> Command:
        if self.phase == "approach":
            return Command(self._standoff_point(state), GRIPPER_OPEN, self._grasp_rotation(state))
        if self.phase == "reach":
            return Command(self._grasp_point(state), GRIPPER_OPEN, self._grasp_rotation(state))
        if self.phase == "retry":
            return Command(state["eef_pos"] - 0.1 * self.memory["latch_axis"], GRIPPER_OPEN, None)
        latch, hinge = float(state["latch_qpos"]), float(state["hinge_qpos"])
        if self.phase == "turn":
            step = float(np.clip(self.turn_goal - latch, -self.turn_lead, self.turn_lead))
            position, rotation = self._pose(latch + step, hinge)
        elif self.phase == "pull":
            position, rotation = self._pose(self.turn_goal, min(hinge + self.pull_lead, self.open_goal))
        else:  # grasp
            position, rotation = self.memory["grasp"], self.memory["grasp_rot"]
        return Command(position, GRIPPER_CLOSE, rotation)
