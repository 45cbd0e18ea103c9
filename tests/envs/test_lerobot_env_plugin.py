"""The LeRobot env plugin: LeRobot's factory builds our envs, and LeRobot's eval loop drives a native policy on them.

``lerobot_env_vst`` lives in ``envs/`` next to ``vst_envs``; until the wheel ships it, the tests put ``envs/``
on the path themselves.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

ENVS_DIR = Path(__file__).resolve().parents[2] / "envs"
if str(ENVS_DIR) not in sys.path:
    sys.path.insert(0, str(ENVS_DIR))

import lerobot_env_vst  # noqa: E402
from lerobot.envs.configs import EnvConfig  # noqa: E402
from lerobot.envs.factory import make_env, make_env_config, make_env_pre_post_processors  # noqa: E402
from lerobot.envs.utils import close_envs, env_to_policy_features, preprocess_observation  # noqa: E402

# Small, cheap and short: the whole file runs a handful of 64 px steps.
CHEAP = {"image_size": 64, "cheap_render": True, "episode_length": 4}


def test_the_config_is_registered_with_the_policy_features_of_our_envs() -> None:
    assert EnvConfig.get_choice_class("vst") is lerobot_env_vst.VSTEnvConfig
    cfg = make_env_config("vst", task="lift", cameras="agentview,robot0_eye_in_hand", **CHEAP)
    features = env_to_policy_features(cfg)
    assert {k: (f.type.name, f.shape) for k, f in features.items()} == {
        "action": ("ACTION", (7,)),
        "observation.state": ("STATE", (9,)),
        "observation.images.agentview": ("VISUAL", (3, 64, 64)),
        "observation.images.robot0_eye_in_hand": ("VISUAL", (3, 64, 64)),
    }
    assert cfg.env_config("lift").max_episode_steps == 4 and cfg.env_config("lift").control_freq == cfg.fps


def test_bad_task_or_field_fails_when_the_config_is_made() -> None:
    with pytest.raises(KeyError, match="lfit"):
        make_env_config("vst", task="lfit")
    with pytest.raises(ValueError, match="cameras"):
        make_env_config("vst", task="lift", cameras="nocam")
    with pytest.raises(ValueError, match="num_cubes"):
        make_env_config("vst", task="tabletop_pick", task_kwargs='{"num_cubes": 9}')


def test_lerobot_factory_builds_one_vector_env_per_task() -> None:
    cfg = make_env_config("vst", task="lift,tabletop_pick", **CHEAP)
    envs = make_env(cfg, n_envs=2)
    try:
        assert list(envs) == ["lift", "tabletop_pick"]
        vec = envs["tabletop_pick"][0]
        obs, _ = vec.reset(seed=[0, 1])
        batch = preprocess_observation(obs)
        assert batch["observation.images.agentview"].shape == (2, 3, 64, 64)
        assert batch["observation.state"].shape == (2, 9)
        assert vec.call("_max_episode_steps") == (4, 4)
        assert all(t.startswith("pick up the") for t in vec.call("task_description"))
        *_, truncated, info = vec.step(np.zeros((2, 7), dtype=np.float32))
        assert "is_success" in info and not truncated.any()
    finally:
        close_envs(envs)


def test_lerobot_eval_loop_runs_a_random_init_act_policy() -> None:
    import torch
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.factory import make_policy, make_pre_post_processors
    from lerobot.scripts.lerobot_eval import eval_policy

    env_cfg = make_env_config("vst", task="lift", **CHEAP)
    # Tiny ACT, random init: no ImageNet backbone weights (nothing may be downloaded).
    policy_cfg = ACTConfig(device="cpu", pretrained_backbone_weights=None, dim_model=32, n_heads=2,
                           dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1, use_vae=False,
                           chunk_size=2, n_action_steps=2, push_to_hub=False)
    torch.manual_seed(0)
    policy = make_policy(policy_cfg, env_cfg=env_cfg)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(policy.config)
    env_preprocessor, env_postprocessor = make_env_pre_post_processors(env_cfg, policy.config)
    envs = make_env(env_cfg, n_envs=1)
    try:
        with torch.no_grad():
            info = eval_policy(envs["lift"][0], policy, env_preprocessor, env_postprocessor, preprocessor,
                               postprocessor, n_episodes=1, start_seed=0)
    finally:
        close_envs(envs)
    assert len(info["per_episode"]) == 1 and info["per_episode"][0]["success"] is False
    assert info["aggregated"]["pc_success"] == 0.0
