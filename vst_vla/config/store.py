"""Every config default has one home, its dataclass; hydra reads them from here.

The YAML files in ``configs/`` carry only what differs from the dataclasses (a stage's own schedule, a preset's
sizes) and the choice of groups. What hydra needs beyond that, the full tree of keys so that any field can be
set on the command line (``trainer.lr=...``) and typos fail, is generated from the dataclasses' defaults and
stored in hydra's ConfigStore:

- ``dataclass_defaults/stage/{vla,vlm,rl}``: a stage config's defaults, less the fields its groups fill; the
  stage YAMLs start from them (``- /dataclass_defaults/stage/vla@_here_``);
- ``dataclass_defaults/{model,eval,collect,hub}``: the backbone's, the evaluation and collection commands' and
  the Hub settings' defaults;
- ``head/<type>`` and ``env/<type>``: one group option per registered action head (``ActionHeadConfig``) and env
  (``vst_envs.ENVS``), so a new head or env is its code plus its config dataclass, and no YAML.

:func:`register_config_defaults` must run before hydra composes (the entry points and :func:`compose` call it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vst_vla.config.parse import dataclass_to_dict, jsonable

DEFAULTS_GROUP = "dataclass_defaults"
# RolloutConfig fields that only the training stage uses (vst_vla.eval refuses them, naming the stage).
TRAINING_ONLY_ROLLOUT_FIELDS = ("ablations", "every_steps", "periodic_episodes")

_registered = False


def stage_default_nodes() -> dict[str, dict[str, Any]]:
    """Each stage's defaults, less the fields its groups fill (model, and the VLA's env, backbone and head)."""
    from vst_vla.config.schema import TrainConfig
    from vst_vla.policy.configuration_vst_vla import HYDRA_POLICY_FIELDS
    from vst_vla.rl.config import RLStageConfig
    from vst_vla.sft.config import VLMStageConfig

    vla = TrainConfig()
    vla_node = dataclass_to_dict(dataclasses.replace(vla, policy=None))
    vla_node.pop("env")
    policy = {name: getattr(vla.policy, name) for name in HYDRA_POLICY_FIELDS if name not in ("backbone", "head")}
    vla_node["policy"] = jsonable(policy)
    nodes = {"vla": vla_node}
    for name, cfg in (("vlm", VLMStageConfig()), ("rl", RLStageConfig())):
        node = dataclass_to_dict(cfg)
        node.pop("model")
        nodes[name] = node
    return nodes


def command_default_nodes() -> dict[str, dict[str, Any]]:
    from vst_vla.data.config import CollectConfig
    from vst_vla.eval import EvalCommandConfig
    from vst_vla.hub.config import HubConfig
    from vst_vla.vlm.config import BackboneConfig

    def with_defaults(cls: type) -> dict[str, Any]:
        """The fields of ``cls`` that have defaults (a required field, like ``policy_path``, stays in its YAML)."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return jsonable({k: dataclass_to_dict(v) if dataclasses.is_dataclass(v) else v for k, v in out.items()})

    eval_node = with_defaults(EvalCommandConfig)
    for name in TRAINING_ONLY_ROLLOUT_FIELDS:  # refused by the eval command; left out so `+eval.<name>=` says why
        del eval_node["eval"][name]
    return {"model": dataclass_to_dict(BackboneConfig()), "eval": eval_node,
            "collect": with_defaults(CollectConfig), "hub": dataclass_to_dict(HubConfig())}


def option_default_nodes() -> dict[str, dict[str, dict[str, Any]]]:
    """``{group: {option: node}}`` for the registries: action heads and envs."""
    from vst_envs.config import ENVS

    from vst_vla.policy.configuration_vst_vla import ActionHeadConfig, head_names

    heads = {name: {"type": name, **dataclass_to_dict(ActionHeadConfig.get_choice_class(name)())}
             for name in head_names()}
    envs = {name: ENVS.get(name)().to_dict() for name in ENVS.names()}
    return {"head": heads, "env": envs}


def register_config_defaults() -> None:
    """Store the dataclass defaults in hydra's ConfigStore (once per process)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, node in stage_default_nodes().items():
        store.store(group=f"{DEFAULTS_GROUP}/stage", name=name, node=node)
    for name, node in command_default_nodes().items():
        store.store(group=DEFAULTS_GROUP, name=name, node=node)
    for group, options in option_default_nodes().items():
        for name, node in options.items():
            store.store(group=group, name=name, node=node)
    _registered = True


def compose(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """``configs/<config_name>.yaml`` composed by hydra with ``overrides`` (a DictConfig), inside or outside a
    running hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from vst_vla.config import HYDRA_CONFIG_DIR

    register_config_defaults()
    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=HYDRA_CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
