"""Command line: collect scripted-expert demonstrations into a LeRobot dataset.

    python -m vst_vla.collect                                   # 20 Lift episodes -> outputs/datasets/lift
    python -m vst_vla.collect collect.num_episodes=50 env.image_size=96 collect.overwrite=true

Hydra composes ``configs/collect.yaml`` (env group default: ``configs/env/lift.yaml``); this entry point turns
the result into dataclasses and hands them to :func:`vst_vla.data.collect.collect_demos`. Hydra keeps the
working directory (no ``chdir``), so relative paths are relative to where you run the command; its own logs go
to ``outputs/hydra/collect/<time>``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf
from vst_envs.config import env_config_from_dict

from vst_vla.config.parse import dataclass_from_dict
from vst_vla.data.collect import collect_demos
from vst_vla.data.config import CollectConfig


@hydra.main(config_path="../configs", config_name="collect", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Collect demonstrations as ``cfg`` describes and print a one-paragraph summary."""
    env_cfg = env_config_from_dict(OmegaConf.to_container(cfg.env, resolve=True))
    collect_cfg = dataclass_from_dict(CollectConfig, OmegaConf.to_container(cfg.collect, resolve=True), "collect.")
    report = collect_demos(env_cfg, collect_cfg)
    print(
        f"collected {report.episodes_kept} episodes ({report.frames} frames, "
        f"{report.episodes_dropped} failed episodes dropped) in {report.seconds:.1f}s\n"
        f"dataset: {report.root}\n"
        f"train on it with dataset.root={report.root}"
    )


if __name__ == "__main__":
    main()
