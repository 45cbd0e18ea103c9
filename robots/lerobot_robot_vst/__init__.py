"""LeRobot robot plugin: a simulated arm (``--robot.type=vst_sim``) for the commands users run on a real one.

``lerobot-rollout --robot.type=so101_follower --robot.port=/dev/ttyACM0 ...`` drives a real SO-101;
``lerobot-rollout --robot.type=vst_sim --robot.task=lift ...`` runs the same tool, strategies and policy
pipelines against a vst_envs task in MuJoCo. LeRobot imports this package for every ``lerobot-*`` command
(``register_third_party_plugins``), so importing it loads no simulator: robosuite is imported on ``connect()``.
"""

from lerobot_robot_vst.config_vst_sim_robot import VSTSimRobotConfig
from lerobot_robot_vst.vst_sim_robot import VSTSimRobot

__all__ = ["VSTSimRobot", "VSTSimRobotConfig"]
