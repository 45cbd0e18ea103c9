"""Every hydra preset composes and parses into the typed configs (no model is built)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from vst_vla.config.parse import ConfigError, dataclass_from_dict
from vst_vla.config.schema import TrainConfig, train_config_from_dict
from vst_vla.eval import EvalCommandConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


def _compose(name: str, overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=False)


def _strip_hydra(d: dict) -> dict:
    d.pop("hydra", None)
    return d


def _parse(d: dict):
    from vst_vla.rl.config import RLStageConfig
    from vst_vla.sft.config import VLMStageConfig

    if d["stage"] == "vla":
        return train_config_from_dict(d)
    return dataclass_from_dict(RLStageConfig if d["stage"] == "rl" else VLMStageConfig, d)


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_train_presets_parse(experiment):
    overrides = [f"experiment={experiment}"] if experiment else []
    cfg = _parse(_strip_hydra(_compose("train", overrides)))
    if isinstance(cfg, TrainConfig):
        assert cfg.policy.head.type == "tokens" and cfg.env.type == "lift"


@pytest.mark.parametrize("stage", ["vla", "sft", "cot", "rl"])
@pytest.mark.parametrize("head", ["tokens", "l1_chunk", "flow"])
def test_stage_and_head_options_parse(stage, head):
    overrides = [f"stage={stage}"] + ([f"head={head}"] if stage == "vla" else [])
    cfg = _parse(_strip_hydra(_compose("train", overrides)))
    assert cfg.stage == stage
    if stage == "vla":
        assert cfg.policy.head.type == head


@pytest.mark.parametrize("model", ["tiny", "mini"])
def test_random_init_model_presets_parse_for_every_stage(model):
    for stage in ("vla", "sft"):
        cfg = _parse(_strip_hydra(_compose("train", [f"stage={stage}", f"model={model}", "data.skills=[left_right]"]
                                                    if stage == "sft" else [f"model={model}"])))
        backbone = cfg.policy.backbone if stage == "vla" else cfg.model
        assert backbone.pretrained_path is None
        assert backbone.rope_theta == 2.0  # one base for the random-init presets (BackboneConfig.rope_theta)
    assert cfg.data.skills == ("left_right",)


def test_local_model_preset_parses():
    cfg = train_config_from_dict(_strip_hydra(_compose("train", ["model=local", "model.pretrained_path=/models/qwen"])))
    assert cfg.policy.backbone.pretrained_path == "/models/qwen"


def test_eval_config_parses():
    d = _strip_hydra(_compose("eval", ["policy_path=/ckpt"]))
    assert dataclass_from_dict(EvalCommandConfig, d).eval.n_episodes == 10


def test_typos_fail_at_parse_time_with_the_path():
    d = _strip_hydra(_compose("train", []))
    d["trainer"]["stpes"] = 3
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['stpes'\] in trainer"):
        train_config_from_dict(d)
    d = _strip_hydra(_compose("train", ["trainer.precision=fp16"]))
    with pytest.raises(ConfigError, match="trainer.precision must be one of"):
        train_config_from_dict(d)
    d = _strip_hydra(_compose("train", ["policy.n_action_steps=9"]))
    with pytest.raises(ConfigError, match="n_action_steps must be in"):
        train_config_from_dict(d)
