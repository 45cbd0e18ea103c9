"""The vst_vla policy as LeRobot sees it, driven through LeRobot's own factories and loaders.

An SO-101-style dataset (6 joint actions, two 64 px cameras, random content) is written with LeRobot's
``LeRobotDataset.create``; policies are built with ``make_policy``, pipelines with ``make_pre_post_processors``,
trained a few steps through the pre-processor and run pre → ``select_action`` → post. A checkpoint the vst_vla
stage writes (``ProcessedPolicy.save_pretrained``) is loaded with LeRobot's loaders and must act exactly like
``ProcessedPolicy``. CPU only, offline.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import draccus
import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lerobot_policy_vst_vla  # noqa: F401  (registers the plugin; see test_plugin_is_discovered_by_lerobot)
from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature, PreTrainedConfig
from lerobot.datasets import LeRobotDataset, resolve_delta_timestamps
from lerobot.policies.factory import get_policy_class, make_policy, make_pre_post_processors
from lerobot.processor import PolicyProcessorPipeline
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)
from lerobot.utils.import_utils import register_third_party_plugins
from lerobot_policy_vst_vla import configuration_vst_vla as plugin_configuration
from lerobot_policy_vst_vla import modeling_vst_vla as plugin_modeling
from lerobot_policy_vst_vla import processor_vst_vla as plugin_processor

from vst_vla.policy.configuration_vst_vla import (
    ActionHeadConfig,
    FlowHeadConfig,
    L1ChunkHeadConfig,
    TokenHeadConfig,
    VSTVLAConfig,
    head_names,
)
from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy
from vst_vla.policy.processed import POSTPROCESSOR_FILE, PREPROCESSOR_FILE, ProcessedPolicy
from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors
from vst_vla.vla.errors import InvalidObservationError, UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError

REPO_ID = "local/so101_smoke"
FPS = 30
JOINTS = ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]
CAMERAS = ("observation.images.front", "observation.images.wrist")
TASK = "pick up the cube and place it in the bin"
HEADS = {"tokens": TokenHeadConfig, "l1_chunk": L1ChunkHeadConfig, "flow": FlowHeadConfig}


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


def make_cfg(head: str = "flow", **overrides) -> VSTVLAConfig:
    """A tiny-backbone config (the default backbone is the tiny random-init Qwen2.5-VL) with the ``head`` named."""
    kwargs = dict(device="cpu", push_to_hub=False, chunk_size=4, n_action_steps=2, head=HEADS[head]())
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


def build(root: Path, head: str = "flow", **overrides):
    """Config, dataset, policy and pipelines the way lerobot-train builds them (``make_policy`` fills the features)."""
    cfg = make_cfg(head, **overrides)
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
    assert PreTrainedConfig.get_choice_class("vst_vla") is VSTVLAConfig
    assert get_policy_class("vst_vla") is VSTVLAPolicy
    # The plugin holds no second copy: its modules are the core policy's classes and pipeline factory.
    assert plugin_configuration.VSTVLAConfig is VSTVLAConfig and plugin_modeling.VSTVLAPolicy is VSTVLAPolicy
    assert plugin_processor.make_vst_vla_pre_post_processors is make_vst_vla_pre_post_processors


def test_plugin_is_discovered_by_lerobot() -> None:
    """LeRobot imports installed distributions named lerobot_policy_*; the uv workspace installs ours as one."""
    names = {dist.metadata.get("Name") for dist in importlib.metadata.distributions()}
    assert "lerobot_policy_vst_vla" in names


def test_config_presets_and_validation() -> None:
    assert head_names() == ["flow", "l1_chunk", "tokens"]
    cfg = make_cfg()
    assert cfg.type == "vst_vla"
    assert cfg.normalization_mapping == {"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.QUANTILES,
                                         "ACTION": NormalizationMode.QUANTILES}
    assert cfg.action_delta_indices == [0, 1, 2, 3] and cfg.observation_delta_indices is None
    assert cfg.get_optimizer_preset().lr == cfg.optimizer_lr
    with pytest.raises(ValueError, match="n_action_steps"):
        make_cfg(n_action_steps=5)
    with pytest.raises(ValueError, match="policy.head must be one of the heads"):
        VSTVLAConfig(device="cpu", head="diffusion")
    with pytest.raises(ValueError, match="action_bounds"):
        make_cfg(action_bounds_low=[0.0] * 6)
    # ACT's ensembler weights exp(-coeff * i) overflow float32 past an exponent of 80: refused up front.
    with pytest.raises(ValueError, match="temporal_ensemble_coeff"):
        make_cfg(chunk_size=5, n_action_steps=1, temporal_ensemble_coeff=21.0)
    assert make_cfg(chunk_size=5, n_action_steps=1, temporal_ensemble_coeff=20.0).temporal_ensemble_coeff == 20.0


def test_head_configs_come_from_the_command_line_through_draccus(capsys: pytest.CaptureFixture) -> None:
    """``--policy.head.type=flow --policy.head.hidden_size=64``: the nested choice lerobot-train parses."""
    cfg = draccus.parse(VSTVLAConfig, args=["--device=cpu", "--head.type=flow", "--head.hidden_size=64",
                                            "--head.num_integration_steps=3"])
    assert cfg.head == FlowHeadConfig(hidden_size=64, num_integration_steps=3)
    cfg = draccus.parse(VSTVLAConfig, args=["--device=cpu", "--head.type=l1_chunk", "--head.mlp_hidden_size=32"])
    assert cfg.head == L1ChunkHeadConfig(mlp_hidden_size=32) and isinstance(cfg.head, ActionHeadConfig)
    with pytest.raises(SystemExit):
        draccus.parse(VSTVLAConfig, args=["--device=cpu", "--head.type=diffusion"])
    assert "invalid choice: 'diffusion'" in capsys.readouterr().err
    # A head's own checks run on parsed values too.
    with pytest.raises(draccus.utils.ParsingError) as refused:
        draccus.parse(VSTVLAConfig, args=["--device=cpu", "--head.type=flow", "--head.hidden_size=30"])
    assert "head.hidden_size must be even and divisible by head.num_heads" in str(refused.value.__cause__)


def test_features_are_validated() -> None:
    cfg = make_cfg(output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
                   input_features={"observation.state": PolicyFeature(FeatureType.STATE, (6,))})
    with pytest.raises(ValueError, match="camera"):
        cfg.validate_features()


def test_lerobot_pipelines_map_q01_q99_to_minus_one_one_and_back() -> None:
    """The pre-processor is VST's q01/q99 → [-1, 1] with a clip (LeRobot's normalizer alone does not clip); a
    constant dimension (q01 == q99) normalizes to -1 and un-normalizes back to its constant."""
    cfg = make_cfg(use_state=False).with_features({CAMERAS[0]: (3, 64, 64)}, 4, 0)
    q01, q99 = np.array([-50.0, 0.0, 3.0, 7.0]), np.array([50.0, 100.0, 9.0, 7.0])
    pre, post = make_pre_post_processors(cfg, dataset_stats={"action": {"q01": q01, "q99": q99}})
    x = torch.tensor([[-80.0, 50.0, 3.0, 7.0], [0.0, 130.0, 8.5, 7.0], [49.0, -1.0, 12.0, 7.0]])
    normalized = pre({CAMERAS[0]: torch.rand(3, 3, 64, 64), "task": [TASK] * 3, "action": x})["action"]
    q01_t, q99_t = torch.as_tensor(q01, dtype=torch.float32), torch.as_tensor(q99, dtype=torch.float32)
    by_hand = (2 * (x[:, :3] - q01_t[:3]) / (q99_t[:3] - q01_t[:3]) - 1).clamp(-1, 1)
    assert by_hand.abs().max() == 1.0  # the rows reach past q01 / q99, so the clip is exercised
    torch.testing.assert_close(normalized[:, :3], by_hand)
    torch.testing.assert_close(normalized[:, 3], torch.full((3,), -1.0))
    y = torch.linspace(-1, 1, 9)[:, None].expand(9, 4)
    back = post(y)
    torch.testing.assert_close(back[:, :3], (y[:, :3] + 1) / 2 * (q99_t[:3] - q01_t[:3]) + q01_t[:3])
    torch.testing.assert_close(back[:, 3], torch.full((9,), 7.0))


def test_processors_refuse_stats_without_quantiles() -> None:
    cfg = make_cfg(use_state=False).with_features({CAMERAS[0]: (3, 64, 64)}, 6, 0)
    with pytest.raises(MissingStatsError, match=r"'action' lack \['q01', 'q99'\]"):
        make_pre_post_processors(cfg, dataset_stats={"action": {"mean": np.zeros(6), "std": np.ones(6)}})


# ---- train, act, save, reload ----------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["tokens", "l1_chunk", "flow"])
def test_so101_trains_and_acts_through_lerobot_pipelines(so101_root: Path, head: str) -> None:
    cfg, dataset, policy, pre, post = build(so101_root, head)
    assert isinstance(policy, VSTVLAPolicy) and policy.config.head.type == head
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


def test_the_module_holds_no_statistics(so101_root: Path, tmp_path: Path) -> None:
    """Statistics live in the pipelines only: not in the policy's state dict, not in its model.safetensors."""
    from safetensors.torch import load_file

    cfg, dataset, policy, pre, post = build(so101_root, "tokens")
    # Named the way LeRobot's normalizer names its tensors (``action.q01``) or older policies' buffers
    # (``normalize_inputs.buffer_action.mean``): a whole dotted component.
    stat_like = re.compile(r"q01|q99|mean|std|min|max|count|stats?|(un)?normali[sz]\w*|buffer_\w+|quantiles?")

    def statistics_in(names) -> list[str]:
        return [n for n in names if any(stat_like.fullmatch(part) for part in n.split("."))]

    assert not statistics_in(policy.state_dict())
    processed = ProcessedPolicy(policy, pre, post)
    # ProcessedPolicy's only submodule is the policy: its state dict is the policy's, prefixed.
    assert set(processed.state_dict()) == {f"policy.{k}" for k in policy.state_dict()}
    processed.save_pretrained(tmp_path / "ckpt")
    assert not statistics_in(load_file(tmp_path / "ckpt" / "model.safetensors"))
    pipeline_stats = {}
    for path in (tmp_path / "ckpt").glob("policy_*processor_step_*.safetensors"):
        pipeline_stats.update(load_file(path))
    assert statistics_in(pipeline_stats)  # the check above would see statistics named as the pipelines name them
    torch.testing.assert_close(pipeline_stats["action.q01"],
                               torch.as_tensor(dataset.meta.stats["action"]["q01"], dtype=torch.float32))
    torch.testing.assert_close(pipeline_stats["observation.state.q99"],
                               torch.as_tensor(dataset.meta.stats["observation.state"]["q99"], dtype=torch.float32))


def test_vst_vla_stage_checkpoint_acts_identically_through_lerobots_loaders(so101_root: Path,
                                                                            tmp_path: Path) -> None:
    """What ``python -m vst_vla.train stage=vla`` saves (``ProcessedPolicy.save_pretrained``) is what lerobot-eval and
    lerobot-rollout load with ``--policy.path``: the same loss on a training batch and the same actions."""
    cfg = make_cfg("l1_chunk", action_bounds_low=[-20.0] * 5 + [10.0], action_bounds_high=[20.0] * 5 + [60.0])
    dataset = load_dataset(so101_root, cfg)
    cfg = cfg.with_features(dict.fromkeys(CAMERAS, (3, 64, 64)), 6, 6)
    torch.manual_seed(0)
    ours = ProcessedPolicy.build(cfg, dataset.meta.stats, env_metadata={"env": {"type": "so101_sim"}})
    checkpoint = ours.save_pretrained(tmp_path / "pretrained_model")
    ours.eval()
    reloaded = ProcessedPolicy.from_pretrained(checkpoint).eval()

    loaded_cfg = PreTrainedConfig.from_pretrained(checkpoint)
    assert isinstance(loaded_cfg, VSTVLAConfig) and loaded_cfg.head == L1ChunkHeadConfig()
    assert loaded_cfg.image_keys == CAMERAS and loaded_cfg.action_bounds_low == cfg.action_bounds_low
    theirs = get_policy_class(loaded_cfg.type).from_pretrained(checkpoint, config=loaded_cfg).eval()
    pre = PolicyProcessorPipeline.from_pretrained(checkpoint, config_filename=PREPROCESSOR_FILE,
                                                  to_transition=batch_to_transition, to_output=transition_to_batch)
    post = PolicyProcessorPipeline.from_pretrained(checkpoint, config_filename=POSTPROCESSOR_FILE,
                                                   to_transition=policy_action_to_transition,
                                                   to_output=transition_to_policy_action)

    raw = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    expected_loss, _ = ours(dict(raw))
    for loss in (reloaded(dict(raw))[0], theirs.forward(pre(dict(raw)))[0]):
        torch.testing.assert_close(loss, expected_loss, rtol=0, atol=0)
    for index in (0, 5):
        obs = observation(dataset, index)
        ours.reset()
        expected = ours.select_action(obs)
        assert expected.shape == (1, 6)
        # The bounds travel in the saved post-processor.
        assert (expected >= torch.tensor(cfg.action_bounds_low)).all()
        assert (expected <= torch.tensor(cfg.action_bounds_high)).all()
        reloaded.reset()
        theirs.reset()
        torch.testing.assert_close(reloaded.select_action(obs), expected, rtol=0, atol=0)
        torch.testing.assert_close(act(theirs, pre, post, obs), expected, rtol=0, atol=0)


def test_temporal_ensembling_infers_every_step(so101_root: Path) -> None:
    cfg, dataset, policy, pre, post = build(so101_root, "l1_chunk", n_action_steps=1, temporal_ensemble_coeff=0.01)
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda batch, **kw: calls.append(1) or original(batch, **kw)
    policy.reset()
    obs = observation(dataset)
    actions = [act(policy, pre, post, obs) for _ in range(3)]
    assert len(calls) == 3 and all(a.shape == (1, 6) and torch.isfinite(a).all() for a in actions)


def test_lerobot_saved_checkpoint_reloads_through_lerobots_factories(so101_root: Path, tmp_path: Path) -> None:
    """lerobot-train's way of saving (policy and both pipelines apart), reloaded the lerobot-eval way, and by
    ``ProcessedPolicy``: identical weights and actions."""
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
    processed = ProcessedPolicy.from_pretrained(tmp_path)
    assert processed.env_metadata is None  # lerobot-train writes no env.json (and no train_config.json here)
    torch.manual_seed(0)
    torch.testing.assert_close(processed.select_action(obs), expected, rtol=0, atol=0)


# ---- deployment safety -----------------------------------------------------------------------------------------


def test_unsafe_inputs_and_outputs_are_refused(so101_root: Path) -> None:
    cfg, dataset, policy, pre, post = build(so101_root)
    batch = pre(observation(dataset))
    with pytest.raises(KeyError, match="observation.images.wrist"):
        policy.select_action({k: v for k, v in batch.items() if k != "observation.images.wrist"})
    with pytest.raises(InvalidObservationError, match="state_dim=6"):
        policy.select_action({**batch, "observation.state": batch["observation.state"][:, :5]})
    with pytest.raises(InvalidObservationError, match="NaN"):
        policy.select_action({**batch, "observation.state": torch.full_like(batch["observation.state"], torch.nan)})
    train_batch = pre(next(iter(torch.utils.data.DataLoader(dataset, batch_size=2))))
    with pytest.raises(ValueError, match="action_dim"):
        policy.forward({**train_batch, "action": train_batch["action"][..., :5]})

    with torch.no_grad():
        policy.head.action_out.bias.fill_(torch.nan)  # a corrupted checkpoint
    policy.reset()
    with pytest.raises(UnsafeActionError):
        policy.select_action(batch)
    with pytest.raises(UnsafeActionError):
        post(torch.tensor([[0.0, torch.inf, 0.0, 0.0, 0.0, 0.0]]))


# ---- LeRobot's own training script -----------------------------------------------------------------------------


# Slow (a LeRobot CLI process, about 25 s): the default run keeps lerobot-train --policy.type=vst_vla through
# tests/policies/test_lerobot_cli_paths.py::test_lerobot_train_checkpoint_runs_in_vst_vla_eval.
@pytest.mark.slow
def test_lerobot_train_cli(so101_root: Path, tmp_path: Path) -> None:
    """``lerobot-train --policy.type=vst_vla`` for 3 steps, then the checkpoint acts through LeRobot's factories."""
    out = tmp_path / "train"
    command = [
        str(Path(sys.executable).with_name("lerobot-train")),
        f"--dataset.repo_id={REPO_ID}", f"--dataset.root={so101_root}",
        "--policy.type=vst_vla", "--policy.device=cpu", "--policy.push_to_hub=false",
        "--policy.head.type=flow", "--policy.head.hidden_size=64", "--policy.chunk_size=4", "--policy.n_action_steps=2",
        "--steps=3", "--batch_size=2", "--save_freq=3", "--log_freq=1", "--num_workers=0", "--wandb.enable=false",
        f"--output_dir={out}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "step:3" in result.stdout + result.stderr
    checkpoint = out / "checkpoints" / "000003" / "pretrained_model"
    cfg = PreTrainedConfig.from_pretrained(checkpoint)
    assert cfg.head == FlowHeadConfig(hidden_size=64)
    cfg.pretrained_path = checkpoint
    dataset = load_dataset(so101_root, cfg)
    policy = make_policy(cfg, ds_meta=dataset.meta)
    pre, post = make_pre_post_processors(cfg, pretrained_path=str(checkpoint))
    action = act(policy, pre, post, observation(dataset))
    assert action.shape == (1, 6) and torch.isfinite(action).all()
