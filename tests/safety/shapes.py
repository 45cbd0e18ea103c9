"""The shapes of the tiny models the safety fixtures build (tests/safety/conftest.py).

A plain module rather than fixtures: the hypothesis strategies of test_action_fuzzing.py are built from these
when that module is imported, before any fixture exists.
"""

# vst_vla's own policy: one camera, 7-dim actions, 9-dim state.
CAMERA = "observation.images.agentview"
ACTION_DIM, STATE_DIM = 7, 9

# The LeRobot-side policy (VSTVLAPolicy for an SO-101-like arm): one camera, 6-dim actions and state.
LEROBOT_CAMERA = "observation.images.front"
LEROBOT_DIM = 6
