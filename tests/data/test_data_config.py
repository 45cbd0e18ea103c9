"""CollectConfig / DatasetConfig validation and the hydra collect config (no simulation)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from vst_vla.config.parse import ConfigError, dataclass_from_dict
from vst_vla.config.store import compose
from vst_vla.data.config import CollectConfig, DatasetConfig


def test_collect_config_defaults() -> None:
    cfg = CollectConfig(root="out")
    assert (cfg.num_episodes, cfg.seed, cfg.keep_failed, cfg.overwrite) == (20, 10_000, False, False)
    assert cfg.attempt_limit == 40
    assert CollectConfig(root="out", num_episodes=3, max_attempts=5).attempt_limit == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"root": ""}, "CollectConfig.root must be a non-empty string"),
        ({"num_episodes": 0}, "CollectConfig.num_episodes must be an integer >= 1, got 0"),
        ({"num_episodes": True}, "CollectConfig.num_episodes must be an integer >= 1, got True"),
        ({"seed": -1}, "CollectConfig.seed must be an integer >= 0, got -1"),
        ({"keep_failed": "yes"}, "CollectConfig.keep_failed must be true or false"),
        ({"num_episodes": 5, "max_attempts": 4}, "CollectConfig.max_attempts must be null or >= num_episodes (5)"),
        ({"num_workers": 0}, "CollectConfig.num_workers must be an integer >= 1, got 0"),
    ],
)
def test_collect_config_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        CollectConfig(**{"root": "out", **kwargs})
    assert message in str(err.value)


def test_dataset_config_normalises_lists_to_tuples() -> None:
    keys = ["observation.images.agentview", "observation.images.robot0_eye_in_hand"]
    assert DatasetConfig(root="d", image_keys=keys).image_keys == tuple(keys)
    listconfig = OmegaConf.create({"k": keys}).k
    assert DatasetConfig(root="d", image_keys=listconfig).image_keys == tuple(keys)
    assert DatasetConfig(root="d").image_keys is None  # None stays "all image features"


@pytest.mark.parametrize(
    ("image_keys", "message"),
    [
        ("observation.images.agentview", "DatasetConfig.image_keys must be null (all image features) or a list"),
        ([], "DatasetConfig.image_keys must name at least one image feature, or be null"),
        (["a", "a"], "DatasetConfig.image_keys must not repeat a feature"),
        ([""], "DatasetConfig.image_keys[*] must be a non-empty string"),
    ],
)
def test_dataset_config_rejects_image_keys(image_keys: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        DatasetConfig(root="d", image_keys=image_keys)
    assert message in str(err.value)


def test_dataset_config_rejects_empty_keys() -> None:
    with pytest.raises(ValueError, match=r"DatasetConfig.state_key must be a non-empty string"):
        DatasetConfig(root="d", state_key="")
    with pytest.raises(ValueError, match=r"DatasetConfig.root must be a non-empty string"):
        DatasetConfig(root="")


def test_hydra_collect_config_converts_to_dataclasses() -> None:
    from vst_envs.config import LiftEnvConfig, env_config_from_dict

    cfg = compose("collect", ["collect.num_episodes=3", "env.image_size=64"])
    env_cfg = env_config_from_dict(OmegaConf.to_container(cfg.env, resolve=True))
    collect_cfg = dataclass_from_dict(CollectConfig, OmegaConf.to_container(cfg.collect, resolve=True), "collect.")
    assert env_cfg == LiftEnvConfig(image_size=64)  # env=lift is LiftEnvConfig's defaults (vst_vla.config.store)
    assert collect_cfg == CollectConfig(root="outputs/datasets/lift", num_episodes=3)


def test_hydra_collect_config_rejects_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        dataclass_from_dict(CollectConfig, {"root": "r", "num_episode": 3}, "collect.")
