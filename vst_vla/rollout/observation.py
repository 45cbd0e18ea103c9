"""Turn a gymnasium observation from our envs into the batch a policy's ``select_action`` takes.

This is LeRobot's ``preprocess_observation`` (``lerobot/envs/utils.py``) for the observation layout of
``vst_envs``: ``{"pixels": {camera: uint8 (H, W, 3)}, "agent_pos": float32 (D,)}`` becomes
``{"observation.images.<camera>": float32 (B, 3, H, W) in [0, 1], "observation.state": float32 (B, D),
"task": [instruction] * B}``. The arithmetic is the same as LeRobot's (uint8 -> float32, then ``/ 255``), so a
policy sees bit-identical tensors whichever of the two produced them. Unlike LeRobot we also add the ``task``
strings, because a VLA conditions on the instruction.

Own code rather than a call to ``preprocess_observation``: LeRobot's checks are ``assert`` statements (gone under
``python -O``) where a user needs an error naming the camera, its ``torch.from_numpy`` refuses the flipped,
read-only views MuJoCo renders, and it converts on the CPU before any move to the policy's device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from vst_envs.layout import GYM_AGENT_POS, GYM_PIXELS

from vst_vla.constants import OBS_STATE, TASK, image_key

__all__ = ["gym_obs_to_batch"]


def _as_torch(array: Any) -> torch.Tensor:
    """A CPU tensor sharing memory with ``array`` where torch allows it.

    MuJoCo/robosuite images are often flipped views (negative strides) or read-only, which ``torch.from_numpy``
    refuses or warns about; ``np.require`` copies only in those cases.
    """
    if isinstance(array, torch.Tensor):
        return array
    return torch.from_numpy(np.require(np.asarray(array), requirements=("C", "W")))


def _image_to_tensor(image: Any, camera: str, device: torch.device | str) -> torch.Tensor:
    """uint8 (H, W, 3) or (B, H, W, 3) -> float32 (B, 3, H, W) in [0, 1] on ``device``."""
    img = _as_torch(image)
    if img.ndim == 3:  # a single (non-vectorized) env: add the batch dimension
        img = img.unsqueeze(0)
    if img.ndim != 4 or img.shape[-1] != 3:
        raise ValueError(f"camera {camera!r}: expected a channel-last RGB image (H, W, 3), got {tuple(img.shape)}")
    if img.dtype != torch.uint8:
        raise TypeError(f"camera {camera!r}: expected uint8 pixels, got {img.dtype}")
    # Move the uint8 image before converting: a quarter of the bytes of the float32 one.
    img = img.to(device, non_blocking=True)
    img = img.permute(0, 3, 1, 2).contiguous().to(torch.float32)
    return img.div_(255)


def _state_to_tensor(state: Any, device: torch.device | str) -> torch.Tensor:
    """(D,) or (B, D) numbers -> float32 (B, D) on ``device``."""
    tensor = _as_torch(state).to(device=device, dtype=torch.float32)
    if tensor.ndim == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 2:
        raise ValueError(f"{GYM_AGENT_POS!r}: expected shape (D,) or (B, D), got {tuple(tensor.shape)}")
    return tensor


def gym_obs_to_batch(
    obs: Mapping[str, Any], task: str | Sequence[str], device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Convert an env observation to a policy batch.

    Args:
        obs: ``{"pixels": {camera: uint8 (H, W, 3)}, "agent_pos": (D,)}`` from one env, or the same with a leading
            batch dimension B from a vector env.
        task: the language instruction; one string (repeated for every batch element) or one per element.
        device: where the tensors go (the policy's device).

    Returns:
        ``{"observation.images.<camera>": float32 (B, 3, H, W) in [0, 1], "observation.state": float32 (B, D),
        "task": list of B strings}``.

    Raises:
        KeyError: ``obs`` lacks ``pixels`` or ``agent_pos``.
        TypeError / ValueError: an image is not uint8 channel-last RGB, or the batch sizes disagree.
    """
    for key in (GYM_PIXELS, GYM_AGENT_POS):
        if key not in obs:
            raise KeyError(f"observation has no {key!r} entry (keys: {sorted(obs)})")
    pixels = obs[GYM_PIXELS]
    if not isinstance(pixels, Mapping) or not pixels:
        raise TypeError(f"{GYM_PIXELS!r} must be a non-empty dict camera -> image, got {type(pixels).__name__}")

    batch: dict[str, Any] = {image_key(camera): _image_to_tensor(img, camera, device) for camera, img in pixels.items()}
    batch[OBS_STATE] = _state_to_tensor(obs[GYM_AGENT_POS], device)

    batch_size = batch[OBS_STATE].shape[0]
    for key, value in batch.items():
        if value.shape[0] != batch_size:
            raise ValueError(f"{key!r} has batch size {value.shape[0]}, but {OBS_STATE!r} has {batch_size}")
    tasks = [task] * batch_size if isinstance(task, str) else list(task)
    if len(tasks) != batch_size:
        raise ValueError(f"got {len(tasks)} task strings for a batch of {batch_size}")
    batch[TASK] = tasks
    return batch
