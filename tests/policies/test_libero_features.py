"""The vst_vla policy on LIBERO's features: two 256 px cameras, an 8-D state, a 7-D action (issue 16).

A two-episode synthetic dataset with exactly the features ``lerobot/libero`` has (random content, MP4 video
cameras as there) is written with LeRobot's ``LeRobotDataset.create``, its quantiles made exact with
``vst_vla.data.exact_stats`` as docs/libero.md tells a user to. The policy (tiny random-init backbone) is built from
it with LeRobot's factories, trains one step through the pre-processor, and acts on an observation built the way
LeRobot's LIBERO env hands it to ``lerobot-eval``: the nested ``pixels`` / ``robot_state`` dict of
``lerobot.envs.libero.LiberoEnv``, through ``preprocess_observation`` and the env's ``LiberoProcessorStep``
(images rotated 180°, the 8-D state assembled from eef position, axis-angle and gripper qpos). A checkpoint saved
as ``lerobot-train`` saves it and reloaded as ``lerobot-eval`` reloads it acts the same. No LIBERO simulator is
needed (``hf-libero`` cannot be installed beside this project's robosuite 1.5.2; docs/libero.md). CPU, offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lerobot_policy_vst_vla  # noqa: F401  (registers the plugin, as LeRobot's plugin discovery does)
from lerobot.configs import FeatureType, PreTrainedConfig
from lerobot.datasets import LeRobotDataset, resolve_delta_timestamps
from lerobot.envs.configs import LiberoEnv
from lerobot.envs.factory import make_env_pre_post_processors
from lerobot.envs.utils import preprocess_observation
from lerobot.policies.factory import make_policy, make_pre_post_processors
from lerobot.utils.constants import ACTION, OBS_STATE

from vst_vla.data.exact_stats import has_exact_quantiles, write_exact_quantiles
from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy
from vst_vla.vlm.config import BackboneConfig

REPO_ID = "local/libero_features"
# The keys LeRobot's LIBERO env emits and lerobot/libero stores (LeRobot's docs: the two datasets "contain the
# same demonstrations with the same schema"): lerobot/envs/libero.py maps the simulator's cameras
# {"agentview_image": "image", "robot0_eye_in_hand_image": "image2"} and preprocess_observation prefixes them
# with "observation.images."; LiberoProcessorStep (lerobot/processor/env_processor.py) builds the 8-D
# "observation.state". A dataset that names the wrist camera otherwise needs lerobot-eval's --rename_map.
CAMERAS = ("observation.images.image", "observation.images.image2")
RAW_CAMERAS = {"image": "agentview_image", "image2": "robot0_eye_in_hand_image"}  # env key -> simulator camera
STATE_NAMES = ["eef_pos_x", "eef_pos_y", "eef_pos_z", "eef_axisangle_x", "eef_axisangle_y", "eef_axisangle_z",
               "gripper_qpos_0", "gripper_qpos_1"]
ACTION_NAMES = ["x", "y", "z", "rot_x", "rot_y", "rot_z", "gripper"]  # OSC delta pose + gripper, in [-1, 1]
IMAGE_SIZE = 256
TASK = "pick up the black bowl between the plate and the ramekin and place it on the plate"


@pytest.fixture(scope="module")
def libero_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 6-frame episodes with lerobot/libero's features and random content, with exact q01/q99."""
    root = tmp_path_factory.mktemp("datasets") / "libero_features"
    camera = {"dtype": "video", "shape": (IMAGE_SIZE, IMAGE_SIZE, 3), "names": ["height", "width", "channels"]}
    features = dict.fromkeys(CAMERAS, camera)
    features[OBS_STATE] = {"dtype": "float32", "shape": (8,), "names": STATE_NAMES}
    features[ACTION] = {"dtype": "float32", "shape": (7,), "names": ACTION_NAMES}
    dataset = LeRobotDataset.create(REPO_ID, fps=10, features=features, root=root, robot_type="panda",
                                    use_videos=True, video_backend="pyav")
    rng = np.random.default_rng(0)
    for _ in range(2):
        for _ in range(6):
            frame = {cam: rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8) for cam in CAMERAS}
            frame[OBS_STATE] = rng.normal(0.0, 0.3, 8).astype(np.float32)
            action = rng.uniform(-1.0, 1.0, 7)
            action[6] = rng.choice([-1.0, 1.0])  # LIBERO's gripper command is open/close
            frame[ACTION] = action.astype(np.float32)
            frame["task"] = TASK
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    write_exact_quantiles(root)  # what `python -m vst_vla.data.exact_stats ROOT` does
    assert has_exact_quantiles(root)
    return root


def make_cfg() -> VSTVLAConfig:
    """The tiny random-init backbone at 16 visual tokens per image (the processor resizes the 256 px frames)."""
    return VSTVLAConfig(device="cpu", push_to_hub=False, chunk_size=4, n_action_steps=2,
                        backbone=BackboneConfig(image_max_tokens=16))


def build(root: Path):
    """Config, dataset, policy and pipelines as lerobot-train builds them (``make_policy`` reads the features)."""
    cfg = make_cfg()
    meta = LeRobotDataset(REPO_ID, root=root, video_backend="pyav").meta
    dataset = LeRobotDataset(REPO_ID, root=root, video_backend="pyav",
                             delta_timestamps=resolve_delta_timestamps(cfg, meta))
    torch.manual_seed(0)
    policy = make_policy(cfg, ds_meta=dataset.meta)
    pre, post = make_pre_post_processors(cfg, dataset_stats=dataset.meta.stats)
    return cfg, dataset, policy, pre, post


def libero_env_cfg(size: int = IMAGE_SIZE) -> LiberoEnv:
    """``--env.type=libero`` with its frames at ``size`` px (LeRobot's default is 360; the dataset's are 256)."""
    return LiberoEnv(task="libero_spatial", observation_height=size, observation_width=size)


def raw_libero_observation(rng: np.random.Generator, size: int = IMAGE_SIZE) -> dict:
    """One step of a 1-env LIBERO vector env, as ``LiberoEnv._format_raw_obs`` (obs_type pixels_agent_pos) builds
    it: HWC uint8 frames under ``pixels`` and the robot's nested ``robot_state``, each with the env axis first."""
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)
    return {
        "pixels": {name: rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8) for name in RAW_CAMERAS},
        "robot_state": {
            "eef": {"pos": rng.normal(0.0, 0.3, (1, 3)), "quat": quat[None], "mat": np.eye(3)[None]},
            "gripper": {"qpos": rng.uniform(-0.04, 0.04, (1, 2)), "qvel": np.zeros((1, 2))},
            "joints": {"pos": rng.normal(size=(1, 7)), "vel": np.zeros((1, 7))},
        },
    }


def eval_step(policy, pre, post, env_pre, env_post, raw: dict, seed: int = 0) -> torch.Tensor:
    """One action the way ``lerobot_eval.rollout`` computes it from a raw env observation."""
    observation = preprocess_observation(raw)
    observation["task"] = [TASK]  # rollout takes it from the env's task_description
    observation = pre(env_pre(observation))
    torch.manual_seed(seed)
    with torch.inference_mode():
        action = policy.select_action(observation)
    return env_post({ACTION: post(action)})[ACTION]


def test_policy_config_takes_libero_features(libero_root: Path) -> None:
    cfg, dataset, policy, _, _ = build(libero_root)
    assert isinstance(policy, VSTVLAPolicy)
    assert cfg.image_keys == CAMERAS
    assert all(cfg.input_features[key].shape == (3, IMAGE_SIZE, IMAGE_SIZE) for key in CAMERAS)
    assert cfg.input_features[OBS_STATE].type is FeatureType.STATE and cfg.state_dim == 8
    assert cfg.output_features[ACTION].shape == (7,) and cfg.action_dim == 7
    # The env's own feature table names the same policy keys the dataset gave the config.
    env_cfg = libero_env_cfg()
    env_keys = {env_cfg.features_map[key] for key, ft in env_cfg.features.items() if ft.type is FeatureType.VISUAL}
    assert env_keys == set(CAMERAS)


def test_one_training_step_through_the_preprocessor(libero_root: Path) -> None:
    cfg, dataset, policy, pre, _ = build(libero_root)
    batch = pre(next(iter(torch.utils.data.DataLoader(dataset, batch_size=2))))
    assert batch[OBS_STATE].shape == (2, 8) and batch[ACTION].shape == (2, cfg.chunk_size, 7)
    assert batch[ACTION].abs().max() <= 1.0  # q01/q99-normalized and clipped
    policy.train()
    loss, logs = policy.forward(batch)
    loss.backward()
    assert torch.isfinite(loss) and logs["loss"] == pytest.approx(loss.item())
    grads = [p.grad for p in policy.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_acts_on_libero_env_observations_and_reloads_the_lerobot_eval_way(libero_root: Path,
                                                                          tmp_path: Path) -> None:
    cfg, dataset, policy, pre, post = build(libero_root)
    env_cfg = libero_env_cfg()
    env_pre, env_post = make_env_pre_post_processors(env_cfg=env_cfg, policy_cfg=cfg)
    rng = np.random.default_rng(1)
    raw = raw_libero_observation(rng)
    # What the policy's pre-processor receives: both cameras (1, 3, 256, 256) and the 8-D state.
    observation = env_pre({**preprocess_observation(raw), "task": [TASK]})
    assert {key: tuple(observation[key].shape) for key in (*CAMERAS, OBS_STATE)} == {
        **dict.fromkeys(CAMERAS, (1, 3, IMAGE_SIZE, IMAGE_SIZE)), OBS_STATE: (1, 8)}

    policy.eval()
    policy.reset()
    expected = eval_step(policy, pre, post, env_pre, env_post, raw)
    assert expected.shape == (1, 7) and expected.dtype == torch.float32 and torch.isfinite(expected).all()
    q01, q99 = (torch.as_tensor(dataset.meta.stats[ACTION][q], dtype=torch.float32) for q in ("q01", "q99"))
    assert ((expected >= q01 - 1e-5) & (expected <= q99 + 1e-5)).all()
    # LeRobot's default env frames are 360 px; the processor resizes them too (docs/libero.md sets 256 to match).
    policy.reset()
    at_360 = eval_step(policy, pre, post, env_pre, env_post, raw_libero_observation(rng, 360))
    assert at_360.shape == (1, 7) and torch.isfinite(at_360).all()

    # lerobot-train's checkpoint layout; lerobot-eval's reload: config from the checkpoint, features from the env.
    policy.save_pretrained(tmp_path)
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    loaded_cfg = PreTrainedConfig.from_pretrained(tmp_path)
    loaded_cfg.pretrained_path = tmp_path
    loaded = make_policy(loaded_cfg, env_cfg=env_cfg)
    loaded_pre, loaded_post = make_pre_post_processors(loaded_cfg, pretrained_path=str(tmp_path))
    assert loaded.config.image_keys == CAMERAS and loaded.config.state_dim == 8 and loaded.config.action_dim == 7
    loaded.eval()
    loaded.reset()
    actual = eval_step(loaded, loaded_pre, loaded_post, env_pre, env_post, raw)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_the_projects_stage_trains_on_it_and_its_checkpoint_names_no_env(libero_root: Path, tmp_path: Path) -> None:
    """docs/libero.md's `vst-vla train` path: the VLA stage on the LIBERO-featured dataset, its own evaluation off,
    frames decoded per item. The dataset records no env, so neither does the checkpoint, and `vst-vla eval`
    refuses it (a LIBERO policy rolled out in the stage's default Lift env would be a silent wrong result)."""
    from omegaconf import OmegaConf

    from vst_vla.config.schema import train_config_from_dict
    from vst_vla.config.store import compose
    from vst_vla.errors import UserError
    from vst_vla.eval import EvalCommandConfig, run_eval
    from vst_vla.stages.vla import run_vla_stage

    overrides = ["experiment=debug", f"output_root={tmp_path}/runs", f"dataset.root={libero_root}",
                 f"dataset.repo_id={REPO_ID}", "dataset.image_cache=decode", "eval.n_episodes=0",
                 "eval.every_steps=0", "trainer.steps=1", "policy.chunk_size=4",
                 "policy.n_action_steps=2"]
    cfg = train_config_from_dict(OmegaConf.to_container(compose("train", overrides), resolve=True))
    run_vla_stage(cfg)
    [checkpoint] = (tmp_path / "runs").glob("**/checkpoints/last/pretrained_model")
    assert (checkpoint / "model.safetensors").is_file() and not (checkpoint / "env.json").exists()
    with pytest.raises(UserError, match="has no env.json describing its environment"):
        run_eval(EvalCommandConfig(policy_path=str(checkpoint), output_dir=str(tmp_path / "eval"), device="cpu"))
