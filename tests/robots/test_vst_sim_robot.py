"""The simulated arm behind LeRobot's Robot interface: features, actions, safety, pose goals and episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lerobot.robots.config import RobotConfig
from lerobot.robots.utils import make_robot_from_config
from lerobot.utils.import_utils import register_third_party_plugins
from lerobot_robot_vst import VSTSimRobot, VSTSimRobotConfig
from lerobot_robot_vst.vst_sim_robot import ACTION_KEYS, STATE_KEYS


def make_robot(tmp_path: Path, **overrides) -> VSTSimRobot:
    fields = dict(image_size=32, cheap_render=True, max_episode_steps=4, calibration_dir=tmp_path / "calibration")
    return VSTSimRobot(VSTSimRobotConfig(**{**fields, **overrides}))


@pytest.fixture
def robot(tmp_path: Path):
    robot = make_robot(tmp_path, summary_path=str(tmp_path / "summary.json"))
    robot.connect()
    yield robot
    if robot.is_connected:
        robot.disconnect()


def zero_action() -> dict[str, float]:
    return dict.fromkeys(ACTION_KEYS, 0.0)


def test_lerobot_builds_it_from_its_registered_type(tmp_path: Path) -> None:
    register_third_party_plugins()
    cfg = RobotConfig.get_choice_class("vst_sim")(calibration_dir=tmp_path, image_size=32)
    robot = make_robot_from_config(cfg)
    assert isinstance(robot, VSTSimRobot) and not robot.is_connected
    # Features are known before connecting, as LeRobot's tools read them first.
    assert list(robot.observation_features) == [*STATE_KEYS, "agentview"]
    assert robot.observation_features["agentview"] == (32, 32, 3)
    assert all(robot.observation_features[k] is float for k in STATE_KEYS)
    assert list(robot.action_features) == list(ACTION_KEYS) and all(k.endswith(".vel") for k in ACTION_KEYS)


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="camera_names"):
        VSTSimRobotConfig(camera_names=[])
    with pytest.raises(ValueError, match="max_episode_steps"):
        VSTSimRobotConfig(max_episode_steps=0)


def test_observation_matches_the_env(robot: VSTSimRobot) -> None:
    obs = robot.get_observation()
    assert set(obs) == {*STATE_KEYS, "agentview"}
    assert obs["agentview"].shape == (32, 32, 3) and obs["agentview"].dtype == np.uint8
    state = np.array([obs[k] for k in STATE_KEYS])
    np.testing.assert_allclose(state, robot._env._observation()["agent_pos"], rtol=1e-6)
    assert 0.9 < obs["eef_z.pos"] < 1.2  # the gripper starts above the table (z ~ 0.8 m)
    assert robot.task_description == "lift the red cube"


def test_actions_move_the_arm_and_are_clipped(robot: VSTSimRobot) -> None:
    z0 = robot.get_observation()["eef_z.pos"]
    for _ in range(2):
        sent = robot.send_action({**zero_action(), "eef_dz.vel": 5.0})
    assert sent["eef_dz.vel"] == 1.0  # clipped to the controller's range
    assert robot.get_observation()["eef_z.pos"] > z0 + 0.005


def test_unsafe_or_malformed_actions_are_refused_before_moving(robot: VSTSimRobot) -> None:
    before = robot.get_observation()
    with pytest.raises(ValueError, match="non-finite"):
        robot.send_action({**zero_action(), "eef_dx.vel": float("nan")})
    with pytest.raises(ValueError, match=r"missing \['gripper.vel'\]"):
        robot.send_action({k: 0.0 for k in ACTION_KEYS if k != "gripper.vel"})
    with pytest.raises(ValueError, match=r"unknown \['shoulder_pan.pos'\]"):
        robot.send_action({**zero_action(), "shoulder_pan.pos": 0.0})
    after = robot.get_observation()
    assert all(before[k] == after[k] for k in STATE_KEYS)
    assert robot.tally.policy_steps == 0


def test_pose_goal_returns_the_arm_to_its_start(tmp_path: Path) -> None:
    """What LeRobot sends at shutdown: the start pose in the observation's .pos keys."""
    robot = make_robot(tmp_path, max_episode_steps=200)
    robot.connect()
    start = {k: v for k, v in robot.get_observation().items() if k in STATE_KEYS}
    for _ in range(8):
        robot.send_action({**zero_action(), "eef_dx.vel": 0.6, "eef_dz.vel": 0.6, "gripper.vel": 1.0})
    moved = robot.get_observation()
    distance = lambda obs: np.linalg.norm([obs[k] - start[k] for k in STATE_KEYS[:3]])  # noqa: E731
    assert distance(moved) > 0.05
    for _ in range(40):
        robot.send_action(start)
    back = robot.get_observation()
    assert distance(back) < 0.01
    opening_before = start["finger_left.pos"] - start["finger_right.pos"]
    opening_after = back["finger_left.pos"] - back["finger_right.pos"]
    assert abs(opening_after - opening_before) < 0.005
    assert robot.tally.policy_steps == 8  # pose goals are not policy steps
    robot.disconnect()


def test_episodes_reset_and_are_tallied(robot: VSTSimRobot, tmp_path: Path) -> None:
    seed0_obs = robot.get_observation()
    for _ in range(10):  # 4-step episodes: two finish, the third is running
        robot.send_action(zero_action())
    assert [(e.seed, e.steps, e.finished) for e in robot.tally.episodes] == [(0, 4, True), (1, 4, True)]
    robot.disconnect()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["task"] == "lift" and summary["policy_steps"] == 10
    assert summary["episodes_finished"] == 2 and summary["successes"] == 0 and summary["success_rate"] == 0.0
    assert summary["episodes"][-1] == {"seed": 2, "steps": 2, "success": False, "finished": False}
    # Seeds make episodes reproducible: a fresh robot starts exactly where this one did.
    again = make_robot(tmp_path)
    again.connect()
    assert again.get_observation()["eef_x.pos"] == seed0_obs["eef_x.pos"]
    again.disconnect()
