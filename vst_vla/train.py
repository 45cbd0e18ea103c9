"""``python -m vst_vla.train``: hydra composes ``configs/train.yaml``; the library receives dataclasses.

Examples:
    python -m vst_vla.train                          # the embedded default (Lift, tiny VLA, ~10 min on 2 cores)
    python -m vst_vla.train experiment=debug         # the whole path in seconds
    python -m vst_vla.train model=local model.pretrained_path=/models/Qwen2.5-VL-3B-Instruct trainer.device=cuda
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

import vst_vla  # noqa: F401  (sets MUJOCO_GL before any simulator import)
from vst_vla.config.schema import train_config_from_dict

STAGE_RUNNERS = {"vla": "vst_vla.stages.vla:run_vla_stage"}


def run(cfg_dict: dict) -> dict:
    """Parse a resolved config dict and run its stage; returns the stage's summary."""
    import importlib

    cfg = train_config_from_dict(cfg_dict)
    module, func = STAGE_RUNNERS[cfg.stage].split(":")
    return getattr(importlib.import_module(module), func)(cfg)


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = run(OmegaConf.to_container(cfg, resolve=True))
    logging.getLogger(__name__).info("phases (s): %s", summary["phases_s"])


if __name__ == "__main__":
    main()
