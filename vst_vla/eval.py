"""``python -m vst_vla.eval policy_path=<checkpoint>``: seeded episodes of a saved policy in simulation.

Prints the success rate with its 95% Wilson interval and the mean episode length; writes ``episodes.jsonl`` as
episodes finish, ``summary.json`` at the end and mp4s of the first episodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

import vst_vla  # noqa: F401  (sets MUJOCO_GL before any simulator import)
from vst_vla.config.parse import dataclass_from_dict
from vst_vla.config.schema import RolloutConfig
from vst_vla.rollout.stats import EvalSummary, format_summary_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalCommandConfig:
    """What ``python -m vst_vla.eval`` receives."""

    policy_path: str
    output_dir: str | None = None
    env_overrides: dict = field(default_factory=dict)
    device: str = "auto"
    precision: str = "bf16"
    eval: RolloutConfig = field(default_factory=RolloutConfig)

    def __post_init__(self) -> None:
        if self.precision not in ("bf16", "fp32"):
            raise ValueError(f"precision must be 'bf16' or 'fp32', got {self.precision!r}")


def env_config_for_policy(env_metadata: dict | None, overrides: dict, policy_path: str):
    """The env config stored with a checkpoint (its env.json), with ``overrides`` applied."""
    from vst_envs.config import env_config_from_dict

    if not env_metadata or "env" not in env_metadata:
        raise FileNotFoundError(
            f"{policy_path} has no env.json describing its environment; it cannot be evaluated without one"
        )
    env = {**env_metadata["env"], **overrides}
    return env_config_from_dict(env)


def run_eval(cfg: EvalCommandConfig) -> EvalSummary:
    """Load the checkpoint, rebuild its env and evaluate; returns the summary."""
    from vst_vla.rollout.policy_eval import env_task_label, evaluate_policy
    from vst_vla.training.trainer import resolve_device
    from vst_vla.vla.modeling import VLAPolicy

    policy = VLAPolicy.from_pretrained(cfg.policy_path).to(resolve_device(cfg.device))
    policy.autocast_dtype = torch.bfloat16 if cfg.precision == "bf16" else None
    env_cfg = env_config_for_policy(policy.env_metadata, cfg.env_overrides, cfg.policy_path)
    out_dir = Path(cfg.output_dir) if cfg.output_dir else (
        Path(cfg.policy_path).resolve().parent.parent / f"eval_seed{cfg.eval.seed}_n{cfg.eval.n_episodes}"
    )
    summary = evaluate_policy(policy, env_cfg, cfg.eval, out_dir)
    print(format_summary_table({env_task_label(env_cfg): summary}))
    print(f"results: {out_dir}")
    return summary


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_eval(dataclass_from_dict(EvalCommandConfig, OmegaConf.to_container(cfg, resolve=True)))


if __name__ == "__main__":
    main()
