"""Every default has one home, its dataclass: the YAML files hold only what differs (vst_vla.config.store)."""

from pathlib import Path

import pytest
import yaml
from vst_envs.config import ENVS

from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.parse import dataclass_to_dict
from vst_vla.policy.configuration_vst_vla import ActionHeadConfig, head_names
from vst_vla.vlm.config import BackboneConfig

CONFIGS = Path(HYDRA_CONFIG_DIR)
_MISSING = object()


def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _body(path: Path) -> dict:
    """A YAML file's settings: everything but its defaults list and hydra's own section."""
    data = yaml.safe_load(path.read_text()) or {}
    return {k: v for k, v in data.items() if k not in ("defaults", "hydra")}


def _at(tree: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def _assert_only_overrides(path: Path, base: dict) -> None:
    repeated = {key: value for key, value in _leaves(_body(path)).items() if _at(base, key) == value}
    assert not repeated, f"{path.relative_to(CONFIGS)} repeats defaults it starts from: {repeated}"


# Each file, and the config it overrides: a stage file the dataclass defaults of its stage (with its model),
# cot the sft stage, an experiment the stage it selects.
STAGE_BASES = {"vla": ["stage=vla"], "sft": ["stage=sft"], "align": ["stage=sft"], "rl": ["stage=rl"]}


@pytest.mark.parametrize("stage", sorted(STAGE_BASES))
def test_stage_files_hold_only_overrides(stage):
    from vst_vla.config.store import stage_default_nodes

    node = stage_default_nodes()["vlm" if stage in ("sft", "align") else stage]
    _assert_only_overrides(CONFIGS / "stage" / f"{stage}.yaml", node)


def test_cot_holds_only_what_differs_from_sft(compose_config):
    _assert_only_overrides(CONFIGS / "stage" / "cot.yaml", compose_config("train", ["stage=sft"]))


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml")))
def test_experiment_presets_hold_only_overrides(experiment, compose_config):
    path = CONFIGS / "experiment" / f"{experiment}.yaml"
    stages = [d["override /stage"] for d in yaml.safe_load(path.read_text()).get("defaults", [])
              if isinstance(d, dict) and "override /stage" in d]
    _assert_only_overrides(path, compose_config("train", [f"stage={stages[0]}"] if stages else []))


def test_model_presets_hold_only_overrides():
    _assert_only_overrides(CONFIGS / "model" / "mini.yaml", dataclass_to_dict(BackboneConfig()))
    _assert_only_overrides(CONFIGS / "model" / "local.yaml", dataclass_to_dict(BackboneConfig()))


def test_the_commands_hold_only_overrides():
    from vst_vla.config.store import command_default_nodes

    nodes = command_default_nodes()
    _assert_only_overrides(CONFIGS / "eval.yaml", nodes["eval"])
    _assert_only_overrides(CONFIGS / "collect.yaml", {"collect": nodes["collect"], "hub": nodes["hub"]})


@pytest.mark.parametrize("head", head_names())
def test_every_registered_head_is_a_group_option_with_its_defaults(head, compose_config, parse_stage_config):
    composed = compose_config("train", [f"head={head}"])
    assert composed["head"] == {"type": head, **dataclass_to_dict(ActionHeadConfig.get_choice_class(head)())}
    assert parse_stage_config(composed).policy.head == ActionHeadConfig.get_choice_class(head)()


@pytest.mark.parametrize("env", ENVS.names())
def test_every_registered_env_is_a_group_option_with_its_defaults(env, compose_config, parse_stage_config):
    composed = compose_config("train", [f"env={env}"])
    assert composed["env"] == ENVS.get(env)().to_dict()
    assert parse_stage_config(composed).env == ENVS.get(env)()


def test_the_stages_share_one_shape(compose_config, parse_stage_config):
    shared = ("run_name", "output_root", "trainer", "freeze", "eval", "hub", "lora")
    for stage in ("vla", "align", "sft", "cot", "rl"):
        cfg = parse_stage_config(compose_config("train", [f"stage={stage}", "freeze.merger=true",
                                                          "eval.ablations=[blank]"]))
        assert all(hasattr(cfg, name) for name in shared), stage
        assert cfg.freeze.merger and tuple(cfg.eval.ablations) == ("blank",), stage


def test_a_repeated_default_is_caught(tmp_path):
    """The check above can fail: a file that restates a default is reported with the key."""
    path = tmp_path / "sft.yaml"
    path.write_text("trainer:\n  steps: 600\n  lr: 5.0\n")
    global CONFIGS
    saved, CONFIGS = CONFIGS, tmp_path
    try:
        with pytest.raises(AssertionError, match="trainer.steps"):
            _assert_only_overrides(path, {"trainer": {"steps": 600, "lr": 1e-3}})
    finally:
        CONFIGS = saved
