"""Every hydra preset composes and parses into the typed configs (no model is built).

``compose_config`` and ``parse_stage_config`` are the shared fixtures of tests/conftest.py.
"""

from pathlib import Path

import pytest

from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.parse import ConfigError, dataclass_from_dict
from vst_vla.config.schema import TrainConfig, train_config_from_dict
from vst_vla.eval import EvalCommandConfig

EXPERIMENTS = sorted(p.stem for p in (Path(HYDRA_CONFIG_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_train_presets_parse(experiment, compose_config, parse_stage_config):
    overrides = [f"experiment={experiment}"] if experiment else []
    cfg = parse_stage_config(compose_config("train", overrides))
    if isinstance(cfg, TrainConfig):
        assert cfg.policy.head.type == "tokens" and cfg.env.type == "lift"


@pytest.mark.parametrize("stage", ["vla", "sft", "cot", "rl"])
@pytest.mark.parametrize("head", ["tokens", "l1_chunk", "flow"])
def test_stage_and_head_options_parse(stage, head, compose_config, parse_stage_config):
    overrides = [f"stage={stage}"] + ([f"head={head}"] if stage == "vla" else [])
    cfg = parse_stage_config(compose_config("train", overrides))
    assert cfg.stage == stage
    if stage == "vla":
        assert cfg.policy.head.type == head


@pytest.mark.parametrize("model", ["tiny", "mini"])
def test_random_init_model_presets_parse_for_every_stage(model, compose_config, parse_stage_config):
    for stage in ("vla", "sft"):
        overrides = ([f"stage={stage}", f"model={model}", "data.skills=[left_right]"] if stage == "sft"
                     else [f"model={model}"])
        cfg = parse_stage_config(compose_config("train", overrides))
        backbone = cfg.policy.backbone if stage == "vla" else cfg.model
        assert backbone.pretrained_path is None
        assert backbone.rope_theta == 2.0  # one base for the random-init presets (BackboneConfig.rope_theta)
    assert cfg.data.skills == ("left_right",)


def test_local_model_preset_parses(compose_config):
    cfg = train_config_from_dict(compose_config("train", ["model=local", "model.pretrained_path=/models/qwen"]))
    assert cfg.policy.backbone.pretrained_path == "/models/qwen"


def test_eval_config_parses(compose_config):
    d = compose_config("eval", ["policy_path=/ckpt"])
    assert dataclass_from_dict(EvalCommandConfig, d).eval.n_episodes == 10


def test_typos_fail_at_parse_time_with_the_path(compose_config):
    d = compose_config("train", [])
    d["trainer"]["stpes"] = 3
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['stpes'\] in trainer"):
        train_config_from_dict(d)
    d = compose_config("train", ["trainer.precision=fp16"])
    with pytest.raises(ConfigError, match="trainer.precision must be one of"):
        train_config_from_dict(d)
    d = compose_config("train", ["policy.n_action_steps=9"])
    with pytest.raises(ConfigError, match="n_action_steps must be in"):
        train_config_from_dict(d)
