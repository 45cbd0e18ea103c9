"""``python -m vst_vla.train``: hydra composes ``configs/train.yaml``; the library receives dataclasses.

Examples:
    python -m vst_vla.train                          # the embedded default (Lift, tiny VLA, ~18 min on 2 cores)
    python -m vst_vla.train experiment=debug         # the whole path in seconds
    python -m vst_vla.train stage=align              # dense scene captions: a random-init VLM learns to see
    python -m vst_vla.train stage=sft                # spatial perception SFT of the VLM (VST-P)
    python -m vst_vla.train stage=cot model=local model.pretrained_path=<sft checkpoint>
    python -m vst_vla.train pipeline=vst             # align -> sft -> cot -> rl -> vla, each from the last
    python -m vst_vla.train model=local model.pretrained_path=/models/Qwen2.5-VL-3B-Instruct trainer.device=cuda
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

import vst_vla  # noqa: F401  (sets MUJOCO_GL before any simulator import)
from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.parse import ConfigError, container_from_hydra
from vst_vla.config.schema import train_config_from_dict
from vst_vla.config.store import register_config_defaults
from vst_vla.errors import exit_on_user_error


def _vlm_stage(cfg_dict: dict) -> dict:
    from vst_vla.config.parse import dataclass_from_dict
    from vst_vla.sft.config import VLMStageConfig
    from vst_vla.stages.sft import run_vlm_stage

    return run_vlm_stage(dataclass_from_dict(VLMStageConfig, cfg_dict))


def _rl_stage(cfg_dict: dict) -> dict:
    from vst_vla.config.parse import dataclass_from_dict
    from vst_vla.rl.config import RLStageConfig
    from vst_vla.stages.rl import run_rl_stage

    return run_rl_stage(dataclass_from_dict(RLStageConfig, cfg_dict))


def _vla_stage(cfg_dict: dict) -> dict:
    from vst_vla.stages.vla import run_vla_stage

    return run_vla_stage(train_config_from_dict(cfg_dict))


# Each stage parses its own typed config from the composed dict and runs.
STAGES = {"vla": _vla_stage, "align": _vlm_stage, "sft": _vlm_stage, "cot": _vlm_stage, "rl": _rl_stage}


def run(cfg_dict: dict) -> dict:
    """Parse a resolved config dict and run its stage; returns the stage's summary."""
    stage = cfg_dict.get("stage", "vla")
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    return STAGES[stage](cfg_dict)


def compose_train(overrides: list[str]) -> dict:
    """``configs/train.yaml`` composed with ``overrides`` and resolved (inside or outside a hydra app)."""
    from vst_vla.config.store import compose

    out = container_from_hydra(compose("train", overrides))
    out.pop("hydra", None)
    return out


def run_pipeline_command(pipeline_cfg: dict, user_overrides: list[str]) -> dict:
    """``pipeline=<name>``: every stage of the pipeline in order (:mod:`vst_vla.pipeline`)."""
    from vst_vla.pipeline import run_pipeline

    return run_pipeline(pipeline_cfg, user_overrides, run, compose_train)


def _command_overrides() -> list[str]:
    """The command line's overrides other than the pipeline choice: every pipeline stage gets them."""
    from hydra.core.hydra_config import HydraConfig

    return [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=")[0].split(".")[0] != "pipeline"]


register_config_defaults()  # before hydra composes: the defaults the YAML files leave out


@hydra.main(config_path=HYDRA_CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with exit_on_user_error():
        cfg_dict = container_from_hydra(cfg)
        if cfg_dict.get("pipeline"):
            summary = run_pipeline_command(cfg_dict["pipeline"], _command_overrides())
        else:
            summary = run(cfg_dict)
    if summary.get("report"):
        print(summary["report"])
    if "phases_s" in summary:
        logging.getLogger(__name__).info("phases (s): %s", summary["phases_s"])
    if summary.get("policy_path"):
        print(f"LeRobot policy: {summary['policy_path']} (vst-vla eval policy_path=..., lerobot-eval / "
              "lerobot-rollout --policy.path=...)")


if __name__ == "__main__":
    main()
