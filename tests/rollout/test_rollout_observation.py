"""gym_obs_to_batch: keys, shapes, dtypes, value range, and agreement with LeRobot's preprocess_observation."""

import numpy as np
import pytest
import torch
from vst_envs.layout import GYM_AGENT_POS, GYM_PIXELS

from vst_vla.constants import OBS_STATE, TASK, image_key
from vst_vla.rollout.observation import gym_obs_to_batch


def _obs(rng: np.random.Generator, cameras=("agentview", "robot0_eye_in_hand"), size=(64, 48)) -> dict:
    return {
        GYM_PIXELS: {cam: rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for cam in cameras},
        GYM_AGENT_POS: rng.standard_normal(9).astype(np.float32),
    }


def test_single_env_obs_becomes_a_batch_of_one() -> None:
    obs = _obs(np.random.default_rng(0))
    batch = gym_obs_to_batch(obs, "lift the red cube")
    assert set(batch) == {image_key("agentview"), image_key("robot0_eye_in_hand"), OBS_STATE, TASK}
    for cam, img in obs[GYM_PIXELS].items():
        tensor = batch[image_key(cam)]
        assert tensor.shape == (1, 3, 64, 48) and tensor.dtype == torch.float32
        assert tensor.is_contiguous()
        assert tensor.min() >= 0.0 and tensor.max() <= 1.0
        # Channel-first layout of the same pixels, scaled by exactly 1/255.
        torch.testing.assert_close(tensor[0].permute(1, 2, 0) * 255, torch.from_numpy(img).float())
    assert batch[OBS_STATE].shape == (1, 9) and batch[OBS_STATE].dtype == torch.float32
    torch.testing.assert_close(batch[OBS_STATE][0], torch.from_numpy(obs[GYM_AGENT_POS]))
    assert batch[TASK] == ["lift the red cube"]


def test_extreme_pixel_values_map_to_0_and_1() -> None:
    obs = {GYM_PIXELS: {"agentview": np.zeros((4, 4, 3), np.uint8)}, GYM_AGENT_POS: np.zeros(9)}
    obs[GYM_PIXELS]["agentview"][0, 0] = 255
    img = gym_obs_to_batch(obs, "t")[image_key("agentview")]
    assert img[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0] and img.sum() == 3.0
    assert gym_obs_to_batch(obs, "t")[OBS_STATE].dtype == torch.float32  # float64 state is cast


def test_flipped_and_read_only_images_are_accepted_and_inputs_untouched() -> None:
    # MuJoCo frames are often upside-down views (negative strides), which torch.from_numpy refuses.
    base = np.random.default_rng(1).integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
    flipped = base[::-1]
    read_only = base.copy()
    read_only.flags.writeable = False
    for img in (flipped, read_only):
        obs = {GYM_PIXELS: {"agentview": img}, GYM_AGENT_POS: np.zeros(9, np.float32)}
        tensor = gym_obs_to_batch(obs, "t")[image_key("agentview")]
        np.testing.assert_array_equal((tensor[0].permute(1, 2, 0) * 255).round().byte().numpy(), img)
    np.testing.assert_array_equal(flipped, base[::-1])


def test_vectorized_obs_keeps_its_batch_dimension() -> None:
    rng = np.random.default_rng(2)
    obs = {
        GYM_PIXELS: {"agentview": rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)},
        GYM_AGENT_POS: rng.standard_normal((3, 9)).astype(np.float32),
    }
    batch = gym_obs_to_batch(obs, "t")
    assert batch[image_key("agentview")].shape == (3, 3, 16, 16)
    assert batch[OBS_STATE].shape == (3, 9)
    assert batch[TASK] == ["t", "t", "t"]
    assert gym_obs_to_batch(obs, ["a", "b", "c"])[TASK] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="2 task strings for a batch of 3"):
        gym_obs_to_batch(obs, ["a", "b"])


@pytest.mark.parametrize(
    ("obs", "error", "match"),
    [
        ({GYM_AGENT_POS: np.zeros(9)}, KeyError, "pixels"),
        ({GYM_PIXELS: {"agentview": np.zeros((4, 4, 3), np.uint8)}}, KeyError, "agent_pos"),
        ({GYM_PIXELS: np.zeros((4, 4, 3), np.uint8), GYM_AGENT_POS: np.zeros(9)}, TypeError, "camera -> image"),
        ({GYM_PIXELS: {"agentview": np.zeros((4, 4, 3))}, GYM_AGENT_POS: np.zeros(9)}, TypeError, "uint8"),
        (
            {GYM_PIXELS: {"agentview": np.zeros((3, 4, 4), np.uint8)}, GYM_AGENT_POS: np.zeros(9)},
            ValueError,
            "channel-last",
        ),
        (
            {GYM_PIXELS: {"agentview": np.zeros((2, 4, 4, 3), np.uint8)}, GYM_AGENT_POS: np.zeros(9)},
            ValueError,
            "batch size",
        ),
    ],
)
def test_malformed_observations_are_refused(obs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        gym_obs_to_batch(obs, "t")


@pytest.mark.slow  # importing lerobot.envs takes ~15 s on two cores
def test_matches_lerobot_preprocess_observation() -> None:
    from lerobot.envs.utils import preprocess_observation

    obs = _obs(np.random.default_rng(3))
    ours = gym_obs_to_batch(obs, "lift the red cube")
    theirs = preprocess_observation(obs)
    assert set(ours) - {TASK} == set(theirs)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key  # bit-identical, not just close
