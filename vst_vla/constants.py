"""Batch and observation keys shared by datasets, policies and rollouts (LeRobot's names)."""

OBS_STATE = "observation.state"
OBS_IMAGES_PREFIX = "observation.images."
ACTION = "action"
TASK = "task"
ACTION_IS_PAD = "action_is_pad"

# Keys of the gymnasium observation dict our envs return (the gym_aloha / gym_pusht convention that LeRobot's
# env utilities convert to the keys above).
GYM_PIXELS = "pixels"
GYM_AGENT_POS = "agent_pos"


def image_key(camera: str) -> str:
    """``observation.images.<camera>`` for a camera name."""
    return f"{OBS_IMAGES_PREFIX}{camera}"
