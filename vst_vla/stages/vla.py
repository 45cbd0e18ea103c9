"""The VLA stage: demonstrations → fine-tuned VLA checkpoint (LeRobot's layout) → simulated success rate.

Phases (each timed and reported): collect scripted demos if the dataset is missing, load the LeRobot dataset,
build the policy and its processor pipelines from the dataset's features and stored statistics (or resume the
run's last checkpoint), train, then evaluate the final checkpoint in the env the demonstrations came from. Every
checkpoint's ``pretrained_model`` is a LeRobot policy directory that ``lerobot-eval``, ``lerobot-rollout`` and
``lerobot-train --policy.path`` take as it is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import torch

from vst_vla.config.schema import RolloutConfig, TrainConfig
from vst_vla.data.collect import collect_demos
from vst_vla.data.config import CollectConfig
from vst_vla.data.dataset import VLATrainingDataset, load_env_metadata
from vst_vla.errors import ConfigError, CorruptFileError, OutputExistsError
from vst_vla.hub.command import record_invocation
from vst_vla.hub.push import push_run
from vst_vla.hub.reachability import check_can_push
from vst_vla.io import check_writable_destination, write_json_atomic
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.rollout.parallel import PretrainedPolicyFactory
from vst_vla.rollout.policy_eval import env_task_label, evaluate_image_ablations, evaluate_policy
from vst_vla.rollout.stats import format_summary_table
from vst_vla.seeds import check_eval_seeds, demo_seeds
from vst_vla.training.checkpoint import PRETRAINED_DIR, check_training_state, last_checkpoint
from vst_vla.training.distributed import Processes
from vst_vla.training.learning_curve import EvalPoint, plot_learning_curve
from vst_vla.training.run_files import COMMANDS_FILE, EVAL_DURING_DIR, LEARNING_CURVE, RUN_CONFIG, RUN_SUMMARY
from vst_vla.training.trainer import TRAIN_LOG, EvalRecord, PeriodicEval, Trainer, resolve_device
from vst_vla.vlm.freeze import freeze_backbone_parts
from vst_vla.vlm.lora import check_resume_matches

logger = logging.getLogger(__name__)


class _PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, name: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = round(time.perf_counter() - self.start, 2)

        return _Ctx()


def run_vla_stage(cfg: TrainConfig) -> dict:
    """Run the whole VLA stage; returns (and writes to ``run_summary.json``) timings, losses and eval results."""
    run_dir = Path(cfg.output_root) / cfg.run_name
    # Refused before anything is collected or written: a device this machine lacks, an output it cannot write.
    processes = Processes(resolve_device(cfg.trainer.device))
    device = processes.device  # with several processes, each one's own GPU
    check_writable_destination(run_dir, "output_root/run_name")
    check_can_push(cfg.hub)  # hub.push=true with no reachable Hub: refused now, not after training
    timer = _PhaseTimer()
    dataset_root = Path(cfg.dataset.root)
    if cfg.eval.n_episodes > 0 or cfg.eval.every_steps > 0:
        _check_eval_seeds_against_demos(cfg)
    with processes.main_first():  # the main process collects missing demos; the others then find them
        if not dataset_root.exists():
            with timer.time("collect"):
                report = collect_demos(cfg.env, _collect_config(cfg))
            logger.info("collected %d demos (%d dropped) into %s",
                        report.episodes_kept, report.episodes_dropped, dataset_root)
    with timer.time("load_dataset"):
        dataset = VLATrainingDataset.from_config(cfg.dataset, chunk_size=cfg.policy.chunk_size)
    env_metadata = load_env_metadata(dataset_root)
    _check_env_matches_dataset(cfg, dataset)
    policy_cfg = dataclasses.replace(cfg.policy, device=str(device)).with_features(
        dataset.image_shapes, dataset.action_dim, dataset.state_dim if cfg.policy.use_state else 0)
    resume_from = _resume_point(cfg, run_dir, policy_cfg)
    with timer.time("build_policy"):
        if resume_from is not None:
            policy = ProcessedPolicy.from_pretrained(resume_from / PRETRAINED_DIR, device=policy_cfg.device)
        else:
            # A fresh run's random init is part of the run: the same config builds the same model (trainer.seed).
            torch.manual_seed(cfg.trainer.seed)
            policy = ProcessedPolicy.build(policy_cfg, dataset.stats(), _checkpoint_env(cfg, env_metadata),
                                           lora=cfg.lora)
        # A training setting, not part of the checkpoint (requires_grad is not saved): applied on resume too.
        freeze_backbone_parts(policy.policy.backbone, cfg.freeze)
    if processes.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / RUN_CONFIG, cfg.to_dict())
        record_invocation(run_dir / COMMANDS_FILE, "vst_vla.train")  # the exact command, for the card
    with timer.time("train"):
        result = Trainer(cfg.trainer, run_dir, run_config=cfg.to_dict(), processes=processes).fit(
            policy, dataset, resume_from, _periodic_eval(cfg, run_dir))
    if not processes.is_main:  # the main process evaluates, summarizes and publishes
        return {"run_dir": str(run_dir), "rank": processes.rank, "final_step": result.final_step}
    policy = result.model  # the trained policy whole (under FSDP2, its gathered copy)
    summary, ablated = None, {}
    if cfg.eval.n_episodes > 0:
        with timer.time("eval"):
            factory = None
            if cfg.eval.num_workers > 1 and result.last_checkpoint is not None:
                # Workers rebuild the final checkpoint themselves (each with its own renderer and torch threads).
                factory = PretrainedPolicyFactory(str(result.last_checkpoint / PRETRAINED_DIR), str(policy.device),
                                                  result.precision.name)
            summary = evaluate_policy(policy, cfg.env, cfg.eval, run_dir / "eval", policy_factory=factory)
            ablated = evaluate_image_ablations(policy, cfg.env, cfg.eval, run_dir, policy_factory=factory)
    out = {"run_dir": str(run_dir), "phases_s": timer.seconds, "start_step": result.start_step,
           "final_step": result.final_step, "final_loss": result.last_loss, **result.precision.as_dict(),
           "checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
           # The LeRobot policy directory: what --policy.path, vst_vla.eval and a robot take.
           "policy_path": str(result.last_checkpoint / PRETRAINED_DIR) if result.last_checkpoint else None,
           "eval": summary.to_dict() if summary else None,
           "eval_ablations": {name: s.to_dict() for name, s in ablated.items()}}
    write_json_atomic(run_dir / RUN_SUMMARY, out)
    final = (EvalPoint(result.final_step, summary.success_rate, summary.ci_low, summary.ci_high, summary.n_episodes)
             if summary is not None else None)
    plot_learning_curve(run_dir / TRAIN_LOG, run_dir / LEARNING_CURVE, final, title=f"{cfg.run_name}: {cfg.env.type}")
    if summary is not None:
        label = env_task_label(cfg.env)
        rows = {f"{label} [images: {s.image_ablation}]" if s.image_ablation != "none" else label: s
                for s in (summary, *ablated.values())}
        out["report"] = format_summary_table(rows, average=False)
    out["hub_url"] = push_run(run_dir, cfg.hub)  # None unless hub.push; reads the files written above
    return out


def _collect_config(cfg: TrainConfig) -> CollectConfig:
    """How the stage collects its demonstrations when ``dataset.root`` does not exist yet."""
    return CollectConfig(root=cfg.dataset.root, repo_id=cfg.dataset.repo_id, num_episodes=cfg.collect.num_episodes,
                         seed=cfg.collect.seed, max_attempts=cfg.collect.max_attempts,
                         num_workers=cfg.collect.num_workers)


def _periodic_rollout(cfg: TrainConfig) -> RolloutConfig:
    """The evaluation during training: the first ``eval.periodic_episodes`` seeds, in this process, one video."""
    return dataclasses.replace(cfg.eval, n_episodes=cfg.eval.periodic_episodes, n_videos=1, num_workers=1,
                               ablations=())


def _periodic_eval(cfg: TrainConfig, run_dir: Path) -> PeriodicEval | None:
    """Every ``eval.every_steps`` steps: success, its interval and mean length into the log, one video to wandb."""
    if cfg.eval.every_steps == 0:
        return None
    rollout = _periodic_rollout(cfg)

    def run(policy: torch.nn.Module, step: int) -> EvalRecord:
        out_dir = run_dir / EVAL_DURING_DIR / f"step_{step:06d}"
        summary = evaluate_policy(policy, cfg.env, rollout, out_dir, progress=False)
        logger.info("step %d: success %d/%d (mean length %.1f)", step, summary.successes, summary.n_episodes,
                    summary.mean_episode_length)
        videos = sorted(out_dir.glob("*.mp4"))
        metrics = {"eval/success_rate": summary.success_rate, "eval/ci_low": summary.ci_low,
                   "eval/ci_high": summary.ci_high, "eval/mean_episode_length": summary.mean_episode_length,
                   "eval/n_episodes": summary.n_episodes}
        return EvalRecord(metrics, videos[0] if videos else None)

    return PeriodicEval(cfg.eval.every_steps, run)


def _check_eval_seeds_against_demos(cfg: TrainConfig) -> None:
    """Evaluation seeds that are demonstration seeds are refused before anything is collected or trained: those of
    ``dataset.root`` when it exists, else every seed the collection may attempt."""
    dataset_root = Path(cfg.dataset.root)
    if dataset_root.exists():
        demos, source = demo_seeds(load_env_metadata(dataset_root)), f"dataset {dataset_root}"
    else:
        collect_cfg = _collect_config(cfg)
        demos = list(range(collect_cfg.seed, collect_cfg.seed + collect_cfg.attempt_limit))
        source = (f"the demonstrations to collect into {dataset_root} (collect.seed={collect_cfg.seed}, up to "
                  f"{collect_cfg.attempt_limit} attempts)")
    periodic = _periodic_rollout(cfg).seeds if cfg.eval.every_steps > 0 else []
    check_eval_seeds(sorted(set(cfg.eval.seeds) | set(periodic)), demos, source)


def _checkpoint_env(cfg: TrainConfig, env_metadata: dict | None) -> dict | None:
    """What the checkpoint's env.json records: the env the dataset was collected in, else the env this stage
    evaluates the policy in (checked against the dataset), else nothing. A dataset from elsewhere (LIBERO,
    a real arm) trained without the stage's evaluation names no env, so ``vst-vla eval`` refuses it with a
    clear message instead of rolling the policy out in the stage's default env (Lift)."""
    if env_metadata:
        return env_metadata
    evaluates = cfg.eval.n_episodes > 0 or cfg.eval.every_steps > 0
    return {"env": cfg.env.to_dict()} if evaluates else None


def _check_env_matches_dataset(cfg: TrainConfig, dataset: VLATrainingDataset) -> None:
    """The env evaluated during and after training must take the dataset's actions and show its cameras.

    Checked before training, so that a dataset from another simulator (e.g. LIBERO, evaluated with
    ``lerobot-eval``) fails now, not after the training it took, when the stage would evaluate it in ``env``.
    """
    if cfg.eval.n_episodes == 0 and cfg.eval.every_steps == 0:
        return
    off = "or turn the stage's evaluation off (eval.n_episodes=0 eval.every_steps=0)"
    env_action_dim = getattr(cfg.env, "action_dim", None)
    if env_action_dim is not None and env_action_dim != dataset.action_dim:
        raise ConfigError(
            f"dataset {cfg.dataset.root} has {dataset.action_dim}-dim actions but env {cfg.env.type!r} takes "
            f"{env_action_dim}; train on a dataset recorded in this env, change env, {off}"
        )
    cameras = getattr(cfg.env, "cameras", None)
    if cameras is not None:
        env_keys = {f"observation.images.{camera}" for camera in cameras}
        missing = sorted(set(dataset.image_shapes) - env_keys)
        if missing:
            raise ConfigError(
                f"dataset {cfg.dataset.root} has cameras {missing} that env {cfg.env.type!r} does not render "
                f"(env.cameras={list(cameras)}); set env.cameras, change env, {off}"
            )


def _resume_point(cfg: TrainConfig, run_dir: Path, policy_cfg) -> Path | None:
    """The run's last checkpoint when resuming is on and its policy config matches; refuses a mismatch."""
    last = last_checkpoint(run_dir)
    if last is None:
        return None
    if not cfg.trainer.resume:
        raise OutputExistsError(
            f"{run_dir} already holds checkpoints; set trainer.resume=true to continue it or choose another run_name"
        )
    saved_path = last / PRETRAINED_DIR / "config.json"
    try:
        saved = _comparable(json.loads(saved_path.read_text()))
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"cannot resume from {last}: {saved_path} is unreadable ({err}); train under another "
                               f"run_name, or delete {last.parent} to start this run afresh") from None
    check_training_state(last)
    if saved != _comparable(policy_cfg.to_dict()):
        raise ConfigError(
            f"the policy config differs from the one of {last}; resuming would mix two models. "
            "Use another run_name (or trainer.resume=false with a fresh run_name)."
        )
    check_resume_matches(last / PRETRAINED_DIR, cfg.lora)
    return last


def _comparable(policy_config: dict) -> dict:
    """A policy config.json's content as resuming compares it: JSON types, without the device it ran on."""
    data = json.loads(json.dumps(policy_config))
    data.pop("device", None)
    return data
