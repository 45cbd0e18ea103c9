"""The vst_vla LeRobot plugin, driven through LeRobot's own factories (no vst_vla trainer involved).

An SO-101-style dataset (6 joint actions, two 64 px cameras, random content) is written with LeRobot's
``LeRobotDataset.create``; policies are built with ``make_policy``, pipelines with ``make_pre_post_processors``,
trained a few steps through the pre-processor and run pre → ``select_action`` → post. CPU only, offline.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lerobot_policy_vst_vla  # noqa: F401  (registers the plugin; see test_plugin_is_discovered_by_lerobot)
from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature, PreTrainedConfig
from lerobot.datasets import LeRobotDataset, resolve_delta_timestamps
from lerobot.policies.factory import get_policy_class, make_policy, make_pre_post_processors
from lerobot.processor import NormalizerProcessorStep, UnnormalizerProcessorStep
from lerobot.utils.import_utils import register_third_party_plugins
from lerobot_policy_vst_vla.configuration_vst_vla import VST_PROMPT, VLMBackboneConfig, VSTVLAConfig
from lerobot_policy_vst_vla.modeling_vst_vla import VSTVLAPolicy

from vst_vla.vla.errors import UnsafeActionError

REPO_ID = "local/so101_smoke"
FPS = 30
JOINTS = ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]
CAMERAS = ("observation.images.front", "observation.images.wrist")
TASK = "pick up the cube and place it in the bin"


@pytest.fixture(scope="module")
def so101_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 12-frame episodes of an SO-101-like arm: joint positions in degrees, gripper in [0, 100]."""
    root = tmp_path_factory.mktemp("datasets") / "so101"
    image = {"dtype": "image", "shape": (64, 64, 3), "names": ["height", "width", "channels"]}
    features = dict.fromkeys(CAMERAS, image)
    features["observation.state"] = {"dtype": "float32", "shape": (6,), "names": JOINTS}
    features["action"] = {"dtype": "float32", "shape": (6,), "names": JOINTS}
    dataset = LeRobotDataset.create(REPO_ID, fps=FPS, features=features, root=root, robot_type="so101_follower",
                                    use_videos=False)
    rng = np.random.default_rng(0)
    low, high = np.array([-100.0] * 5 + [0.0]), np.array([100.0] * 5 + [100.0])
    for _ in range(2):
        for _ in range(12):
            frame = {cam: rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for cam in CAMERAS}
            frame["observation.state"] = rng.uniform(low, high).astype(np.float32)
            frame["action"] = rng.uniform(low, high).astype(np.float32)
            frame["task"] = TASK
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    return root


def make_cfg(**overrides) -> VSTVLAConfig:
    """A tiny-backbone config (the default backbone is the tiny random-init Qwen2.5-VL)."""
    kwargs = dict(device="cpu", push_to_hub=False, chunk_size=4, n_action_steps=2, head_type="flow")
    return VSTVLAConfig(**{**kwargs, **overrides})


def load_dataset(root: Path, cfg: VSTVLAConfig) -> LeRobotDataset:
    meta = LeRobotDataset(REPO_ID, root=root).meta
    return LeRobotDataset(REPO_ID, root=root, delta_timestamps=resolve_delta_timestamps(cfg, meta))


def observation(dataset: LeRobotDataset, index: int = 0) -> dict:
    """What an env/robot hands LeRobot at inference: un-batched camera frames, state and task."""
    item = dataset[index]
    obs = {key: item[key] for key in (*CAMERAS, "observation.state")}
    obs["task"] = item["task"]
    return obs


def build(root: Path, **overrides):
    cfg = make_cfg(**overrides)
    dataset = load_dataset(root, cfg)
    torch.manual_seed(0)
    policy = make_policy(cfg, ds_meta=dataset.meta)
    pre, post = make_pre_post_processors(cfg, dataset_stats=dataset.meta.stats)
    return cfg, dataset, policy, pre, post


def train_steps(cfg, dataset, policy, pre, steps: int = 2) -> list[float]:
    """``steps`` optimizer steps on batches of 4 through the LeRobot pre-processor, with the config's AdamW preset."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    optimizer = cfg.get_optimizer_preset().build(policy.get_optim_params())
    policy.train()
    losses = []
    for _, batch in zip(range(steps), loader, strict=False):
        loss, logs = policy.forward(pre(batch))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        assert logs["loss"] == pytest.approx(loss.item())
        losses.append(loss.item())
    return losses


def act(policy, pre, post, obs: dict, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)  # the flow head samples its starting noise
    return post(policy.select_action(pre(obs)))


# ---- registration and configuration ----------------------------------------------------------------------------


def test_lerobot_resolves_the_plugin_by_convention() -> None:
    register_third_party_plugins()
    assert "vst_vla" in PreTrainedConfig.get_known_choices()
    assert get_policy_class("vst_vla") is VSTVLAPolicy


def test_plugin_is_discovered_by_lerobot() -> None:
    """LeRobot imports installed distributions named lerobot_policy_*; the uv workspace installs ours as one."""
    names = {dist.metadata.get("Name") for dist in importlib.metadata.distributions()}
    assert "lerobot_policy_vst_vla" in names


def test_config_mirrors_vst_vla() -> None:
    from vst_vla.vla.configuration import HEADS
    from vst_vla.vla.configuration import VST_PROMPT as VLA_PROMPT
    from vst_vla.vlm.backbone import BackboneConfig

    assert dataclasses.asdict(VLMBackboneConfig()) == dataclasses.asdict(BackboneConfig())
    assert VST_PROMPT == VLA_PROMPT
    assert set(HEADS.names()) == {"tokens", "l1_chunk", "flow"}
    cfg = make_cfg()
    assert cfg.normalization_mapping == {"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.QUANTILES,
                                         "ACTION": NormalizationMode.QUANTILES}
    assert cfg.action_delta_indices == [0, 1, 2, 3] and cfg.observation_delta_indices is None
    assert cfg.get_optimizer_preset().lr == cfg.optimizer_lr
    with pytest.raises(ValueError, match="n_action_steps"):
        make_cfg(n_action_steps=5)
    with pytest.raises(ValueError, match="head_type"):
        make_cfg(head_type="diffusion")
    with pytest.raises(ValueError, match="action_bounds"):
        make_cfg(action_bounds_low=[0.0] * 6)


def test_features_are_validated() -> None:
    cfg = make_cfg(output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
                   input_features={"observation.state": PolicyFeature(FeatureType.STATE, (6,))})
    with pytest.raises(ValueError, match="camera"):
        cfg.validate_features()


def test_lerobot_quantiles_match_vst_normalizer_after_clipping() -> None:
    """LeRobot's QUANTILES is vst_vla's q01/q99 formula without the clip; the adapter adds the clip."""
    from vst_vla.vla.normalization import QuantileNormalizer

    q01, q99 = torch.tensor([-50.0, 0.0, 3.0]), torch.tensor([50.0, 100.0, 9.0])
    features = {"action": PolicyFeature(FeatureType.ACTION, (3,))}
    stats = {"action": {"q01": q01.numpy(), "q99": q99.numpy()}}
    norm_map = {FeatureType.ACTION: NormalizationMode.QUANTILES}
    x = torch.tensor([[-80.0, 50.0, 3.0], [0.0, 130.0, 8.5], [49.0, -1.0, 12.0]])
    lerobot = NormalizerProcessorStep(features=features, norm_map=norm_map, stats=stats)._normalize_action(x, False)
    ours = QuantileNormalizer(q01, q99)
    assert lerobot.abs().max() > 1.0  # LeRobot does not clip...
    torch.testing.assert_close(lerobot.clamp(-1, 1), ours.normalize(x))  # ...and matches once clipped
    y = torch.linspace(-1, 1, 9)[:, None].expand(9, 3)
    back = UnnormalizerProcessorStep(features=features, norm_map=norm_map, stats=stats)._normalize_action(y, True)
    torch.testing.assert_close(back, ours.unnormalize(y))


def test_processors_refuse_stats_without_quantiles() -> None:
    cfg = make_cfg(output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))})
    with pytest.raises(ValueError, match="q01"):
        make_pre_post_processors(cfg, dataset_stats={"action": {"mean": np.zeros(6), "std": np.ones(6)}})


# ---- train, act, save, reload ----------------------------------------------------------------------------------


@pytest.mark.parametrize("head_type", ["tokens", "l1_chunk", "flow"])
def test_so101_trains_and_acts_through_lerobot_pipelines(so101_root: Path, head_type: str) -> None:
    cfg, dataset, policy, pre, post = build(so101_root, head_type=head_type)
    assert isinstance(policy, VSTVLAPolicy)
    assert cfg.image_keys == CAMERAS and cfg.action_dim == 6 and cfg.state_dim == 6
    before = {k: v.clone() for k, v in policy.named_parameters()}
    losses = train_steps(cfg, dataset, policy, pre)
    assert all(np.isfinite(losses))
    assert any(not torch.equal(before[k], v) for k, v in policy.named_parameters())

    policy.reset()
    obs = observation(dataset)
    actions = [act(policy, pre, post, obs, seed=i) for i in range(2)]  # an inference, then a queued action
    stats = dataset.meta.stats["action"]
    for action in actions:
        assert action.shape == (1, 6) and action.device.type == "cpu"
        assert torch.isfinite(action).all()
        # Normalized actions are clipped to [-1, 1], so env actions stay within the data's q01..q99.
        assert (action >= torch.as_tensor(stats["q01"]) - 1e-4).all()
        assert (action <= torch.as_tensor(stats["q99"]) + 1e-4).all()


def test_normalized_once_same_as_vst_vla_own_normalization(so101_root: Path) -> None:
    """LeRobot pre-processor + adapter == vst_vla's VLAPolicy normalizing raw data with the same q01/q99."""
    from vst_vla.vla.processor import VLAProcessor

    cfg, dataset, policy, pre, post = build(so101_root, head_type="l1_chunk")  # deterministic head
    policy.eval()
    raw = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    stats = {k: {q: np.asarray(dataset.meta.stats[k][q]).tolist() for q in ("q01", "q99")}
             for k in ("action", "observation.state")}
    adapter_loss, _ = policy.forward(pre(dict(raw)))
    adapter_chunk = post(policy.predict_action_chunk(pre({k: v for k, v in raw.items() if k != "action"})))

    inner = policy.model
    inner.processor = VLAProcessor(inner.processor.hf_processor, inner.config, stats)  # vst_vla's own path
    own_loss, _ = inner.forward(raw)
    own_chunk = inner.predict_action_chunk(raw)
    torch.testing.assert_close(adapter_loss, own_loss, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(adapter_chunk, own_chunk, rtol=1e-4, atol=1e-3)


def test_temporal_ensembling_infers_every_step(so101_root: Path) -> None:
    cfg, dataset, policy, pre, post = build(so101_root, head_type="l1_chunk", n_action_steps=1,
                                            temporal_ensemble_coeff=0.01)
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda batch, **kw: calls.append(1) or original(batch, **kw)
    policy.reset()
    obs = observation(dataset)
    actions = [act(policy, pre, post, obs) for _ in range(3)]
    assert len(calls) == 3 and all(a.shape == (1, 6) and torch.isfinite(a).all() for a in actions)


def test_save_and_reload_give_identical_actions(so101_root: Path, tmp_path: Path) -> None:
    bounds = dict(action_bounds_low=[-20.0] * 5 + [10.0], action_bounds_high=[20.0] * 5 + [60.0])
    cfg, dataset, policy, pre, post = build(so101_root, **bounds)
    train_steps(cfg, dataset, policy, pre, steps=1)
    policy.eval()
    obs = observation(dataset, index=5)
    expected = act(policy, pre, post, obs)
    assert (expected >= torch.tensor(bounds["action_bounds_low"])).all()
    assert (expected <= torch.tensor(bounds["action_bounds_high"])).all()

    policy.save_pretrained(tmp_path)
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    # The lerobot-eval / lerobot-rollout path: config from the checkpoint, then LeRobot's factories.
    loaded_cfg = PreTrainedConfig.from_pretrained(tmp_path)
    loaded_cfg.pretrained_path = tmp_path
    loaded = make_policy(loaded_cfg, ds_meta=dataset.meta)
    loaded_pre, loaded_post = make_pre_post_processors(loaded_cfg, pretrained_path=str(tmp_path))
    assert isinstance(loaded, VSTVLAPolicy) and loaded_cfg.action_bounds_low == bounds["action_bounds_low"]
    loaded_state = loaded.state_dict()
    for key, value in policy.state_dict().items():
        torch.testing.assert_close(loaded_state[key], value, rtol=0, atol=0, msg=key)
    loaded.reset()
    torch.testing.assert_close(act(loaded, loaded_pre, loaded_post, obs), expected, rtol=0, atol=0)


# ---- deployment safety -----------------------------------------------------------------------------------------


def test_unsafe_inputs_and_outputs_are_refused(so101_root: Path) -> None:
    cfg, dataset, policy, pre, post = build(so101_root)
    batch = pre(observation(dataset))
    with pytest.raises(KeyError, match="observation.images.wrist"):
        policy.select_action({k: v for k, v in batch.items() if k != "observation.images.wrist"})
    with pytest.raises(ValueError, match="state_dim=6"):
        policy.select_action({**batch, "observation.state": batch["observation.state"][:, :5]})
    with pytest.raises(ValueError, match="NaN"):
        policy.select_action({**batch, "observation.state": torch.full_like(batch["observation.state"], torch.nan)})
    train_batch = pre(next(iter(torch.utils.data.DataLoader(dataset, batch_size=2))))
    with pytest.raises(ValueError, match="action_dim"):
        policy.forward({**train_batch, "action": train_batch["action"][..., :5]})

    with torch.no_grad():
        policy.model.head.action_out.bias.fill_(torch.nan)  # a corrupted checkpoint
    policy.reset()
    with pytest.raises(UnsafeActionError):
        policy.select_action(batch)
    with pytest.raises(UnsafeActionError):
        post(torch.tensor([[0.0, torch.inf, 0.0, 0.0, 0.0, 0.0]]))


# ---- LeRobot's own training script -----------------------------------------------------------------------------


def test_lerobot_train_cli(so101_root: Path, tmp_path: Path) -> None:
    """``lerobot-train --policy.type=vst_vla`` for 3 steps, then the checkpoint acts through LeRobot's factories."""
    out = tmp_path / "train"
    command = [
        str(Path(sys.executable).with_name("lerobot-train")),
        f"--dataset.repo_id={REPO_ID}", f"--dataset.root={so101_root}",
        "--policy.type=vst_vla", "--policy.device=cpu", "--policy.push_to_hub=false", "--policy.head_type=flow",
        "--policy.chunk_size=4", "--policy.n_action_steps=2",
        "--steps=3", "--batch_size=2", "--save_freq=3", "--log_freq=1", "--num_workers=0", "--wandb.enable=false",
        f"--output_dir={out}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "step:3" in result.stdout + result.stderr
    checkpoint = out / "checkpoints" / "000003" / "pretrained_model"
    cfg = PreTrainedConfig.from_pretrained(checkpoint)
    cfg.pretrained_path = checkpoint
    dataset = load_dataset(so101_root, cfg)
    policy = make_policy(cfg, ds_meta=dataset.meta)
    pre, post = make_pre_post_processors(cfg, pretrained_path=str(checkpoint))
    action = act(policy, pre, post, observation(dataset))
    assert action.shape == (1, 6) and torch.isfinite(action).all()
