"""Tests of the vst_envs Lift env, its config and its scripted expert (small images to stay fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from vst_envs import ENVS, LiftEnvConfig, env_config_from_dict, make_env, make_expert
from vst_envs.experts import LiftExpert

IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def env():
    """One 64 px agentview Lift env shared by the module (building one takes seconds)."""
    env = make_env(LiftEnvConfig(image_size=IMAGE_SIZE))
    yield env
    env.close()
    env.close()  # closing twice must be harmless


@pytest.fixture(scope="module")
def state_env():
    """A camera-free Lift env with a short time limit, built from a metadata dict."""
    env = make_env({"type": "lift", "cameras": [], "max_episode_steps": 30})
    yield env
    env.close()


# --- config --------------------------------------------------------------------------------------------------


def test_config_round_trips_through_json() -> None:
    cfg = LiftEnvConfig(cameras=("agentview", "robot0_eye_in_hand"), image_size=96, cheap_render=True)
    rebuilt = env_config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert rebuilt == cfg
    assert isinstance(rebuilt.cameras, tuple)
    assert "lift" in ENVS.names()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"image_size": 0}, "image_size"),
        ({"image_size": True}, "image_size"),
        ({"control_freq": -1}, "control_freq"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"cameras": ("agentview", "nope")}, "cameras"),
        ({"cameras": "agentview"}, "cameras"),
        ({"cameras": ("agentview", "agentview")}, "cameras"),
        ({"robot": "UR5e"}, "robot"),
        ({"instruction": "  "}, "instruction"),
        ({"type": "stack"}, "type"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LiftEnvConfig(**kwargs)


def test_config_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="camera_names"):
        LiftEnvConfig.from_dict({"type": "lift", "camera_names": ["agentview"]})


def test_env_config_from_dict_needs_a_registered_type() -> None:
    with pytest.raises(ValueError, match="type"):
        env_config_from_dict({"image_size": 64})
    with pytest.raises(KeyError, match="lift"):
        env_config_from_dict({"type": "no_such_env"})


def test_import_is_cheap_and_sets_mujoco_gl() -> None:
    code = "import os, sys, vst_envs; assert 'robosuite' not in sys.modules; print(os.environ['MUJOCO_GL'])"
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "egl"


# --- env -----------------------------------------------------------------------------------------------------


def _assert_obs_equal(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["agent_pos"], b["agent_pos"])
    assert a["pixels"].keys() == b["pixels"].keys()
    for cam in a["pixels"]:
        np.testing.assert_array_equal(a["pixels"][cam], b["pixels"][cam])


def test_reset_is_deterministic_per_seed(env) -> None:
    first, info = env.reset(seed=3)
    assert info["is_success"] is False
    cube = env.unwrapped.privileged_state()["cube_pos"]
    for _ in range(5):  # disturb the state; the next seeded reset must not depend on it
        env.step(env.action_space.sample())
    again, _ = env.reset(seed=3)
    _assert_obs_equal(first, again)

    env.reset(seed=4)
    other_cube = env.unwrapped.privileged_state()["cube_pos"]
    assert not np.allclose(cube[:2], other_cube[:2])


def test_observation_matches_space(env) -> None:
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["agent_pos"].shape == (9,) and obs["agent_pos"].dtype == np.float32
    image = obs["pixels"]["agentview"]
    assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(env.render(), image)
    assert env.action_space.shape == (7,) and env.action_space.dtype == np.float32
    assert env.task_description == env.task == "lift the red cube"


def test_images_are_upright(env) -> None:
    # agentview looks across the white table at the robot and the grey wall: an upright frame is brighter at
    # the bottom (table) than at the top; robosuite's raw OpenGL frame is the other way round.
    obs, _ = env.reset(seed=0)
    gray = obs["pixels"]["agentview"].astype(np.float32).mean(axis=2)
    quarter = IMAGE_SIZE // 4
    assert gray[-quarter:].mean() > gray[:quarter].mean() + 20


def test_images_survive_another_env_in_the_process(env) -> None:
    # Robosuite renders through whichever EGL context is current; another env's creation makes its own current
    # and its close releases it, which used to leave this env rendering garbage.
    reference, _ = env.reset(seed=0)
    other = make_env(LiftEnvConfig(image_size=IMAGE_SIZE))
    other_obs, _ = other.reset(seed=0)
    _assert_obs_equal(other_obs, reference)
    _assert_obs_equal(env.reset(seed=0)[0], reference)
    other.close()
    _assert_obs_equal(env.reset(seed=0)[0], reference)


def test_privileged_state(env) -> None:
    env.reset(seed=0)
    state = env.unwrapped.privileged_state()
    shapes = {"cube_pos": (3,), "cube_quat": (4,), "eef_pos": (3,), "eef_quat": (4,), "gripper_qpos": (2,)}
    for key, shape in shapes.items():
        assert state[key].shape == shape, key
    np.testing.assert_allclose(state["gripper_to_cube_pos"], state["cube_pos"] - state["eef_pos"])


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.zeros(6), r"shape \(7,\).*\(6,\)"),
        (np.zeros((1, 7)), r"shape \(7,\).*\(1, 7\)"),
        (np.array([0, 0, 0, 0, 0, 0, np.nan]), "finite"),
        (np.array([0, 0, np.inf, 0, 0, 0, 0]), "finite"),
    ],
)
def test_step_rejects_bad_actions(env, action: np.ndarray, match: str) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_expert_lifts_the_cube(env) -> None:
    expert = make_expert(env.unwrapped.config)
    assert isinstance(expert, LiftExpert)
    env.reset(seed=1)
    expert.reset()
    for step in range(100):  # noqa: B007 - read after the loop, in the failure message
        action = expert.act(env)
        assert action.dtype == np.float32 and action.shape == (7,)
        assert np.all(np.abs(action) <= 1.0)
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert terminated and not truncated, f"episode ended without success after {step + 1} steps"
    assert info["is_success"] and reward > 0


def test_doing_nothing_fails_and_truncates(state_env) -> None:
    obs, _ = state_env.reset(seed=0)
    assert "pixels" not in obs and state_env.render() is None
    for _ in range(30):
        obs, reward, terminated, truncated, info = state_env.step(np.zeros(7, dtype=np.float32))
        assert not info["is_success"] and not terminated and reward == 0.0
    assert truncated
