"""The observation and action layout every vst_envs task shares, named; importing it imports no simulator.

Observation: a dict with ``pixels`` (camera name -> uint8 image) and ``agent_pos``, the keys of the gym_aloha /
gym_pusht convention that LeRobot's env utilities convert to ``observation.images.<camera>`` and
``observation.state``.

``agent_pos`` (9): end-effector position (world frame, metres), its quaternion (xyzw, as robosuite reports it)
and the two Panda finger joint positions (metres). Action (7, each in [-1, 1]): end-effector position delta
(1 = 5 cm, robot base frame = world axes), rotation delta as axis-angle (1 = 0.5 rad), gripper (-1 opens,
+1 closes; robosuite moves the fingers a fixed amount per step in that direction).
"""

from __future__ import annotations

# Keys of the observation dict; vst_vla's rollouts and recorders read them from here.
GYM_PIXELS = "pixels"
GYM_AGENT_POS = "agent_pos"

AGENT_POS_NAMES: tuple[str, ...] = (
    "eef_x", "eef_y", "eef_z", "eef_qx", "eef_qy", "eef_qz", "eef_qw", "finger_left", "finger_right",
)
ACTION_NAMES: tuple[str, ...] = ("eef_dx", "eef_dy", "eef_dz", "eef_drx", "eef_dry", "eef_drz", "gripper")
AGENT_POS_DIM = len(AGENT_POS_NAMES)
ACTION_DIM = len(ACTION_NAMES)

# What one unit of the action means (robosuite OSC_POSE output limits of the Panda controller config).
POSITION_DELTA_M_PER_UNIT = 0.05
ROTATION_DELTA_RAD_PER_UNIT = 0.5
