"""The gymnasium side of the plugin: one registered id that builds any vst_envs task for LeRobot.

``gym.make("lerobot_env_vst/VST-v0", fields={"type": "lift", "image_size": 64, ...})`` builds the vst_envs env the
fields describe (``vst_envs.config.env_config_from_dict``) and wraps it in :class:`LeRobotEnvAdapter`, which adds
the one attribute LeRobot's rollout reads that our envs do not have: ``_max_episode_steps`` (the env truncates
itself, so gymnasium's ``TimeLimit``, which would normally carry it, is not used). ``task_description`` /
``task`` and ``info["is_success"]`` come from the env itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

PACKAGE_NAME = "lerobot_env_vst"
GYM_ID = f"{PACKAGE_NAME}/VST-v0"

__all__ = ["GYM_ID", "PACKAGE_NAME", "LeRobotEnvAdapter", "make_vst_env"]


class LeRobotEnvAdapter(gym.Wrapper):
    """A vst_envs env as LeRobot's ``rollout`` expects it (adds ``_max_episode_steps``)."""

    @property
    def _max_episode_steps(self) -> int:
        """The env's own step limit (LeRobot reads it through ``VectorEnv.call("_max_episode_steps")``)."""
        return int(self.env.unwrapped.config.max_episode_steps)


def make_vst_env(fields: Mapping[str, Any], render_mode: str | None = "rgb_array") -> gym.Env:
    """gymnasium entry point: the vst_envs env of config ``fields`` (a dict with ``type``), adapted for LeRobot."""
    from vst_envs import make_env
    from vst_envs.config import env_config_from_dict

    return LeRobotEnvAdapter(make_env(env_config_from_dict(dict(fields)), render_mode=render_mode))


if GYM_ID not in gym.registry:
    # No max_episode_steps: the env truncates itself, and a TimeLimit would count a second time.
    gym.register(GYM_ID, entry_point=f"{__name__}:make_vst_env")
