"""A policy is checked against the env before any action is sent."""


import pytest

from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.rollout.policy_eval import PolicyEnvMismatchError, check_policy_fits_env


@pytest.fixture(scope="module")
def lift_env():
    from vst_envs import make_env
    from vst_envs.config import LiftEnvConfig

    env = make_env(LiftEnvConfig(image_size=64, cheap_render=True))
    yield env
    env.close()


def _policy(action_dim: int, cameras: tuple[str, ...]) -> ProcessedPolicy:
    stats = {"action": {"q01": [-1.0] * action_dim, "q99": [1.0] * action_dim},
             "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}
    cfg = VSTVLAConfig(device="cpu").with_features(dict.fromkeys(cameras, (3, 64, 64)), action_dim, 9)
    return ProcessedPolicy.build(cfg, stats)


def test_matching_policy_passes(lift_env):
    check_policy_fits_env(_policy(7, ("observation.images.agentview",)), lift_env)


def test_action_dimension_mismatch_is_refused(lift_env):
    with pytest.raises(PolicyEnvMismatchError, match="6-dim actions but the env expects 7-dim"):
        check_policy_fits_env(_policy(6, ("observation.images.agentview",)), lift_env)


def test_missing_camera_is_refused(lift_env):
    with pytest.raises(PolicyEnvMismatchError, match=r"missing \['robot0_eye_in_hand'\]"):
        cameras = ("observation.images.agentview", "observation.images.robot0_eye_in_hand")
        check_policy_fits_env(_policy(7, cameras), lift_env)
