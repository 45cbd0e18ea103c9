"""FSDP2 full-shard for the trainer (``trainer.parallelism=fsdp2``): torch's ``fully_shard`` along the backbone's
wrap units, and the full model and optimizer state gathered for what process 0 does alone.

The sharding and the gathering are torch's (``torch.distributed.fsdp.fully_shard``,
``torch.distributed.checkpoint.state_dict``); what is the project's own is where their results go. accelerate's
FSDP2 path prepares model and optimizer together and saves a distributed (DCP) checkpoint; the project's
checkpoints are one ``pretrained_model/`` directory, which any stage loads and a robot deploys, and an optimizer
state in the single-process layout (parameters numbered in the optimizer's order). So a run sharded over N
processes writes what a single process writes, and resumes under any world size and either parallelism.

Process 0 keeps a full, unsharded copy of the model on the CPU (its *full model*): each checkpoint gathers the
weights into it and saves it with the model's own ``save_pretrained``; periodic evaluations and the stage's final
evaluation run on it, since process 0 alone cannot run the sharded model (every forward is a collective).
"""

from __future__ import annotations

import copy
import logging

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

from vst_vla.vlm.backbone import FSDP_WRAP_UNITS

logger = logging.getLogger(__name__)

_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)


class FullShard:
    """``model`` sharded over the processes (every decoder layer and vision block its own unit, the rest in the
    root unit), and, on process 0, its full copy.

    Build it before the optimizer: ``fully_shard`` replaces the parameters by sharded ones, which the optimizer must
    hold. ``model`` is sharded in place and stays the object the loop trains.

    Args:
        model: the trainable object, on its device, with its precision applied.
        is_main: whether this is process 0, which keeps the full copy.
        compute_dtype: the autocast dtype of the run (``trainer.precision``), or None for fp32. With bf16 the
            units are gathered in bf16 (half the traffic and the memory of the unsharded units in flight) while
            the shards, the optimizer's master weights, stay in their own dtype and gradients are reduced in fp32:
            torch's ``MixedPrecisionPolicy``, the usual FSDP2 recipe.
    """

    def __init__(self, model: torch.nn.Module, is_main: bool, compute_dtype: torch.dtype | None = None) -> None:
        self.full = _unsharded_copy(model) if is_main else None
        # A trainable object that runs a part of itself outside its own forward declares that part a unit too
        # (``fsdp_units()``; RL's rollouts call the backbone's generate), or its parameters would stay sharded there.
        # Innermost first: a unit's parameters are those no unit inside it holds.
        extra = {id(m) for m in (model.fsdp_units() if hasattr(model, "fsdp_units") else [])}
        units = [m for m in reversed(list(model.modules()))
                 if (type(m).__name__ in FSDP_WRAP_UNITS or id(m) in extra) and m is not model]
        policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32 if compute_dtype else None)
        for unit in units:
            fully_shard(unit, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        logger.info("FSDP2: %d units sharded (decoder layers, vision blocks%s) and the root; gathered in %s, "
                    "gradients reduced in %s", len(units), ", the parts run outside forward" if extra else "",
                    compute_dtype or "the parameters' dtype", "fp32" if compute_dtype else "the parameters' dtype")

    @staticmethod
    def no_sync(model: torch.nn.Module, skip: bool) -> None:
        """While ``skip``, backward keeps this process's gradients unsharded and unreduced (accumulation)."""
        if isinstance(model, FSDPModule):
            model.set_requires_gradient_sync(not skip)

    @staticmethod
    def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
        """torch's clipping over the sharded gradients; returns the global norm as a plain tensor."""
        norm = torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm

    def gather(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict | None:
        """Every process calls it (a collective). Process 0's full model then holds the current weights; returns
        the optimizer's full state in the single-process layout on process 0 (None elsewhere, or without an
        optimizer)."""
        weights = get_model_state_dict(model, options=_GATHER)
        optimizer_state = (get_optimizer_state_dict(model, optimizer, options=_GATHER)
                           if optimizer is not None else None)
        if self.full is None:
            return None
        # strict: a key the full copy lacks, or one it has that the gathering did not give, is a bug, not a skip.
        self.full.load_state_dict(weights, strict=True)
        return _numbered(optimizer_state, _parameter_names(model, optimizer)) if optimizer_state else None

    @staticmethod
    def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """Shard a full optimizer state in the single-process layout (``state``, read on every process) into
        ``optimizer``."""
        names = _parameter_names(model, optimizer)
        by_name = {"state": {names[int(i)]: s for i, s in state["state"].items()},
                   "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]}
                                    for g in state["param_groups"]]}
        set_optimizer_state_dict(model, optimizer, by_name, options=StateDictOptions(full_state_dict=True))


def _unsharded_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy of ``model`` whose parameters and saved buffers are allocated but not copied (each checkpoint
    fills them); other tensors (e.g. rotary frequencies, which no state dict carries) are copied. Tied parameters
    stay tied: the copy is made with one new tensor per original."""
    memo: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for param in module._parameters.values():
            if param is not None and id(param) not in memo:
                memo[id(param)] = torch.nn.Parameter(torch.empty_like(param, device="cpu"),
                                                     requires_grad=param.requires_grad)
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers_set and id(buffer) not in memo:
                memo[id(buffer)] = torch.empty_like(buffer, device="cpu")
    return copy.deepcopy(model, memo).to("cpu")


def _parameter_names(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The optimizer's parameters' names, in the order a single process's ``optimizer.state_dict()`` numbers them."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _numbered(state: dict, names: list[str]) -> dict:
    """A state keyed by parameter names (torch's full state) renumbered as ``optimizer.state_dict()`` numbers it."""
    index = {n: i for i, n in enumerate(names)}
    return {"state": {index[n]: s for n, s in state["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]]}
