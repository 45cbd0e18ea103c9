"""LeRobot env plugin for the vst_envs robosuite tasks: ``lerobot-eval --env.type=vst --env.task=lift``.

Importing this package registers :class:`~lerobot_env_vst.configs.VSTEnvConfig` as LeRobot env type ``"vst"``
and the gymnasium id ``lerobot_env_vst/VST-v0``; robosuite is imported only when an env is built. Any LeRobot
policy then runs on our tasks through LeRobot's own env factory and eval loop, e.g. (random-init ACT)::

    lerobot-eval --env.discover_packages_path=lerobot_env_vst --env.type=vst --env.task=lift \\
        --env.image_size=64 --env.cheap_render=true --policy.path=<checkpoint> --eval.n_episodes=10 \\
        --eval.batch_size=2

``task`` takes any registered vst_envs type, or several comma-separated (``lift,tabletop_pick``: one suite
each, per-task metrics). LeRobot's ``register_third_party_plugins()`` imports installed *distributions* named
``lerobot_env_*``; while this package ships inside the ``vst-vla`` distribution, name it with
``--env.discover_packages_path=lerobot_env_vst`` as above (LeRobot's parser imports it before parsing).
"""

import os

# Before anything can load MuJoCo (LeRobot may build envs in this process); vst_envs does the same.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from lerobot_env_vst.configs import VSTEnvConfig
from lerobot_env_vst.gym_env import GYM_ID, LeRobotEnvAdapter, make_vst_env

__all__ = ["GYM_ID", "LeRobotEnvAdapter", "VSTEnvConfig", "make_vst_env"]
