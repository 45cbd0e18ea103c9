"""The three paths from a model to a motor, built tiny: vst_vla's policy, the LeRobot plugin, the simulated arm.

Module-scoped so hypothesis can reuse them across examples (it refuses function-scoped fixtures, which it would
not reset between examples); a test that swaps a part of one restores it before the example ends.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.safety.shapes import ACTION_DIM, CAMERA, LEROBOT_CAMERA, LEROBOT_DIM, STATE_DIM

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The stats the tiny vst_vla policy is built with; the statistics fuzz replaces them per example.
STATS = {
    "action": {"q01": [-1.0] * ACTION_DIM, "q99": [1.0] * ACTION_DIM},
    "observation.state": {"q01": [-1.0] * STATE_DIM, "q99": [1.0] * STATE_DIM},
}


def _build_vla_policy(chunk_size: int = 2, n_action_steps: int = 2, temporal_ensemble_coeff: float | None = None):
    """A random-init tiny :class:`VLAPolicy` (tokens head, one camera, 7-dim actions, 9-dim state)."""
    from vst_vla.vla.configuration import TokenHeadConfig, VLAConfig
    from vst_vla.vla.modeling import VLAPolicy

    torch.manual_seed(0)
    cfg = VLAConfig(action_dim=ACTION_DIM, state_dim=STATE_DIM, chunk_size=chunk_size, n_action_steps=n_action_steps,
                    head=TokenHeadConfig(), image_keys=(CAMERA,), temporal_ensemble_coeff=temporal_ensemble_coeff)
    return VLAPolicy.build(cfg, STATS).eval()


@pytest.fixture(scope="module")
def build_vla_policy():
    """The builder of tiny vst_vla policies: ``build_vla_policy(chunk_size, n_action_steps, temporal_ensemble_coeff)``
    (~0.1 s, so a property can build one per example)."""
    return _build_vla_policy


@pytest.fixture(scope="module")
def vla_policy():
    """The tiny vst_vla policy (chunk 2, 2 actions per inference)."""
    return _build_vla_policy()


@pytest.fixture(scope="module")
def vla_checkpoint(vla_policy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vla_policy`` saved once; tests overwrite its statistics file to load fuzzed ones."""
    return vla_policy.save_pretrained(tmp_path_factory.mktemp("safety") / "vla")


def _lerobot_config(**overrides):
    """A tiny-backbone :class:`VSTVLAConfig` with its features set (what ``make_policy`` fills from a dataset)."""
    from lerobot.configs import FeatureType, PolicyFeature
    from lerobot_policy_vst_vla.configuration_vst_vla import VSTVLAConfig

    kwargs = {"device": "cpu", "push_to_hub": False, "chunk_size": 2, "n_action_steps": 2, "head_type": "l1_chunk",
              "input_features": {LEROBOT_CAMERA: PolicyFeature(FeatureType.VISUAL, (3, 32, 32)),
                                 "observation.state": PolicyFeature(FeatureType.STATE, (LEROBOT_DIM,))},
              "output_features": {"action": PolicyFeature(FeatureType.ACTION, (LEROBOT_DIM,))}}
    return VSTVLAConfig(**{**kwargs, **overrides})


@pytest.fixture(scope="module")
def lerobot_config():
    """The builder of plugin configs: ``lerobot_config(**overrides)`` (e.g. ``action_bounds_low=[...]``)."""
    return _lerobot_config


@pytest.fixture(scope="module")
def lerobot_policy():
    """The LeRobot plugin's policy on the tiny backbone (l1_chunk head, chunk 2)."""
    from lerobot_policy_vst_vla.modeling_vst_vla import VSTVLAPolicy

    torch.manual_seed(0)
    return VSTVLAPolicy(_lerobot_config()).eval()


@pytest.fixture(scope="module")
def sim_robot(tmp_path_factory: pytest.TempPathFactory):
    """A connected ``vst_sim`` arm whose env records every command it receives in ``robot.commands_received``.

    The record wraps the real env's ``step`` (the arm still moves); it is how the test sees what reached the
    controller, which ``send_action``'s return value alone would not prove.
    """
    from lerobot_robot_vst import VSTSimRobot, VSTSimRobotConfig

    # A long episode: no reset (slow) in the middle of the fuzzing.
    robot = VSTSimRobot(VSTSimRobotConfig(image_size=32, cheap_render=True, max_episode_steps=100_000,
                                          calibration_dir=tmp_path_factory.mktemp("calibration")))
    robot.connect()
    received: list[np.ndarray] = []
    env_step = robot._env.step

    def recording_step(command):
        received.append(np.array(command, copy=True))
        return env_step(command)

    robot._env.step = recording_step
    robot.commands_received = received
    yield robot
    robot.disconnect()
