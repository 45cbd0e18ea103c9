"""``python -m vst_vla.eval policy_path=<checkpoint>``: seeded episodes of a saved policy in simulation.

The checkpoint is a LeRobot policy directory, from ``python -m vst_vla.train stage=vla`` or ``lerobot-train
--policy.type=vst_vla`` (:func:`vst_vla.policy.processed.load_policy`).

Prints the success rate with its 95% Wilson interval and the mean episode length; writes ``episodes.jsonl`` as
episodes finish, ``summary.json`` at the end and mp4s of the first episodes. A checkpoint trained on a
multi-task dataset is evaluated on every task its env.json records (``tasks=[lift]`` picks some): one
sub-directory per task, a table with a row per task and their average, and ``success_by_task.png``.
``eval.num_workers=N`` runs the episodes in N processes, each loading the checkpoint. ``eval.image_ablation=blank |
shuffle | frozen`` rolls out with grey, another seed's live or one frozen foreign camera image instead of the real
ones (:mod:`vst_vla.rollout.ablation`); the summary records it and the default output directory ends in its name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from omegaconf import DictConfig

import vst_vla  # noqa: F401  (sets MUJOCO_GL before any simulator import)
from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.parse import container_from_hydra, dataclass_from_dict
from vst_vla.config.schema import RolloutConfig
from vst_vla.config.store import register_config_defaults
from vst_vla.errors import ConfigError, MissingInputError, exit_on_user_error
from vst_vla.io import check_writable_destination, write_json_atomic
from vst_vla.precision import PRECISIONS, apply_precision, resolve_precision
from vst_vla.rollout.stats import EvalSummary, format_summary_table
from vst_vla.seeds import check_eval_seeds, demo_seeds

logger = logging.getLogger(__name__)

EVAL_INFO = "eval_info.json"


@dataclass(frozen=True)
class EvalCommandConfig:
    """What ``python -m vst_vla.eval`` receives."""

    policy_path: str
    output_dir: str | None = None
    env_overrides: dict = field(default_factory=dict)
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast only on native-bf16 hardware (vst_vla.precision); or bf16 / fp32
    eval: RolloutConfig = field(default_factory=RolloutConfig)
    tasks: tuple[str, ...] | None = None  # multi-task checkpoints: evaluate only these tasks (default: all)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.eval.n_episodes < 1:
            raise ValueError(f"eval.n_episodes must be >= 1 to evaluate anything, got {self.eval.n_episodes}")
        if self.eval.ablations:
            raise ValueError("eval.ablations belongs to the training stage; here run one eval.image_ablation (none | "
                             f"blank | shuffle | frozen) per command, got eval.ablations={list(self.eval.ablations)}")
        if self.eval.every_steps:
            raise ValueError(f"eval.every_steps belongs to the training stage (evaluation during training), got "
                             f"eval.every_steps={self.eval.every_steps}; here set eval.n_episodes")


def env_configs_for_policy(env_metadata: dict | None, overrides: dict, policy_path: str,
                           tasks: tuple[str, ...] | None = None) -> dict:
    """Every task's env config stored with a checkpoint (its env.json), with ``overrides`` applied.

    Returns ``{task: env config}``; ``tasks`` keeps only those (in that order).
    """
    from vst_vla.data.multitask import env_configs_from_metadata

    if not env_metadata or not ("env" in env_metadata or env_metadata.get("tasks")):
        raise MissingInputError(
            f"{policy_path} has no env.json describing its environment (nor, for a lerobot-train checkpoint, a "
            "training dataset with meta/vst_env.json); it cannot be evaluated in simulation without one"
        )
    try:
        env_cfgs = env_configs_from_metadata(env_metadata, overrides)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        where = f"env_overrides {dict(overrides)}" if overrides else f"{policy_path}'s env.json"
        raise ConfigError(f"{where}: {err}") from err
    if tasks:
        unknown = [t for t in tasks if t not in env_cfgs]
        if unknown:
            raise ConfigError(f"tasks {unknown} are not in {policy_path}'s env.json; it has {list(env_cfgs)}")
        env_cfgs = {t: env_cfgs[t] for t in tasks}
    return env_cfgs


def env_config_for_policy(env_metadata: dict | None, overrides: dict, policy_path: str):
    """The env config of a single-task checkpoint (the first task's for a multi-task one)."""
    return next(iter(env_configs_for_policy(env_metadata, overrides, policy_path).values()))


def run_eval(cfg: EvalCommandConfig) -> EvalSummary | dict[str, EvalSummary]:
    """Load the checkpoint, rebuild its env(s) and evaluate.

    Returns the summary for a single-task checkpoint, ``{task: summary}`` for a multi-task one (whose table has
    an average row, and whose output directory also gets ``success_by_task.png``).
    """
    from vst_vla.policy.processed import load_policy
    from vst_vla.rollout.multitask import PLOT_FILE, evaluate_tasks
    from vst_vla.rollout.parallel import PretrainedPolicyFactory
    from vst_vla.rollout.policy_eval import env_task_label
    from vst_vla.training.trainer import resolve_device

    # Everything the user named is checked before the checkpoint and the simulator load.
    device = resolve_device(cfg.device, "device")
    if not Path(cfg.policy_path).is_dir():
        raise MissingInputError(f"policy_path {cfg.policy_path!r} is not a directory; expected a checkpoint's "
                                "pretrained_model directory (e.g. outputs/train/<run>/checkpoints/last/"
                                "pretrained_model)")
    out_dir = Path(cfg.output_dir) if cfg.output_dir else (
        Path(cfg.policy_path).resolve().parent.parent / f"eval_seed{cfg.eval.seed}_n{cfg.eval.n_episodes}"
        f"{'' if cfg.eval.image_ablation == 'none' else '_' + cfg.eval.image_ablation}"
    )
    check_writable_destination(out_dir, "output_dir")
    precision = resolve_precision(cfg.precision, device)
    factory = PretrainedPolicyFactory(cfg.policy_path, str(device), precision.name)
    # The checkpoint is loaded here even with eval.num_workers > 1, where each worker loads its own copy: its
    # env description may come from the training dataset (a lerobot-train checkpoint has no env.json).
    policy = load_policy(cfg.policy_path, str(device)).to(device)
    apply_precision(policy, cfg.precision, device)
    env_metadata = policy.env_metadata
    if cfg.eval.num_workers > 1:
        policy = None
    env_cfgs = env_configs_for_policy(env_metadata, cfg.env_overrides, cfg.policy_path, cfg.tasks)
    # The checkpoint's env.json (or a lerobot-train checkpoint's training dataset) records its demo seeds.
    check_eval_seeds(cfg.eval.seeds, demo_seeds(env_metadata), f"the training data of {cfg.policy_path}")
    summaries = evaluate_tasks(policy, env_cfgs, cfg.eval, out_dir, policy_factory=factory)
    # How the numbers were produced, beside them: which checkpoint, precision (and why) and image ablation.
    # checkpoint_step (the step directory's name, "last" resolved) lets a Hub card find the evaluations of its step.
    write_json_atomic(out_dir / EVAL_INFO, {"policy_path": cfg.policy_path,
                                            "checkpoint_step": Path(cfg.policy_path).resolve().parent.name,
                                            "seeds": cfg.eval.seeds,
                                            "image_ablation": cfg.eval.image_ablation, **precision.as_dict()})
    if cfg.eval.image_ablation != "none":
        print(f"image ablation: {cfg.eval.image_ablation} (the policy did not see the real camera images)")
    if len(summaries) == 1:
        (env_cfg,), (summary,) = env_cfgs.values(), summaries.values()
        print(format_summary_table({env_task_label(env_cfg): summary}))
        print(f"results: {out_dir}")
        return summary
    print(format_summary_table(summaries))
    print(f"results: {out_dir} (per task in its sub-directories; plot: {out_dir / PLOT_FILE})")
    return summaries


register_config_defaults()  # before hydra composes: the defaults the YAML files leave out


@hydra.main(config_path=HYDRA_CONFIG_DIR, config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with exit_on_user_error():
        run_eval(dataclass_from_dict(EvalCommandConfig, container_from_hydra(cfg)))


if __name__ == "__main__":
    main()
