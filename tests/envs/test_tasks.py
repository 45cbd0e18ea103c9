"""Tests of the vst_envs.tasks envs (stack, pick_place_can, door, nut_assembly_square): configs, seeded
resets, spaces, ground truth and their scripted experts. Per task one 64 px cheap-render env and, for the
expert's full episode, one camera-free env (~6x faster stepping), each built once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from vst_envs import ENVS, env_config_from_dict, make_env, make_expert
from vst_envs.base import ACTION_DIM, AGENT_POS_DIM
from vst_envs.tasks.configs import InstructedEnvConfig

IMAGE_SIZE = 64
# Task -> (expert class name, scene objects, a seed its expert solves).
TASKS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "stack": ("StackExpert", ("red_cube", "green_cube"), 0),
    "pick_place_can": ("PickPlaceCanExpert", ("can", "source_bin", "target_bin"), 0),
    "door": ("DoorExpert", ("door", "handle"), 0),
    "nut_assembly_square": ("NutAssemblyExpert", ("square_nut", "square_peg", "round_peg"), 0),
}


@pytest.fixture(scope="module")
def task_env():
    """``task_env(name, camera=True)``: the module's env of task ``name``, 64 px cheap-render agentview or
    camera-free (built on first use)."""
    envs: dict[tuple[str, bool], object] = {}

    def get(name: str, camera: bool = True):
        if (name, camera) not in envs:
            kwargs = {"image_size": IMAGE_SIZE, "cheap_render": True} if camera else {"cameras": ()}
            envs[name, camera] = make_env(ENVS.get(name)(**kwargs))
        return envs[name, camera]

    yield get
    for env in envs.values():
        env.close()


# --- configs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TASKS))
def test_config_is_registered_and_round_trips(name: str) -> None:
    cfg = ENVS.get(name)(cameras=("agentview", "robot0_eye_in_hand"), image_size=96)
    assert isinstance(cfg, InstructedEnvConfig) and cfg.instruction.strip()
    assert env_config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert type(make_expert(cfg)).__name__ == TASKS[name][0]


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("stack", {"instruction": " "}, "instruction"),
        ("door", {"type": "stack"}, "type"),
        ("pick_place_can", {"cameras": ("sideview",)}, "cameras"),
        ("nut_assembly_square", {"max_episode_steps": 0}, "max_episode_steps"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(name: str, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ENVS.get(name)(**kwargs)


# --- envs ----------------------------------------------------------------------------------------------------


def _signature(env) -> list[np.ndarray]:
    gt = env.unwrapped.scene_ground_truth()
    obs = env.unwrapped._observation()
    return [o.position_world for o in gt.objects] + [o.quat_world for o in gt.objects] + [obs["agent_pos"]]


@pytest.mark.parametrize("name", list(TASKS))
def test_spaces_match_the_lift_layout_and_reset_is_deterministic(task_env, name: str) -> None:
    env = task_env(name)
    assert env.action_space.shape == (ACTION_DIM,)
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    assert env.observation_space["agent_pos"].shape == (AGENT_POS_DIM,)
    assert env.observation_space["pixels"]["agentview"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    obs, info = env.reset(seed=3)
    assert info == {"is_success": False} and env.observation_space.contains(obs)
    assert env.unwrapped.task_description == env.unwrapped.config.instruction
    first = _signature(env)
    for _ in range(3):  # disturb the state; the next seeded reset must not depend on it
        env.step(env.action_space.sample())
    again, _ = env.reset(seed=3)
    np.testing.assert_allclose(np.concatenate(_signature(env)), np.concatenate(first), atol=1e-9)
    np.testing.assert_array_equal(again["pixels"]["agentview"], obs["pixels"]["agentview"])
    env.reset(seed=4)
    assert not np.allclose(np.concatenate(_signature(env)), np.concatenate(first))


@pytest.mark.parametrize("name", list(TASKS))
def test_ground_truth_objects_are_present_with_finite_poses(task_env, name: str) -> None:
    env = task_env(name)
    env.reset(seed=1)
    gt = env.unwrapped.scene_ground_truth()
    assert tuple(o.name for o in gt.objects) == TASKS[name][1]
    assert gt.target_name in {o.name for o in gt.objects}
    for obj in gt.objects:
        assert np.all(np.isfinite(obj.position_world)) and np.all(np.isfinite(obj.box_corners_world))
        assert np.isclose(np.linalg.norm(obj.quat_world), 1.0)
        assert obj.box_size.shape == (3,) and np.all(obj.box_size > 0.0) and np.all(obj.box_size < 1.0)
        assert obj.geom_ids and obj.category and obj.color_name
        # The box's corners lie at its extents from its centre, in the object's axes.
        centre = obj.box_corners_world.mean(axis=0)
        assert np.allclose(np.linalg.norm(obj.box_corners_world - centre, axis=1), np.linalg.norm(obj.box_size) / 2)
    # Objects the task moves rest on (or stand above) the table.
    assert gt.objects[0].box_corners_world[:, 2].min() > gt.table_height - 0.01
    json.dumps(gt.to_dict())
    state = env.unwrapped.privileged_state()
    assert all(np.all(np.isfinite(v)) for v in state.values())


@pytest.mark.parametrize("name", list(TASKS))
def test_zero_action_does_not_succeed(task_env, name: str) -> None:
    env = task_env(name)
    env.reset(seed=2)
    for _ in range(20):
        _, reward, terminated, truncated, info = env.step(np.zeros(ACTION_DIM, dtype=np.float32))
        assert not terminated and not truncated and not info["is_success"] and reward == 0.0


@pytest.mark.parametrize("name", list(TASKS))
def test_expert_succeeds(task_env, name: str) -> None:
    env = task_env(name, camera=False)
    expert = make_expert(env.unwrapped.config)
    env.reset(seed=TASKS[name][2])
    expert.reset()
    for _ in range(env.unwrapped.config.max_episode_steps):
        action = expert.act(env)
        assert action.shape == (ACTION_DIM,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert terminated and info["is_success"] and reward == 1.0
