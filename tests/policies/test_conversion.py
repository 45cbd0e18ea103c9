"""Checkpoints both ways between vst_vla's layout and the LeRobot plugin's, checked through LeRobot's factories.

A vst_vla checkpoint converted to LeRobot's layout is loaded the way ``lerobot-eval`` / ``lerobot-rollout`` load a
``--policy.path`` (``PreTrainedConfig.from_pretrained`` → ``make_policy`` → ``make_pre_post_processors``) and must
act exactly like the original on the same camera frame and state; converting back must restore the same weights,
statistics and env description. A ``lerobot-train`` checkpoint is evaluated by ``vst_vla.eval`` as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lerobot.configs import PreTrainedConfig
from lerobot.policies.factory import make_policy, make_pre_post_processors
from lerobot.policies.utils import prepare_observation_for_inference
from lerobot_env_vst.configs import VSTEnvConfig
from lerobot_policy_vst_vla.conversion import (
    export_to_lerobot,
    import_from_lerobot,
    is_lerobot_checkpoint,
    vla_policy_from_lerobot,
)

from vst_vla.rollout.observation import gym_obs_to_batch
from vst_vla.vla.configuration import HEADS, VLAConfig
from vst_vla.vla.loading import load_vla_policy
from vst_vla.vla.modeling import VLAPolicy

CAMERA = "agentview"
TASK = "lift the red cube"
# Deliberately uneven ranges, so a wrong or doubled normalization changes the actions.
STATS = {
    "action": {"q01": [-0.4, -0.3, -0.6, -0.1, -0.2, -0.5, -1.0], "q99": [0.5, 0.2, 0.6, 0.05, 0.3, 0.5, 1.0]},
    "observation.state": {"q01": [-0.3, -0.3, 0.8, -1, -1, -1, -1, 0.0, -0.04],
                          "q99": [0.3, 0.3, 1.2, 1, 1, 1, 1, 0.04, 0.0]},
}
ENV_METADATA = {"env": {"type": "lift", "image_size": 64, "cameras": [CAMERA], "cheap_render": True}}


@pytest.fixture(autouse=True)
def exact_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare the two layouts in fp32 whatever the CPU: under bf16 autocast (``precision=auto`` on a CPU with AMX
    or AVX512-BF16) the two paths round differently at about 1e-3, which would hide a real mismatch or fail."""
    import vst_vla.precision

    monkeypatch.setattr(vst_vla.precision, "cpu_native_bf16", lambda: (False, "forced fp32 for an exact comparison"))


def saved_vla_policy(directory: Path, head_type: str) -> VLAPolicy:
    torch.manual_seed(0)
    cfg = VLAConfig(action_dim=7, state_dim=9, chunk_size=4, n_action_steps=2,
                    image_keys=(f"observation.images.{CAMERA}",), head=HEADS.get(head_type)())
    policy = VLAPolicy.build(cfg, STATS, env_metadata=ENV_METADATA)
    policy.save_pretrained(directory)
    return VLAPolicy.from_pretrained(directory).eval()


def raw_observation(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    state = (rng.uniform(STATS["observation.state"]["q01"], STATS["observation.state"]["q99"])).astype(np.float32)
    return image, state


def act_vst_vla(policy: VLAPolicy, image: np.ndarray, state: np.ndarray) -> torch.Tensor:
    policy.reset()
    torch.manual_seed(0)  # the flow head draws its starting noise
    return policy.select_action(gym_obs_to_batch({"pixels": {CAMERA: image}, "agent_pos": state}, TASK))


def act_lerobot(path: Path, image: np.ndarray, state: np.ndarray) -> torch.Tensor:
    """What lerobot-eval / lerobot-rollout do with ``--policy.path=path``: LeRobot's loaders and pipelines."""
    cfg = PreTrainedConfig.from_pretrained(path)
    cfg.pretrained_path = path
    cfg.device = "cpu"
    policy = make_policy(cfg, env_cfg=VSTEnvConfig(task="lift", image_size=64))
    pre, post = make_pre_post_processors(cfg, pretrained_path=str(path))
    observation = {f"observation.images.{CAMERA}": image.copy(), "observation.state": state.copy()}
    batch = prepare_observation_for_inference(observation, torch.device("cpu"), TASK, "vst_sim")
    policy.reset()
    torch.manual_seed(0)
    with torch.inference_mode():
        return post(policy.select_action(pre(batch)))


@pytest.mark.parametrize("head_type", ["tokens", "l1_chunk", "flow"])
def test_exported_checkpoint_acts_identically_in_lerobot(tmp_path: Path, head_type: str) -> None:
    policy = saved_vla_policy(tmp_path / "vst", head_type)
    out = export_to_lerobot(tmp_path / "vst", tmp_path / "lerobot")
    assert is_lerobot_checkpoint(out) and not is_lerobot_checkpoint(tmp_path / "vst")
    for seed in range(2):
        image, state = raw_observation(seed)
        ours, theirs = act_vst_vla(policy, image, state), act_lerobot(out, image, state)
        assert theirs.shape == (1, 7)
        torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)


def test_conversion_round_trip_restores_weights_stats_and_env(tmp_path: Path) -> None:
    original = saved_vla_policy(tmp_path / "vst", "l1_chunk")
    export_to_lerobot(tmp_path / "vst", tmp_path / "lerobot")
    back = VLAPolicy.from_pretrained(import_from_lerobot(tmp_path / "lerobot", tmp_path / "back"))
    assert back.config == original.config
    assert back.env_metadata == ENV_METADATA
    for key in ("action", "observation.state"):
        for q in ("q01", "q99"):
            np.testing.assert_allclose(back.processor.stats[key][q], STATS[key][q], rtol=1e-6)
    theirs, ours = back.state_dict(), original.state_dict()
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
    # load_vla_policy reads either layout.
    image, state = raw_observation()
    torch.testing.assert_close(act_vst_vla(load_vla_policy(tmp_path / "lerobot").eval(), image, state),
                               act_vst_vla(original, image, state))


def test_export_needs_an_image_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = VLAConfig(action_dim=7, state_dim=9, image_keys=(f"observation.images.{CAMERA}",))
    VLAPolicy.build(cfg, STATS).save_pretrained(tmp_path / "vst")  # no env.json
    with pytest.raises(ValueError, match="image_size"):
        export_to_lerobot(tmp_path / "vst", tmp_path / "lerobot")
    assert not (tmp_path / "lerobot").exists()  # nothing half-written
    assert is_lerobot_checkpoint(export_to_lerobot(tmp_path / "vst", tmp_path / "lerobot", image_size=64))


def test_import_refuses_a_pipeline_without_quantiles(tmp_path: Path) -> None:
    saved_vla_policy(tmp_path / "vst", "tokens")
    out = export_to_lerobot(tmp_path / "vst", tmp_path / "lerobot")
    for stats_file in out.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"):
        from safetensors.torch import load_file, save_file

        tensors = {k: v for k, v in load_file(stats_file).items() if not k.startswith("action.q")}
        save_file(tensors, stats_file)
    with pytest.raises(ValueError, match=r"no \['q01', 'q99'\] statistics for 'action'"):
        vla_policy_from_lerobot(out)


def test_convert_cli_refuses_an_existing_destination(tmp_path: Path) -> None:
    saved_vla_policy(tmp_path / "vst", "tokens")
    (tmp_path / "taken").mkdir()
    result = subprocess.run([sys.executable, "-m", "vst_vla.convert", str(tmp_path / "vst"), str(tmp_path / "taken")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "already exists" in result.stderr
