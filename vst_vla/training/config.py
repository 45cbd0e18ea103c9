"""Trainer configuration: optimisation, schedule, precision, checkpointing and logging."""

from __future__ import annotations

from dataclasses import dataclass, field

from vst_vla.precision import PRECISIONS

WANDB_MODES = ("offline", "online", "disabled")
# How several processes share the model: each a whole copy (DDP), or each a shard (FSDP2; .sharding).
PARALLELISMS = ("ddp", "fsdp2")


@dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases logging; offline by default (runs sync later with ``wandb sync``)."""

    mode: str = "offline"
    project: str = "vst-vla"

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise ValueError(f"trainer.wandb.mode must be one of {WANDB_MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class TrainerConfig:
    """How to optimise.

    ``vision_lr`` is the vision tower's learning rate (VST trains it slower than the language model);
    the schedule is linear warmup then cosine decay to ``min_lr_ratio`` of the peak.

    ``batch_size`` is per process; one optimisation step sees the global batch ``batch_size`` x processes x
    ``grad_accum_steps`` (``accelerate launch`` / ``torchrun`` start the processes; :mod:`.distributed`).
    """

    steps: int = 2000
    batch_size: int = 8
    grad_accum_steps: int = 1
    lr: float = 1e-3
    vision_lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip_norm: float = 1.0
    log_every: int = 25
    save_every: int = 1000
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast only on native-bf16 hardware; see vst_vla.precision
    resume: bool = True
    # Recompute the backbone's activations in the backward pass: less activation memory for about a third more
    # compute (transformers' checkpointing of the decoder layers and vision blocks).
    gradient_checkpointing: bool = False
    # With several processes: ddp (each holds the whole model) or fsdp2 (each holds a shard of the weights,
    # gradients and AdamW state; every decoder layer and vision block is a unit; fp32 master weights, with bf16
    # compute under trainer.precision). One process trains the same either way.
    parallelism: str = "ddp"
    wandb: WandbConfig = field(default_factory=WandbConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum_steps", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "vision_lr"):
            if getattr(self, name) < 0:
                raise ValueError(f"trainer.{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.num_workers < 0:
            raise ValueError("trainer.warmup_steps and trainer.num_workers must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"trainer.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.parallelism not in PARALLELISMS:
            raise ValueError(f"trainer.parallelism must be one of {PARALLELISMS}, got {self.parallelism!r}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ValueError(f"trainer.device must be 'auto', 'cpu' or 'cuda[:i]', got {self.device!r}")
