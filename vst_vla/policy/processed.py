"""A policy between its pre- and post-processor: what acts in env units and what the VLA stage trains.

LeRobot's tools hold the three pieces apart (``make_policy`` + ``make_pre_post_processors``); the rollouts, the
evaluation and the VLA stage of this project hold them together, as :class:`ProcessedPolicy`:
``select_action(observation)`` → pre-processor → :meth:`VSTVLAPolicy.select_action` → post-processor → an action
in env units. It adds no computation of its own; it is the same LeRobot checkpoint, loaded once.

A checkpoint directory (``pretrained_model``) holds: ``config.json`` (``type: vst_vla``), ``model.safetensors``,
``backbone_config.json``, ``processor/``, ``policy_preprocessor.json`` / ``policy_postprocessor.json`` with their
statistics, and ``env.json`` (how to rebuild the simulated env, when known). ``lerobot-eval``,
``lerobot-rollout`` and ``lerobot-train --policy.path`` read it as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from lerobot.processor import DeviceProcessorStep, PolicyProcessorPipeline
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)
from lerobot.utils.constants import POLICY_POSTPROCESSOR_DEFAULT_NAME, POLICY_PREPROCESSOR_DEFAULT_NAME
from torch import nn

from vst_vla.errors import CorruptFileError, MissingInputError
from vst_vla.io import atomic_directory
from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy, check_checkpoint_files
from vst_vla.policy.processor_vst_vla import check_pipeline_stats, make_vst_vla_pre_post_processors
from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError
from vst_vla.vlm.lora import LoraConfig

ENV_FILENAME = "env.json"
PREPROCESSOR_FILE = f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json"
POSTPROCESSOR_FILE = f"{POLICY_POSTPROCESSOR_DEFAULT_NAME}.json"
TRAIN_CONFIG_FILE = "train_config.json"  # what lerobot-train writes beside its policy


class ProcessedPolicy(nn.Module):
    """A :class:`VSTVLAPolicy` with its processor pipelines (and, when known, its env's description).

    An ``nn.Module`` whose only submodule is the policy, so the trainer optimises, moves and checkpoints it as
    one: ``forward(batch)`` pre-processes a raw training batch (actions and state in env units) and returns the
    policy's (loss, logs).
    """

    def __init__(self, policy: VSTVLAPolicy, preprocessor: PolicyProcessorPipeline,
                 postprocessor: PolicyProcessorPipeline, env_metadata: dict | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.env_metadata = env_metadata

    @classmethod
    def build(cls, config: VSTVLAConfig, dataset_stats: dict, env_metadata: dict | None = None,
              lora: LoraConfig | None = None) -> ProcessedPolicy:
        """A fresh policy (backbone built tiny or loaded from ``config.backbone.pretrained_path``) with pipelines
        normalizing by ``dataset_stats`` (``{feature: {"q01": ..., "q99": ...}}``, checked here)."""
        preprocessor, postprocessor = make_vst_vla_pre_post_processors(config, dataset_stats)
        return cls(VSTVLAPolicy(config, lora=lora), preprocessor, postprocessor, env_metadata)

    # ---- acting and training -----------------------------------------------------------------------------------

    @property
    def config(self) -> VSTVLAConfig:
        return self.policy.config

    @property
    def device(self) -> torch.device:
        return self.policy.device

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return self.policy.autocast_dtype

    @autocast_dtype.setter
    def autocast_dtype(self, dtype: torch.dtype | None) -> None:
        # vst_vla.precision.apply_precision sets it on whatever the trainer holds; the policy is what autocasts.
        self.policy.autocast_dtype = dtype

    def vision_parameter_names(self) -> set[str]:
        return {f"policy.{name}" for name in self.policy.vision_parameter_names()}

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the backbone's activations in the backward pass (``trainer.gradient_checkpointing``)."""
        from vst_vla.vlm.backbone import enable_gradient_checkpointing

        enable_gradient_checkpointing(self.policy.backbone)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a raw batch (``action`` (B, chunk, A) and the state in env units, ``task`` strings)."""
        return self.policy.forward(self.preprocessor(batch))

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, chunk_size, action_dim) float32 actions in env units, inside [q01, q99] and the action bounds;
        raises UnsafeActionError instead of emitting NaN, inf or a wrongly shaped chunk."""
        return self._postprocess(self.policy.predict_action_chunk(self.preprocessor(batch)))

    @torch.no_grad()
    def select_action(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, action_dim): the policy's next action for this observation, in env units."""
        return self._postprocess(self.policy.select_action(self.preprocessor(batch)))

    def _postprocess(self, normalized: torch.Tensor) -> torch.Tensor:
        actions = self.postprocessor(normalized)
        if not torch.isfinite(actions).all():  # the post-processor refuses first; this guards its replacement
            raise UnsafeActionError("the un-normalized actions contain NaN or inf; refusing to act")
        return actions.float()

    def reset(self) -> None:
        """Clear the action queue and ensembler (call at every episode start)."""
        self.policy.reset()

    def merge_lora(self) -> ProcessedPolicy:
        self.policy.merge_lora()
        return self

    def to(self, *args: Any, **kwargs: Any) -> ProcessedPolicy:
        """Move the policy and point the pre-processor's device step at its device."""
        module = super().to(*args, **kwargs)
        device = str(self.policy.device)
        self.policy.config.device = device
        steps = self.preprocessor.steps
        for index, step in enumerate(steps):
            if isinstance(step, DeviceProcessorStep) and step.device != device:
                steps[index] = DeviceProcessorStep(device=device, float_dtype=step.float_dtype)
        return module

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the LeRobot checkpoint atomically: into a temp sibling directory, then renamed into place."""
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            self.policy.save_pretrained(tmp)
            self.preprocessor.save_pretrained(tmp)
            self.postprocessor.save_pretrained(tmp)
            if self.env_metadata is not None:
                (tmp / ENV_FILENAME).write_text(json.dumps(self.env_metadata, indent=2))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | None = None) -> ProcessedPolicy:
        """Load a checkpoint (no network, no pickle, no remote code); a LoRA checkpoint's adapters come back
        trainable (:meth:`merge_lora` folds them in). Refuses a missing directory, file or statistics by name."""
        directory = Path(directory)
        if not directory.is_dir():
            raise MissingInputError(f"checkpoint directory {directory} does not exist (expected a pretrained_model "
                                    "directory holding config.json and model.safetensors)")
        check_checkpoint_files(directory)  # the policy's files first: a bare directory is not a checkpoint at all
        for name in (PREPROCESSOR_FILE, POSTPROCESSOR_FILE):
            if not (directory / name).is_file():
                raise MissingStatsError(f"{directory / name} not found: the checkpoint has no processor pipelines "
                                        "(normalization statistics), so the policy refuses to act. Save it again "
                                        "from its training run.")
        try:
            config = VSTVLAConfig.from_pretrained(directory)
        except (OSError, ValueError, TypeError) as err:
            raise CorruptFileError(f"checkpoint file {directory / 'config.json'} cannot be read as a vst_vla "
                                   f"config ({err}); copy it again, or export it again from its training run") from None
        if not isinstance(config, VSTVLAConfig):
            raise MissingInputError(f"{directory} holds a {config.type!r} policy, not a vst_vla one")
        if device is not None:
            config.device = device
        policy = VSTVLAPolicy.from_pretrained(directory, config=config)
        device_override = {"device_processor": {"device": str(config.device)}}
        preprocessor = PolicyProcessorPipeline.from_pretrained(
            directory, config_filename=PREPROCESSOR_FILE, overrides=device_override,
            to_transition=batch_to_transition, to_output=transition_to_batch)
        postprocessor = PolicyProcessorPipeline.from_pretrained(
            directory, config_filename=POSTPROCESSOR_FILE, to_transition=policy_action_to_transition,
            to_output=transition_to_policy_action)
        check_pipeline_stats(config, [preprocessor, postprocessor], f"the statistics saved in {directory}")
        return cls(policy, preprocessor, postprocessor, _env_metadata(directory))


def _env_metadata(directory: Path) -> dict | None:
    """The checkpoint's ``env.json``; for a ``lerobot-train`` checkpoint (none there), the env its training
    dataset records when ``vst_vla.collect`` wrote it (``train_config.json`` names the dataset)."""
    env_path = directory / ENV_FILENAME
    if env_path.is_file():
        return json.loads(env_path.read_text())
    train_config = directory / TRAIN_CONFIG_FILE
    if not train_config.is_file():
        return None
    from vst_vla.data.dataset import load_env_metadata

    dataset_root = (json.loads(train_config.read_text()).get("dataset") or {}).get("root")
    return load_env_metadata(dataset_root) if dataset_root else None


def load_policy(path: str | Path, device: str | None = None) -> ProcessedPolicy:
    """The policy stored at ``path`` (a ``pretrained_model`` directory), ready to act: a LoRA checkpoint's
    adapters are merged into its weights."""
    return ProcessedPolicy.from_pretrained(path, device).merge_lora()
