"""The paths from a model to a motor, built tiny: the VLA policy between its processor pipelines, the same policy
held apart from them as LeRobot's tools hold it, and the simulated arm.

There is one policy class (``VSTVLAPolicy``) and one pair of pipelines (``make_vst_vla_pre_post_processors``);
the two shapes below differ in what they drive: vst_vla's Lift arm (tokens head, 7-dim actions, 9-dim state,
``make_policy`` of tests/conftest.py) and an SO-101-like arm (l1_chunk head, 6-dim actions and state), whose
pipelines the tests build themselves from fuzzed statistics and action bounds.

Module-scoped so hypothesis can reuse them across examples (it refuses function-scoped fixtures, which it would
not reset between examples); a test that swaps a part of one restores it before the example ends.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from tests.safety.shapes import LEROBOT_CAMERA, LEROBOT_DIM

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def build_vla_policy(make_policy):
    """The builder of tiny Lift policies with their pipelines (a ``ProcessedPolicy``, statistics q01 = -1 and
    q99 = 1 everywhere): ``build_vla_policy(chunk_size, n_action_steps, temporal_ensemble_coeff)``. A fraction of
    a second once the first is built, so a property can build one per example; the config's own refusals (an
    ensembling coefficient that would overflow) surface here as its ValueError."""

    def build(chunk_size: int = 2, n_action_steps: int = 2, temporal_ensemble_coeff: float | None = None):
        return make_policy(chunk_size, n_action_steps, temporal_ensemble_coeff=temporal_ensemble_coeff).eval()

    return build


@pytest.fixture(scope="module")
def vla_policy(build_vla_policy):
    """The tiny Lift policy between its pipelines (chunk 2, 2 actions per inference)."""
    return build_vla_policy()


def _lerobot_config(**overrides):
    """A tiny-backbone :class:`VSTVLAConfig` of the SO-101-like arm with its features set (what LeRobot's
    ``make_policy`` fills from a dataset); ``overrides`` are config fields (e.g. ``action_bounds_low=[...]``)."""
    from vst_vla.policy.configuration_vst_vla import L1ChunkHeadConfig, VSTVLAConfig

    kwargs = {"device": "cpu", "chunk_size": 2, "n_action_steps": 2, "head": L1ChunkHeadConfig()}
    config = VSTVLAConfig(**{**kwargs, **overrides})
    return config.with_features({LEROBOT_CAMERA: (3, 32, 32)}, LEROBOT_DIM, LEROBOT_DIM)


@pytest.fixture(scope="module")
def lerobot_config():
    """The builder of the SO-101-like arm's configs: ``lerobot_config(**overrides)``; the tests build its pipelines
    from it with the statistics and bounds they draw."""
    return _lerobot_config


@pytest.fixture(scope="module")
def lerobot_policy():
    """The SO-101-like arm's ``VSTVLAPolicy`` alone (l1_chunk head, chunk 2), as ``lerobot-eval`` holds it: the
    pre- and post-processor are separate objects around it, never seen by it."""
    from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy

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
