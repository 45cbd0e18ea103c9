"""The backbone's inputs: a pre-processed batch → Qwen2.5-VL tensors (chat template, image processing, tokens).

In: a batch as the policy's pre-processor leaves it: camera images float [0, 1] (B, 3, H, W), ``task`` holding
the VST prompt text (the pre-processor's prompt step formats it), the normalized state. Out: the chat-formatted
prompt (images, the ``<|state|>`` placeholder, the prompt text) as Qwen2.5-VL processor tensors (resize,
patchify, tokenize; left padding so prompts end where generation starts).

Why in the model and not a processor step: LeRobot's pipelines save each step's JSON config and tensors, not a
tokenizer's files; its own ``TokenizerProcessorStep`` reloads a tokenizer by Hub name, which this project's
offline tokenizer does not have. The tokenizer and image processor therefore travel with the model, in the
checkpoint's ``processor/`` directory, as SmolVLA keeps its image resizing in its model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import BatchFeature, Qwen2_5_VLProcessor

from vst_vla.constants import OBS_STATE, TASK
from vst_vla.vla.errors import InvalidObservationError
from vst_vla.vla.state import STATE_TOKEN

if TYPE_CHECKING:
    from vst_vla.policy.configuration_vst_vla import VSTVLAConfig

PROCESSOR_SUBDIR = "processor"


class VLAInputEncoder:
    """Chat prompt, image processing and tokenization of a batch for one VLA (no statistics: the pre-processor
    normalized the state already).

    Args:
        hf_processor: the backbone's ``Qwen2_5_VLProcessor`` (tokenizer already holding the action tokens).
        config: the policy config (image keys, state use and size).
    """

    def __init__(self, hf_processor: Qwen2_5_VLProcessor, config: VSTVLAConfig) -> None:
        self.hf_processor = hf_processor
        self.hf_processor.tokenizer.padding_side = "left"
        self.config = config

    @property
    def tokenizer(self):
        return self.hf_processor.tokenizer

    def prompt_text(self, prompt: str) -> str:
        """The chat-formatted prompt around one prompt text, ending at the assistant's turn."""
        content = [{"type": "image"} for _ in self.config.image_keys]
        if self.config.use_state:
            content.append({"type": "text", "text": STATE_TOKEN})
        content.append({"type": "text", "text": prompt})
        return self.hf_processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)

    def encode(self, batch: dict, suffixes: list[str] | None = None) -> BatchFeature:
        """Model inputs for a batch: input_ids/attention_mask (B, L), pixel_values, image_grid_thw, ...

        Args:
            batch: images under ``config.image_keys`` (B, 3, H, W) float in [0, 1] (or uint8), ``task`` the prompt
                texts (one string or B of them).
            suffixes: per-sample text appended after the prompt (training targets), or None for inference.
        """
        self.check_batch(batch)
        tasks = batch[TASK]
        if isinstance(tasks, str):
            tasks = [tasks]
        batch_size = len(tasks)
        texts = [self.prompt_text(t) for t in tasks]
        if suffixes is not None:
            texts = [t + s for t, s in zip(texts, suffixes, strict=True)]
        images = []
        for i in range(batch_size):
            for key in self.config.image_keys:
                images.append(_to_uint8(batch[key][i]))
        return self.hf_processor(images=images, text=texts, padding=True, return_tensors="pt")

    def check_batch(self, batch: dict) -> int:
        """The batch size B of a batch the policy can act on; refuses any other, naming the key, what it holds and
        what was expected.

        The one check of an observation entering the policy: every camera a (B, 3, H, W) tensor of uint8 or
        finite floats, ``task`` one string or B of them, and (with ``use_state``) a finite (B, state_dim) state.
        A NaN image would otherwise become black pixels and a NaN state a NaN embedding, which the token head's
        argmax turns into an ordinary-looking action.
        """
        needed = (*self.config.image_keys, TASK, *((OBS_STATE,) if self.config.use_state else ()))
        missing = [k for k in needed if k not in batch]
        if missing:
            raise KeyError(f"batch is missing {missing}; this policy expects {list(needed)}")
        tasks = batch[TASK]
        if isinstance(tasks, str):
            tasks = [tasks]
        if not isinstance(tasks, (list, tuple)) or not tasks or not all(isinstance(t, str) for t in tasks):
            raise InvalidObservationError(f"{TASK!r} is {tasks!r}; expected an instruction string or a non-empty "
                                          "list of them (one per batch row)")
        batch_size = len(tasks)
        for key in self.config.image_keys:
            image = _checked_tensor(batch[key], key, (batch_size, 3, None, None), "(B, 3, H, W) image", batch_size)
            if image.dtype != torch.uint8 and not image.dtype.is_floating_point:
                raise InvalidObservationError(f"{key!r} has dtype {image.dtype}; expected uint8 pixels or floats in "
                                              "[0, 1]")
            if image.dtype.is_floating_point and not torch.isfinite(image).all():
                raise InvalidObservationError(f"{key!r} contains NaN or inf; refusing to act on it")
        if self.config.use_state:
            state = _checked_tensor(batch[OBS_STATE], OBS_STATE, (batch_size, self.config.state_dim),
                                    f"(B, state_dim={self.config.state_dim}) state", batch_size)
            if state.dtype == torch.bool or state.dtype.is_complex:
                raise InvalidObservationError(f"{OBS_STATE!r} has dtype {state.dtype}; expected real numbers")
            if not torch.isfinite(state).all():
                raise InvalidObservationError(f"{OBS_STATE!r} contains NaN or inf; refusing to act on it")
        return batch_size

    def save(self, directory: Path) -> None:
        """Write the HF processor files (tokenizer, image processor, chat template) into ``directory/processor``."""
        sub = Path(directory) / PROCESSOR_SUBDIR
        if sub.exists():
            shutil.rmtree(sub)
        self.hf_processor.save_pretrained(sub)


def load_hf_processor(directory: Path) -> Qwen2_5_VLProcessor:
    """The HF processor a checkpoint saved with :meth:`VLAInputEncoder.save` (offline)."""
    return Qwen2_5_VLProcessor.from_pretrained(Path(directory) / PROCESSOR_SUBDIR, local_files_only=True)


def _checked_tensor(value: object, key: str, shape: tuple[int | None, ...], what: str, batch_size: int) -> torch.Tensor:
    """``value`` if it is a tensor of ``shape`` (None: any size >= 1 there); else an InvalidObservationError."""
    got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
    if not isinstance(value, torch.Tensor) or value.ndim != len(shape) or any(
        (n < 1) if want is None else (n != want) for n, want in zip(value.shape, shape, strict=True)
    ):
        raise InvalidObservationError(f"{key!r} is {got}; expected a {what} tensor with B={batch_size} (the number "
                                      "of task strings)")
    return value


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) float in [0, 1] or uint8 → uint8, the form the Qwen image processor rescales itself."""
    if image.dtype == torch.uint8:
        return image
    return (image.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
