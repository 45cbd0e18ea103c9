"""Data parallelism through accelerate: one process per device, launched by ``accelerate launch`` or ``torchrun``.

The trainer and the stages see one :class:`Processes` object. Started in a single process it is a no-op layer
(the model is not wrapped, reductions return their input), so the single-process run is the same computation as
before. Launched with several processes, accelerate sets up the process group (gloo on CPUs, NCCL on GPUs) and
wraps the model in DDP; this module adds only what the project's loop needs around it: reductions for logging,
main-process-only work, and the per-process RNG states a checkpoint keeps for an exact resume.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class Processes:
    """This process's place among the data-parallel processes, and accelerate's tools for them.

    Args:
        device: the device the run asked for (``trainer.device`` resolved); a CPU run uses gloo between processes.
    """

    def __init__(self, device: torch.device) -> None:
        from accelerate import Accelerator

        # Mixed precision stays the project's (vst_vla.precision chooses autocast per device); accelerate's own
        # would add a second policy. Device placement is ours too (the trainer moves the policy).
        self.accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision="no", device_placement=False)
        self._requested_device = device
        kind = self.accelerator.distributed_type.value
        if kind not in ("NO", "MULTI_CPU", "MULTI_GPU"):
            from vst_vla.errors import ConfigError

            raise ConfigError(f"the launch asked accelerate for {kind} (an accelerate config with FSDP or "
                              "DeepSpeed), but the trainer shards the model itself: launch with "
                              "launch/accelerate/ddp_1node.yaml or torchrun, and add trainer.parallelism=fsdp2 "
                              "for FSDP2")

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def device(self) -> torch.device:
        """This process's device: the one the run asked for when it is alone; among several, its own GPU
        (``cuda:<local rank>``) or the CPU (plain ``cpu``: accelerate says ``cpu:0`` for several CPU processes, a
        name LeRobot's device checks refuse)."""
        if self.world_size == 1:
            return self._requested_device
        device = self.accelerator.device
        return torch.device("cpu") if device.type == "cpu" else device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around ``model`` when there are several processes (rank 0's weights broadcast to all); else
        ``model`` itself."""
        return self.accelerator.prepare_model(model, device_placement=False)

    def no_sync(self, model: torch.nn.Module, skip: bool) -> contextlib.AbstractContextManager:
        """While ``skip``, backward passes accumulate gradients locally (no all-reduce): the first micro-batches
        of an accumulated step."""
        return self.accelerator.no_sync(model) if skip else contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def clip_grad_norm(self, parameters, max_norm: float) -> torch.Tensor:
        return self.accelerator.clip_grad_norm_(parameters, max_norm)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over the processes (for logging; every process must call it)."""
        if self.world_size == 1:
            return values
        return self.accelerator.reduce(values.to(self.device), reduction="mean").cpu()

    def total(self, value: float) -> float:
        """The sum of ``value`` over the processes (every process must call it)."""
        if self.world_size == 1:
            return value
        return float(self.accelerator.reduce(torch.tensor([value], dtype=torch.float64, device=self.device),
                                             reduction="sum"))

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any (a refusal that all processes must take)."""
        if self.world_size == 1:
            return flag
        return bool(self.accelerator.reduce(torch.tensor([float(flag)], device=self.device), reduction="sum") > 0)

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order (only rank 0's list is used)."""
        if self.world_size == 1:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process runs the block first (e.g. collecting data), the others after it, when its result
        exists."""
        with self.accelerator.main_process_first():
            yield
