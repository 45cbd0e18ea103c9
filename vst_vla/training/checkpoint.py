"""Training checkpoints: the policy (safetensors + JSON) plus optimizer, scheduler, RNG and step.

Layout (LeRobot's): ``<run>/checkpoints/<step:06d>/pretrained_model/`` holds what a user deploys;
``.../training_state/`` holds what resuming needs. ``<run>/checkpoints/last`` is a symlink to the newest one.
Each step directory is written under a temporary name and renamed into place, so a crash never leaves a
half-written checkpoint that resume would pick up. State files use LeRobot's own safetensors/JSON savers.
A trainable object with state of its own that resuming needs (the RL learner's rollouts in reuse) exposes it as
``resume_state() -> {name: tensor}`` and ``load_resume_state(tensors)``; it is kept in
``training_state/learner_state.safetensors``. A data-parallel run (:mod:`vst_vla.training.distributed`) adds
process r's RNG state as ``rng_state_rank<r>.safetensors`` (process 0's is ``rng_state.safetensors``, as in a
single-process run) and records its layout (processes, global batch) in ``training_step.json``. A model trained
with LoRA writes its frozen base and its adapters (peft's format) into ``pretrained_model/``
(:mod:`vst_vla.vlm.lora`); the optimizer state is the adapters' only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from lerobot.optim.optimizers import load_optimizer_state, load_optimizer_state_dict, save_optimizer_state
from lerobot.optim.schedulers import load_scheduler_state, save_scheduler_state
from lerobot.utils.constants import OPTIMIZER_STATE, RNG_STATE
from lerobot.utils.random_utils import deserialize_rng_state, load_rng_state, save_rng_state
from safetensors.torch import load_file, save_file

from vst_vla.errors import CorruptFileError, MissingInputError
from vst_vla.io import atomic_directory, check_safetensors, remove_dead_temporaries, temporary_sibling

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
LAST_LINK = "last"
PRETRAINED_DIR = "pretrained_model"
TRAINING_STATE_DIR = "training_state"
STEP_FILENAME = "training_step.json"
LEARNER_STATE = "learner_state.safetensors"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"{step:06d}"


def save_checkpoint(run_dir: Path, step: int, policy, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, layout: dict | None = None,
                    rank_rng_states: list[dict[str, torch.Tensor]] = (),
                    rank_learner_states: list[dict[str, torch.Tensor]] = (),
                    full_model: torch.nn.Module | None = None, optimizer_state: dict | None = None) -> Path:
    """Write checkpoint ``step`` atomically and point ``last`` at it. Returns the step directory.

    ``layout`` (``{"world_size", "global_batch"}``), ``rank_rng_states`` and ``rank_learner_states`` (processes
    1, 2, ...) come from a data-parallel run; this process's RNG and learner states are saved as process 0's.
    A sharded run (:mod:`.sharding`) passes the gathered ``full_model`` to save instead of ``policy``, and the
    gathered ``optimizer_state`` in the single-process layout."""
    final = checkpoint_dir(run_dir, step)
    with atomic_directory(final) as tmp:
        (full_model if full_model is not None else policy).save_pretrained(tmp / PRETRAINED_DIR)
        state_dir = tmp / TRAINING_STATE_DIR
        state_dir.mkdir(parents=True)
        save_optimizer_state(optimizer, state_dir, optim_state_dict=optimizer_state)
        save_scheduler_state(scheduler, state_dir)
        save_rng_state(state_dir)
        for rank, state in enumerate(rank_rng_states, start=1):
            save_file(state, str(state_dir / _rank_file(RNG_STATE, rank)))
        if hasattr(policy, "resume_state"):
            save_file(policy.resume_state(), str(state_dir / LEARNER_STATE))
        for rank, state in enumerate(rank_learner_states, start=1):
            save_file(state, str(state_dir / _rank_file(LEARNER_STATE, rank)))
        (state_dir / STEP_FILENAME).write_text(json.dumps({"step": step, **({"layout": layout} if layout else {})}))
    _point_last_at(final)
    return final


def _point_last_at(target: Path) -> None:
    link = target.parent / LAST_LINK
    tmp_link = temporary_sibling(link)  # a killed writer's leftover link is removed by the next atomic write here
    tmp_link.symlink_to(target.name)
    os.replace(tmp_link, link)


def remove_checkpoint_temporaries(run_dir: Path) -> None:
    """Delete what killed runs left half-written under ``<run>/checkpoints`` (never a complete checkpoint)."""
    remove_dead_temporaries(Path(run_dir) / CHECKPOINTS_DIR)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    link = Path(run_dir) / CHECKPOINTS_DIR / LAST_LINK
    return link.resolve() if link.exists() else None


def check_training_state(checkpoint: Path) -> str:
    """Refuse a checkpoint whose training state is missing or truncated, naming the file; returns the hint used.

    LeRobot's loaders report a truncated safetensors file without its name, so every state file is checked first
    (headers only: cheap). Called before a resumed run writes anything, and again by :func:`load_training_state`.
    """
    state_dir = Path(checkpoint) / TRAINING_STATE_DIR
    hint = (f"it cannot be resumed: train under another run_name, or delete {Path(checkpoint).parent} to start "
            "this run afresh")
    if not (state_dir / STEP_FILENAME).is_file():
        raise MissingInputError(f"{checkpoint} has no {TRAINING_STATE_DIR}/{STEP_FILENAME}; {hint}")
    for name in (OPTIMIZER_STATE, RNG_STATE):
        check_safetensors(state_dir / name, hint)
    return hint


def _rank_file(name: str, rank: int) -> str:
    """Process ``rank``'s copy of a per-process state file (process 0's is ``name`` itself)."""
    return name.replace(".safetensors", f"_rank{rank}.safetensors")


def read_run_layout(checkpoint: Path) -> dict | None:
    """The processes and global batch a checkpoint was trained with; None for a checkpoint from before they were
    recorded."""
    path = Path(checkpoint) / TRAINING_STATE_DIR / STEP_FILENAME
    try:
        return json.loads(path.read_text()).get("layout")
    except (OSError, ValueError):
        return None


def load_training_state(checkpoint: Path, optimizer: torch.optim.Optimizer,
                        scheduler: torch.optim.lr_scheduler.LRScheduler, policy: object | None = None,
                        rank: int = 0, load_optimizer: Callable[[dict], None] | None = None) -> int:
    """Restore optimizer, scheduler and RNG state (and ``policy``'s resume state, when it has one) in place;
    returns the step the checkpoint was taken at. Process ``rank`` takes its own saved RNG state, or process 0's
    when the checkpoint has none for it (a run resumed with more processes). ``load_optimizer`` takes the saved
    optimizer state as a dict instead of ``optimizer.load_state_dict`` (a sharded optimizer: :mod:`.sharding`)."""
    state_dir = Path(checkpoint) / TRAINING_STATE_DIR
    hint = check_training_state(checkpoint)
    try:
        if load_optimizer is not None:
            load_optimizer(load_optimizer_state_dict(state_dir))
        else:
            load_optimizer_state(optimizer, state_dir)
        load_scheduler_state(scheduler, state_dir)
        rank_file = state_dir / _rank_file(RNG_STATE, rank)
        if rank > 0 and rank_file.is_file():
            check_safetensors(rank_file, hint)
            deserialize_rng_state(load_file(str(rank_file)))
        else:
            load_rng_state(state_dir)
        if hasattr(policy, "load_resume_state"):
            learner_state = state_dir / (_rank_file(LEARNER_STATE, rank) if rank else LEARNER_STATE)
            if learner_state.is_file():
                check_safetensors(learner_state, hint)
                policy.load_resume_state(load_file(str(learner_state)))
            else:  # written before the learner's state was saved, or by fewer processes: resumes, not exactly
                logger.warning("%s has no %s; process %d's learner resumes without its state", checkpoint,
                               learner_state.name, rank)
                policy.load_resume_state({})
        return int(json.loads((state_dir / STEP_FILENAME).read_text())["step"])
    except (OSError, ValueError, KeyError) as err:
        raise CorruptFileError(f"the training state in {state_dir} cannot be restored ({err}); {hint}") from err
