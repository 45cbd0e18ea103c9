"""Numeric precision chosen from the hardware, in one place for every model.

bf16 autocast is a win only where the hardware runs bf16 natively: CUDA devices that report bf16 support, and
CPUs with AVX512-BF16 or AMX tiles (measured there about 3x faster than fp32). On an AVX2-only CPU oneDNN
emulates bf16: a 512x512 matmul ran 200x slower than fp32 and the default VLA training 12x slower. So
``precision="auto"`` (the default everywhere) asks the device, never assumes it; ``"bf16"`` and ``"fp32"``
stay as explicit overrides.

Every model that runs under autocast derives from :class:`AutocastModule`; its ``autocast_dtype`` is set only
through :func:`apply_precision`, which resolves the request, logs the choice and its reason once per process
and returns it so that a run can record it in its summary.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
from torch import nn

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp32")

_logged: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``name`` is ``"bf16"`` (autocast) or ``"fp32"``, ``reason`` says why."""

    name: str
    reason: str
    requested: str = "auto"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or ``None`` for plain fp32."""
        return torch.bfloat16 if self.name == "bf16" else None

    def as_dict(self) -> dict[str, str]:
        """The choice as it goes into a run's summary."""
        return {"precision": self.name, "precision_requested": self.requested, "precision_reason": self.reason}


def cpu_native_bf16() -> tuple[bool, str]:
    """Whether this CPU has native bf16 matmul kernels, and the features that decided it.

    torch reads the CPU's feature flags (cpuinfo): AVX512-BF16 or AMX tiles are native; anything else is
    emulated by oneDNN.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if torch.cpu._is_amx_tile_supported():
        return True, f"CPU has AMX tiles (torch capability {capability})"
    if torch.cpu._is_avx512_bf16_supported():
        return True, f"CPU has AVX512-BF16 (torch capability {capability})"
    return False, f"CPU has no AVX512-BF16 or AMX (torch capability {capability}): bf16 would be emulated"


def cuda_native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether a CUDA device supports bf16 natively (Ampere and later), with its name."""
    name = torch.cuda.get_device_name(device)
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return True, f"CUDA device {name} supports bf16"
    return False, f"CUDA device {name} has no native bf16"


def resolve_precision(requested: str, device: torch.device | str) -> Precision:
    """Turn ``"auto" | "bf16" | "fp32"`` into a concrete :class:`Precision` for ``device``."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    device = torch.device(device)
    if requested != "auto":
        return Precision(requested, f"{requested} requested explicitly", requested)
    if device.type == "cuda":
        native, why = cuda_native_bf16(device)
    elif device.type == "cpu":
        native, why = cpu_native_bf16()
    else:
        native, why = False, f"device type {device.type!r}: fp32 is the safe default"
    return Precision("bf16" if native else "fp32", why, requested)


def apply_precision(model: AutocastModule, requested: str, device: torch.device | str) -> Precision:
    """Resolve ``requested`` for ``device``, set it on ``model`` and log the choice (once per process)."""
    choice = resolve_precision(requested, device)
    model.autocast_dtype = choice.autocast_dtype
    key = (choice.name, choice.requested, str(torch.device(device)))
    if key not in _logged:
        _logged.add(key)
        logger.info("precision %s on %s (requested %s): %s",
                    choice.name, torch.device(device), requested, choice.reason)
    return choice


def autocast_context(device_type: str, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device_type``, or explicitly off when ``dtype`` is ``None``.

    Off is explicit (not a null context) so that a caller's outer autocast, e.g. LeRobot's ``use_amp``, does
    not leak into a model that was set to fp32.
    """
    if dtype is None:
        return torch.autocast(device_type, enabled=False)
    return torch.autocast(device_type, dtype=dtype)


class AutocastModule(nn.Module):
    """A module that runs its forward passes under the precision :func:`apply_precision` set on it."""

    autocast_dtype: torch.dtype | None = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for this module's forward computations."""
        return autocast_context(self.device.type, self.autocast_dtype)
