"""The top-level configs that the command lines receive (hydra composes them from ``configs/``).

``TrainConfig`` is what ``python -m vst_vla.train`` runs; ``EvalConfig`` what ``python -m vst_vla.eval`` runs.
The env is kept as its own registered dataclass (``vst_envs.ENVS``), picked by its ``type`` field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vst_vla.config.parse import ConfigError, dataclass_from_dict, dataclass_to_dict
from vst_vla.config.stage import StageConfig
from vst_vla.data.config import DatasetConfig
from vst_vla.policy.configuration_vst_vla import VSTVLAConfig, policy_config_from_dict
from vst_vla.rollout.ablation import IMAGE_ABLATIONS, check_image_ablation
from vst_vla.seeds import DEMO_SEED_BASE, EVAL_SEED_BASE

STAGES = ("vla",)


@dataclass(frozen=True)
class RolloutConfig:
    """Seeded evaluation episodes: seeds ``seed .. seed + n_episodes - 1``, refused where they meet the demo seeds."""

    n_episodes: int = 10
    seed: int = EVAL_SEED_BASE
    n_videos: int = 2
    max_steps: int | None = None
    num_workers: int = 1  # > 1: episodes run in that many spawned processes (vst_vla.rollout.parallel)
    # What the policy sees instead of the camera images: none | blank | shuffle | frozen (vst_vla.rollout.ablation).
    image_ablation: str = "none"
    # Training stage only: after the evaluation above, the same episodes again under each of these ablations.
    ablations: tuple[str, ...] = ()
    # Training stage only: > 0 also evaluates the first `periodic_episodes` seeds every this many training steps
    # (success rate and mean length logged with the losses, one video to wandb, curves in learning_curve.png).
    every_steps: int = 0
    periodic_episodes: int = 5

    def __post_init__(self) -> None:
        check_image_ablation(self.image_ablation)
        choices = tuple(a for a in IMAGE_ABLATIONS if a != "none")
        listed = () if isinstance(self.ablations, str) else self.ablations
        if listed != self.ablations or any(a not in choices for a in listed) or len(set(listed)) != len(listed):
            raise ValueError(f"eval.ablations must be a list of distinct names from {choices}, got {self.ablations!r}")
        if self.image_ablation in self.ablations:
            raise ValueError(f"eval.ablations repeats eval.image_ablation={self.image_ablation!r}")
        if self.n_episodes < 0 or self.n_videos < 0 or self.seed < 0:
            raise ValueError("eval.n_episodes, eval.n_videos and eval.seed must be >= 0")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise ValueError(f"eval.num_workers must be an integer >= 1, got {self.num_workers!r}")
        if self.every_steps < 0 or self.periodic_episodes < 1:
            raise ValueError(f"eval.every_steps must be >= 0 and eval.periodic_episodes >= 1, got {self.every_steps} "
                             f"and {self.periodic_episodes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"eval.max_steps must be null or >= 1, got {self.max_steps}")

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_episodes))


@dataclass(frozen=True)
class DemoCollection:
    """Scripted demonstrations gathered when ``dataset.root`` does not exist yet."""

    num_episodes: int = 30
    seed: int = DEMO_SEED_BASE
    max_attempts: int | None = None
    num_workers: int = 2  # episodes rolled out in this many processes; the dataset is the same for any count

    def __post_init__(self) -> None:
        if self.num_episodes < 1:
            raise ValueError(f"collect.num_episodes must be >= 1, got {self.num_episodes}")


@dataclass(frozen=True)
class TrainConfig(StageConfig):
    """The VLA stage: demonstrations (collected when missing), the policy, and its evaluation in simulation.

    ``freeze`` fixes parts of the policy's backbone (the action head and state projection always train);
    ``lora`` trains adapters on the VLM plus, in full, the head, the state projection and the added tokens'
    embedding rows.
    """

    stage: str = "vla"
    run_name: str = "vla_lift"
    env: Any = None
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(root="outputs/datasets/lift"))
    collect: DemoCollection = field(default_factory=DemoCollection)
    policy: VSTVLAConfig = field(default_factory=lambda: VSTVLAConfig(device="cpu"))
    # 30 episodes give about a +-17-point interval (10: +-30); 5 of them every 500 steps during training. The same
    # 30 again with blank and with shuffled images, so that the score shows how much the policy uses what it sees.
    eval: RolloutConfig = field(default_factory=lambda: RolloutConfig(n_episodes=30, num_workers=2, every_steps=500,
                                                                      ablations=("blank", "shuffle")))

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        super().__post_init__()
        if self.freeze.language_model and self.policy.head.type == "tokens":
            raise ValueError("freeze.language_model=true cannot train head=tokens: its actions are the language "
                             "model's own output tokens (their embedding and output rows belong to it); use "
                             "head=l1_chunk or head=flow, which train beside a frozen language model")

    def to_dict(self) -> dict:
        out = dataclass_to_dict(dataclasses.replace(self, policy=None))
        out["policy"] = self.policy.to_dict()
        out["env"] = self.env.to_dict() if hasattr(self.env, "to_dict") else self.env
        return out


def train_config_from_dict(data: dict) -> TrainConfig:
    """Parse hydra's resolved container into a :class:`TrainConfig` (env and head through their registries)."""
    from vst_envs.config import env_config_from_dict

    data = dict(data)
    env = data.pop("env", None)
    policy = dict(data.pop("policy", None) or {})
    # The model/ and head/ groups are top-level on the command line (model=local, head=tokens) and live
    # inside the policy config in the library.
    if "model" in data:
        policy["backbone"] = data.pop("model")
    if "head" in data:
        policy["head"] = data.pop("head")
    try:
        env_cfg = env_config_from_dict(env) if env is not None else None
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"env: {err}") from err
    # Built with its env and policy, so that __post_init__ checks them together (freeze against the head).
    return dataclass_from_dict(TrainConfig, {**data, "env": env_cfg, "policy": policy_config_from_dict(policy)})
