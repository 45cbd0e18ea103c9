"""The one training loop (every stage, policy and head plugs into it).

A trainable object only needs ``forward(batch) -> (loss, logs)``, ``save_pretrained(dir)`` and, optionally,
``vision_parameter_names()`` for the vision tower's separate learning rate. The loop: AdamW (no decay on
biases and norms), linear warmup + cosine decay, gradient clipping, hardware-chosen precision
(``vst_vla.precision``), a resumable sampler, periodic
atomic checkpoints, exact resume, JSONL + wandb logging, a progress bar, and an optional evaluation every N steps
(:class:`PeriodicEval`, e.g. the VLA stage's rollouts) that does not change what is trained.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lerobot.utils.random_utils import serialize_rng_state
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from vst_vla.errors import ConfigError
from vst_vla.io import atomic_path
from vst_vla.precision import Precision, apply_precision
from vst_vla.training.checkpoint import (
    last_checkpoint,
    load_training_state,
    read_run_layout,
    remove_checkpoint_temporaries,
    save_checkpoint,
)
from vst_vla.training.config import TrainerConfig
from vst_vla.training.distributed import Processes
from vst_vla.training.sampler import ResumableBatchSampler
from vst_vla.training.sharding import FullShard

logger = logging.getLogger(__name__)

TRAIN_LOG = "train_log.jsonl"


@dataclass
class TrainResult:
    """What a finished ``fit`` reports: steps done this call, the final step, last logged loss, time."""

    start_step: int
    final_step: int
    last_loss: float
    seconds: float
    last_checkpoint: Path | None
    precision: Precision | None = None
    # What the main process evaluates after training: the policy itself, or under FSDP2 its gathered full copy
    # (the main process alone cannot run a sharded model). None on the other processes of a sharded run.
    model: torch.nn.Module | None = None


@dataclass(frozen=True)
class EvalRecord:
    """What one periodic evaluation reports: scalar metrics for the log, and optionally a video for wandb."""

    metrics: dict[str, float]
    video: Path | None = None


@dataclass(frozen=True)
class PeriodicEval:
    """``run(policy, step)`` every ``every`` steps, before the last (the stage evaluates the final model itself).

    The trainer calls it with the policy in eval mode and the global RNG forked, so that training with and without
    it, and a resumed run, draw the same random numbers.
    """

    every: int
    run: Callable[[torch.nn.Module, int], EvalRecord] = field(repr=False)


def resolve_device(name: str, field: str = "trainer.device") -> torch.device:
    """'auto' → the first CUDA device when there is one, else the CPU; a named device must exist here.

    Stages call this before they create anything on disk, so ``trainer.device=cuda`` on a CPU-only machine is
    refused with a message instead of leaving a run directory behind. ``field`` names the setting in the message.

    Raises:
        ConfigError: the name is not a torch device, or that device is not available on this machine.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"{field}={name!r} is not a device name ({err}); use auto, cpu or cuda[:i]") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(f"{field}={name!r} but CUDA is not available on this machine (torch "
                              f"{torch.__version__}, {build}); use {field}=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"{field}={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{field}={name!r} but Apple MPS is not available on this machine; use {field}=auto or cpu")
    return device


def build_optimizer(policy: torch.nn.Module, cfg: TrainerConfig) -> torch.optim.AdamW:
    """AdamW with the vision tower at ``cfg.vision_lr`` and no weight decay on 1-D parameters."""
    vision = set(policy.vision_parameter_names()) if hasattr(policy, "vision_parameter_names") else set()
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in policy.named_parameters():
        if param.requires_grad:
            groups.setdefault((name in vision, param.ndim >= 2), []).append(param)
    param_groups = [
        {"params": params, "lr": cfg.vision_lr if is_vision else cfg.lr,
         "weight_decay": cfg.weight_decay if decays else 0.0,
         "name": f"{'vision' if is_vision else 'main'}_{'decay' if decays else 'no_decay'}"}
        for (is_vision, decays), params in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups, betas=cfg.betas)


def warmup_cosine(cfg: TrainerConfig):
    """LR multiplier: linear warmup over ``warmup_steps``, then cosine to ``min_lr_ratio`` at ``steps``."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class Trainer:
    """Runs ``cfg.steps`` optimisation steps of ``policy`` on ``dataset``, checkpointing under ``run_dir``.

    Args:
        cfg: trainer settings.
        run_dir: the run's output directory (checkpoints/, train_log.jsonl, wandb/).
        run_config: the full resolved config, stored with the wandb run.
    """

    def __init__(self, cfg: TrainerConfig, run_dir: Path, run_config: dict | None = None,
                 processes: Processes | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_config = run_config or {}
        self.processes = processes

    def fit(self, policy: torch.nn.Module, dataset: Dataset, resume_from: Path | None = None,
            periodic_eval: PeriodicEval | None = None) -> TrainResult:
        """Train; when ``resume_from`` is a checkpoint, continue exactly where it stopped.

        The policy passed in must already hold the checkpoint's weights when resuming (load it with the
        policy class's ``from_pretrained``); optimizer, scheduler and RNG state are restored here.
        """
        cfg = self.cfg
        processes = self.processes or Processes(resolve_device(cfg.device))
        device = processes.device
        if processes.is_main:
            remove_checkpoint_temporaries(self.run_dir)
        policy.to(device).train()
        if cfg.gradient_checkpointing:
            if not hasattr(policy, "enable_gradient_checkpointing"):
                raise ConfigError(f"trainer.gradient_checkpointing=true, but {type(policy).__name__} cannot "
                                  "recompute its activations (it has no enable_gradient_checkpointing)")
            policy.enable_gradient_checkpointing()
        precision = apply_precision(policy, cfg.precision, device)
        sharding = _shard_if_asked(policy, cfg, processes, precision)  # before the optimizer: it holds the shards
        optimizer = build_optimizer(policy, cfg)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg))
        step = 0
        if resume_from is not None:
            load_optimizer = (None if sharding is None
                              else lambda state: sharding.load_optimizer_state(policy, optimizer, state))
            step = load_training_state(resume_from, optimizer, scheduler, policy, rank=processes.rank,
                                       load_optimizer=load_optimizer)
            logger.info("resumed from %s at step %d", resume_from, step)
        else:
            # Each process draws its own noise (dropout, flow matching); process 0 draws what a single process does.
            torch.manual_seed(cfg.seed + processes.rank)
        start_step = step
        started = time.perf_counter()
        sampler = ResumableBatchSampler(len(dataset), cfg.batch_size, cfg.seed, start_step=step, rank=processes.rank,
                                        world_size=processes.world_size, accumulation_steps=cfg.grad_accum_steps)
        if processes.is_main:
            logger.info("global batch %d = %d per device x %d processes x %d accumulation steps",
                        sampler.global_batch, cfg.batch_size, processes.world_size, cfg.grad_accum_steps)
        layout = {"world_size": processes.world_size, "global_batch": sampler.global_batch}
        if resume_from is not None:
            _say_if_the_layout_changed(resume_from, layout)
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=cfg.num_workers,
            persistent_workers=cfg.num_workers > 0,
            # Datasets whose items are not plain tensors (e.g. packed SFT examples) bring their own collation.
            collate_fn=getattr(dataset, "collate_fn", None),
            # Starting an iterator draws the workers' base seed from this generator; from the global one it would
            # shift every later random draw (sampling, dropout, flow noise) by one on resume, as the checkpoint's
            # RNG state is taken after the first run's draw.
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        run_config = {**self.run_config, **precision.as_dict(), **layout}
        run_log = (_RunLogger(self.run_dir, cfg, run_config, resume=resume_from is not None, start_step=step)
                   if processes.is_main else _NoLog())
        try:
            last_ckpt, last_loss = self._loop(policy, processes, sharding, layout, loader, optimizer, scheduler,
                                              run_log, step, resume_from, periodic_eval)
            if math.isnan(last_loss):  # resumed at the final step: nothing left to train
                last_loss = run_log.last_loss
        finally:
            run_log.close()
        trained = policy
        if sharding is not None:  # the final weights, whole, on the main process's device
            sharding.gather(policy)
            trained = sharding.full.to(device) if sharding.full is not None else None
        return TrainResult(start_step, cfg.steps, last_loss, time.perf_counter() - started, last_ckpt, precision,
                           trained)

    def _loop(self, policy, processes: Processes, sharding: FullShard | None, layout: dict[str, int], loader,
              optimizer, scheduler, run_log: _RunLogger, step: int, last_ckpt: Path | None,
              periodic_eval: PeriodicEval | None) -> tuple[Path | None, float]:
        """Optimisation steps from ``step`` to ``cfg.steps``; returns the last checkpoint and last loss.
        ``layout``: the processes and the global batch, recorded in each checkpoint."""
        cfg = self.cfg
        # DDP with several processes; ``policy`` itself with one, or when it is sharded already (FSDP2).
        model = processes.wrap(policy) if sharding is None else policy
        last_loss = float("nan")
        window_start, window_samples = time.perf_counter(), 0
        batches = iter(loader)
        with tqdm(total=cfg.steps, initial=step, desc="train", dynamic_ncols=True,
                  disable=None if processes.is_main else True) as progress:
            while step < cfg.steps:
                optimizer.zero_grad(set_to_none=True)
                loss, logs = self._accumulate(model, processes, sharding, batches, step)
                clip = processes.clip_grad_norm if sharding is None else sharding.clip_grad_norm
                grad_norm = clip(policy.parameters(), cfg.grad_clip_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                last_loss = logs.get("loss", loss)
                window_samples += layout["global_batch"]
                progress.update(1)
                progress.set_postfix(loss=f"{last_loss:.4f}")
                if step % cfg.log_every == 0 or step == cfg.steps:
                    logs = _mean_over_processes(processes, {"loss": loss, **logs})
                    last_loss = logs["loss"]
                    elapsed = time.perf_counter() - window_start
                    run_log.log(step, {**logs, "grad_norm": float(grad_norm), "lr": scheduler.get_last_lr()[0],
                                       "samples_per_s": window_samples / max(elapsed, 1e-9)})
                    window_start, window_samples = time.perf_counter(), 0
                # Before the checkpoint: a run killed mid-evaluation resumes from the previous checkpoint and
                # evaluates again, so its log matches an uninterrupted run's. The main process evaluates alone.
                if periodic_eval is not None and step % periodic_eval.every == 0 and step < cfg.steps:
                    if sharding is not None:
                        sharding.gather(policy)  # every process: the main one evaluates its full copy
                    if processes.is_main:
                        record = _evaluate_now(periodic_eval, policy if sharding is None else sharding.full, step,
                                               processes.device)
                        run_log.log(step, record.metrics, video=record.video)
                    processes.barrier()
                if step % cfg.save_every == 0 or step == cfg.steps:
                    # Each process's RNG state and learner state (RL's rollouts in reuse), for an exact resume.
                    rng_states = processes.gather(serialize_rng_state())
                    learner_states = (processes.gather(_learner_state(policy))
                                      if processes.world_size > 1 and hasattr(policy, "resume_state") else [])
                    optimizer_state = sharding.gather(policy, optimizer) if sharding is not None else None
                    if processes.is_main:
                        last_ckpt = save_checkpoint(self.run_dir, step, policy, optimizer, scheduler, layout=layout,
                                                    rank_rng_states=rng_states[1:],
                                                    rank_learner_states=learner_states[1:],
                                                    full_model=sharding.full if sharding is not None else None,
                                                    optimizer_state=optimizer_state)
                    processes.barrier()
                    if not processes.is_main:
                        last_ckpt = last_checkpoint(self.run_dir)
        return last_ckpt, last_loss

    def _accumulate(self, model, processes: Processes, sharding: FullShard | None, batches,
                    step: int) -> tuple[float, dict]:
        """Forward and backward ``grad_accum_steps`` micro-batches (gradients all-reduced once, on the last);
        returns this process's share of the step's loss and logs (their mean over the processes is the step's).

        A policy whose loss is a mean over a varying number of terms (the SFT model: target tokens) says how many
        with ``loss_terms(batch)``; each micro-batch's loss is then weighted by its terms over the step's total on
        every process, so the gradient is that of the mean over the whole global batch, as one process with the
        whole batch computes it (HF Trainer's ``num_items_in_batch``). Otherwise micro-batches weigh equally.
        """
        n = self.cfg.grad_accum_steps
        micro_batches = [next(batches) for _ in range(n)]
        counter = getattr(processes.accelerator.unwrap_model(model), "loss_terms", None)
        if counter is not None:
            terms = [float(counter(batch)) for batch in micro_batches]
            total = processes.total(sum(terms))
            weights = [t * processes.world_size / total for t in terms]
        else:
            weights = [1.0 / n] * n
        results = []
        for micro, (batch, weight) in enumerate(zip(micro_batches, weights, strict=True)):
            if sharding is not None:
                sharding.no_sync(model, skip=micro < n - 1)
            with processes.no_sync(model, skip=sharding is None and micro < n - 1):
                loss, logs = model(batch)
                if processes.any(not bool(torch.isfinite(loss))):
                    raise FloatingPointError(f"loss is {float(loss)} at step {step} on process {processes.rank}; "
                                             "lower trainer.lr or check the data")
                processes.backward(loss * weight)  # x 1.0 alone and unaccumulated: the same gradient, bit for bit
            results.append((float(loss.detach()), logs))
        if weights == [1.0]:  # one process, no accumulation: the policy's own numbers, untouched (ints stay ints)
            return results[0]
        loss_share = sum(loss * weight for (loss, _), weight in zip(results, weights, strict=True))
        logs_share = {key: sum(float(logs[key]) * weight for (_, logs), weight in zip(results, weights, strict=True))
                      for key in results[0][1]}
        return loss_share, logs_share


def _shard_if_asked(policy: torch.nn.Module, cfg: TrainerConfig, processes: Processes,
                    precision: Precision) -> FullShard | None:
    """FSDP2 over the processes when ``trainer.parallelism=fsdp2`` and there are several; else None."""
    if cfg.parallelism != "fsdp2":
        return None
    if processes.world_size == 1:
        logger.info("trainer.parallelism=fsdp2 with one process: nothing to shard, the model trains whole")
        return None
    return FullShard(policy, processes.is_main, precision.autocast_dtype)


def _learner_state(policy) -> dict[str, torch.Tensor]:
    """``policy``'s resume state on the CPU: it travels to process 0, which saves it."""
    return {k: v.cpu() for k, v in policy.resume_state().items()}


def _mean_over_processes(processes: Processes, logs: dict[str, float]) -> dict[str, float]:
    """Every logged number averaged over the processes (each saw its own share of the global batch)."""
    if processes.world_size == 1:
        return logs
    keys = sorted(logs)
    means = processes.mean(torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64))
    return dict(zip(keys, means.tolist(), strict=True))


def _say_if_the_layout_changed(checkpoint: Path, now: dict[str, int]) -> None:
    """A resume with another global batch (or process count) is allowed; the log says it is not exact."""
    saved = read_run_layout(checkpoint)
    if saved is not None and saved != now:
        logger.warning("resuming a run saved with %s under %s: the data order from here on differs from an "
                       "uninterrupted run's, and processes without a saved RNG state start from process 0's",
                       saved, now)


class _NoLog:
    """What the other processes log: nothing (the main process writes train_log.jsonl and wandb)."""

    last_loss = float("nan")

    def log(self, step: int, metrics: dict[str, float], video: Path | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def _evaluate_now(periodic_eval: PeriodicEval, policy: torch.nn.Module, step: int,
                  device: torch.device) -> EvalRecord:
    """Run ``periodic_eval`` in eval mode on forked RNG state (rollouts draw noise too), then restore every
    submodule's own mode (a frozen part may be kept in eval mode while the rest trains). ``policy`` is moved to
    ``device`` for it (a no-op but for FSDP2's full copy, which waits on the CPU) and back."""
    home = next(policy.parameters()).device
    policy.to(device)
    try:
        return _evaluate_in_eval_mode(periodic_eval, policy, step)
    finally:
        policy.to(home)


def _evaluate_in_eval_mode(periodic_eval: PeriodicEval, policy: torch.nn.Module, step: int) -> EvalRecord:
    modes = [(module, module.training) for module in policy.modules()]
    devices = [policy.device] if getattr(policy, "device", torch.device("cpu")).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        policy.eval()
        try:
            return periodic_eval.run(policy, step)
        finally:
            for module, training in modes:
                module.training = training


class _RunLogger:
    """Appends metrics to ``train_log.jsonl`` and, unless disabled, to a wandb run (offline by default).

    The log is first cut back to the steps up to ``start_step``: a run killed after its last checkpoint logged
    steps that its resumption trains again, and each step must appear once, as in an uninterrupted run.
    """

    def __init__(self, run_dir: Path, cfg: TrainerConfig, run_config: dict, resume: bool, start_step: int = 0) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        kept = _truncate_log(run_dir / TRAIN_LOG, start_step)
        # The last training record's loss (an evaluation's record, logged at the same step, has none).
        self.last_loss = next((float(r["loss"]) for r in reversed(kept) if "loss" in r), float("nan"))
        self._file = open(run_dir / TRAIN_LOG, "a")  # noqa: SIM115 - kept open for the whole run
        self._wandb = None
        if cfg.wandb.mode != "disabled":
            import wandb

            # One wandb run per training run: a resumed run appends to the same id instead of starting a new one.
            id_file = run_dir / "wandb_run_id.txt"
            run_id = id_file.read_text().strip() if resume and id_file.is_file() else wandb.util.generate_id()
            id_file.write_text(run_id)
            # No system-metrics sampling: on a 2-core machine wandb-core's sampler took 65-70% of a core and made
            # the default job's second 1000 steps ten times slower (the loss and step metrics are what we log).
            self._wandb = wandb.init(project=cfg.wandb.project, mode=cfg.wandb.mode, dir=str(run_dir), id=run_id,
                                     config=run_config, resume="allow", settings=wandb.Settings(x_disable_stats=True))

    def log(self, step: int, metrics: dict[str, float], video: Path | None = None) -> None:
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()
        if self._wandb is not None:
            import wandb

            media = {"eval/video": wandb.Video(str(video), format="mp4")} if video is not None else {}
            self._wandb.log({**metrics, **media}, step=step)

    def close(self) -> None:
        self._file.close()
        if self._wandb is not None:
            self._wandb.finish()


def _truncate_log(path: Path, last_step: int) -> list[dict]:
    """Keep the records of ``path`` logged at steps <= ``last_step`` (atomically rewritten); returns them.

    A line cut short by a kill mid-write is dropped with the records after it.
    """
    if not path.is_file():
        return []
    kept: list[dict] = []
    lines = path.read_text().splitlines(keepends=True)
    for line in lines:
        try:
            record = json.loads(line) if line.endswith("\n") else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("step", last_step + 1) > last_step:
            break
        kept.append(record)
    if len(kept) < len(lines):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return kept
