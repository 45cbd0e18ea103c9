"""Batch and observation keys shared by datasets, policies and rollouts (LeRobot's names)."""

OBS_STATE = "observation.state"
OBS_IMAGES_PREFIX = "observation.images."
ACTION = "action"
TASK = "task"
ACTION_IS_PAD = "action_is_pad"

# The keys of the gymnasium observation dict our envs return (``pixels``, ``agent_pos``) live with the envs, in
# vst_envs.layout: the simulation package depends on no other package of the project.


def image_key(camera: str) -> str:
    """``observation.images.<camera>`` for a camera name."""
    return f"{OBS_IMAGES_PREFIX}{camera}"
