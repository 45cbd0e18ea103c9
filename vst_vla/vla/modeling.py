"""The VLA policy: Qwen2.5-VL backbone + action head, with LeRobot's PreTrainedPolicy contract.

``forward(batch)`` → (loss, logs); ``predict_action_chunk(batch)`` → (B, chunk, A) actions in env units;
``select_action(batch)`` → (B, A), queueing ``n_action_steps`` actions between inferences; ``reset()`` at episode
start. Checkpoints are a directory: config.json, model.safetensors, backbone_config.json, processor/ (tokenizer,
image processor), normalization_stats.json and, when known, env.json (how to rebuild the evaluation env). A policy
trained with LoRA (:mod:`vst_vla.vlm.lora`) adds adapter/ (peft's format); its model.safetensors then holds the
policy without the adapters, under the same names as a plain policy's.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from contextlib import nullcontext
from pathlib import Path

import torch
from safetensors.torch import load_model, save_file, save_model
from torch import nn
from transformers import Qwen2_5_VLConfig

from vst_vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE
from vst_vla.errors import CorruptFileError, MissingInputError
from vst_vla.io import atomic_directory, check_safetensors
from vst_vla.precision import AutocastModule
from vst_vla.vla.configuration import VLAConfig
from vst_vla.vla.ensembling import TemporalEnsembler
from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.processor import VLAProcessor
from vst_vla.vla.state import StateInjector
from vst_vla.vlm.backbone import (
    backbone_from_hf_config,
    build_backbone,
    vision_parameter_names,
)
from vst_vla.vlm.lora import ADAPTER_DIR, LoraAdapters, LoraConfig, base_state_dict, is_lora_checkpoint

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.safetensors"
BACKBONE_CONFIG_FILENAME = "backbone_config.json"
ENV_FILENAME = "env.json"
# What to do about a damaged checkpoint file (a cut-short copy or download is the usual cause).
CHECKPOINT_HINT = "copy it again, or export it again from its training run"


class VLAPolicy(AutocastModule):
    """A vision-language-action policy.

    Args:
        config: the policy config (with image_keys / action_dim filled in).
        backbone: a ``Qwen2_5_VLForConditionalGeneration``.
        processor: the matching :class:`VLAProcessor` (prompting, normalization stats).
        env_metadata: optional dict saved as env.json to rebuild the evaluation environment.
        lora: with ``enabled``, fresh LoRA adapters on the backbone; then the backbone is frozen except for them and
            the embedding rows of the tokens this policy adds, while the head and the state projection (new
            modules outside the backbone) train in full.
    """

    name = "vst_vla"

    def __init__(self, config: VLAConfig, backbone: nn.Module, processor: VLAProcessor,
                 env_metadata: dict | None = None, lora: LoraConfig | None = None) -> None:
        super().__init__()
        if not config.image_keys or config.action_dim <= 0:
            raise ValueError(
                "VLAConfig.image_keys and action_dim must be set (the trainer fills them from the dataset)"
            )
        self.config = config
        self.backbone = backbone
        self.processor = processor
        self.env_metadata = env_metadata
        hidden_size = backbone.config.text_config.hidden_size
        base_vocab = len(processor.tokenizer)  # the head and the state injector add their tokens after it
        self.head = config.head.head_class()(config.head, config, processor.tokenizer, hidden_size)
        self.state_injector: StateInjector | None = None
        if config.use_state:
            if config.state_dim <= 0:
                raise ValueError("policy.use_state needs policy.state_dim > 0 (the trainer fills it from the dataset)")
            self.state_injector = StateInjector(config.state_dim, hidden_size, processor.tokenizer)
        self._grow_embeddings_if_needed()
        # Not an nn.Module attribute: the adapters live inside self.backbone; this is peft's handle on them.
        self.lora: LoraAdapters | None = None
        if lora is not None and lora.enabled:
            self.lora = LoraAdapters.build(backbone, lora, range(base_vocab, len(processor.tokenizer)))
        self._attach_state_injector()
        self._action_queue: deque[torch.Tensor] = deque()
        self._ensembler = (TemporalEnsembler(config.temporal_ensemble_coeff, config.chunk_size)
                           if config.temporal_ensemble_coeff is not None else None)

    @classmethod
    def build(cls, config: VLAConfig, stats: dict, env_metadata: dict | None = None,
              lora: LoraConfig | None = None) -> VLAPolicy:
        """A fresh policy: backbone built tiny or loaded from ``config.backbone.pretrained_path``."""
        backbone, hf_processor = build_backbone(config.backbone)
        return cls(config, backbone, VLAProcessor(hf_processor, config, stats), env_metadata, lora)

    def _attach_state_injector(self) -> None:
        if self.state_injector is not None:
            self.state_injector.attach(self.backbone.get_input_embeddings())

    def merge_lora(self) -> VLAPolicy:
        """Fold the adapters into the backbone's weights (in place; nothing to do without adapters); returns self.

        The merged policy is a plain one: it saves in the plain layout and runs without peft's wrappers.
        """
        if self.lora is not None:
            self.backbone = self.lora.merge()
            self.lora = None
            self._attach_state_injector()
        return self

    def _grow_embeddings_if_needed(self) -> None:
        # Real Qwen2.5-VL reserves unused rows (151936 > 151665 tokens), so the action tokens often fit.
        vocab = len(self.processor.tokenizer)
        rows = self.backbone.get_input_embeddings().weight.shape[0]
        if vocab > rows:
            self.backbone.resize_token_embeddings(vocab, mean_resizing=False)
            logger.info("grew the embedding matrix from %d to %d rows for the action tokens", rows, vocab)

    def vision_parameter_names(self) -> set[str]:
        """Parameter names (in this module's namespace) of the vision tower, trained at ``trainer.vision_lr``."""
        return {f"backbone.{name}" for name in vision_parameter_names(self.backbone)}

    def _state_context(self, batch: dict, normalized: bool = False):
        if self.state_injector is None:
            return nullcontext()
        state = batch[OBS_STATE].float()
        if not normalized:
            state = self.processor.normalize_state(state)
        return self.state_injector.feeding(state.to(self.device))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a batch with ``action`` (B, chunk, A) in env units and optional ``action_is_pad``."""
        actions = self._action_chunk(batch)
        return self._loss(batch, self.processor.normalize_actions(actions.float()), state_normalized=False)

    def forward_normalized(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a batch whose ``action`` (B, chunk, A) and ``observation.state`` are already in [-1, 1].

        For callers that normalize outside the policy (the LeRobot plugin, where LeRobot's NormalizerProcessorStep
        owns normalization); this policy's own q01/q99 statistics are not applied.
        """
        return self._loss(batch, self._action_chunk(batch).float(), state_normalized=True)

    def _action_chunk(self, batch: dict) -> torch.Tensor:
        actions = batch[ACTION]
        if actions.ndim == 2:
            actions = actions.unsqueeze(1)
        if actions.shape[-1] != self.config.action_dim or actions.shape[1] != self.config.chunk_size:
            raise ValueError(
                f"batch actions have shape {tuple(actions.shape)}; expected (B, chunk_size={self.config.chunk_size}, "
                f"action_dim={self.config.action_dim})"
            )
        return actions

    def _loss(
        self, batch: dict, normalized: torch.Tensor, state_normalized: bool
    ) -> tuple[torch.Tensor, dict[str, float]]:
        inputs = self.processor.encode(batch, self.head.train_suffixes(normalized)).to(self.device)
        is_pad = _to(batch.get(ACTION_IS_PAD), self.device)
        with self.autocast(), self._state_context(batch, state_normalized):
            loss = self.head.loss(self.backbone, inputs, normalized.to(self.device), is_pad)
        return loss, {"loss": float(loss.detach())}

    @torch.inference_mode()
    def predict_action_chunk(self, batch: dict) -> torch.Tensor:
        """(B, chunk_size, action_dim) float32 actions in env units, inside [q01, q99]; raises UnsafeActionError
        instead of emitting NaN, inf or a wrongly shaped chunk."""
        normalized = self._predict_normalized(batch, state_normalized=False)
        actions = self.processor.unnormalize_actions(normalized.float().cpu())
        if not torch.isfinite(actions).all():
            raise UnsafeActionError("un-normalized actions contain NaN or inf; refusing to act")
        return actions

    @torch.inference_mode()
    def predict_normalized_chunk(self, batch: dict) -> torch.Tensor:
        """(B, chunk_size, action_dim) normalized actions in [-1, 1] from a batch whose state is already normalized.

        The counterpart of :meth:`forward_normalized`: the caller un-normalizes (LeRobot's UnnormalizerProcessorStep).
        Raises UnsafeActionError instead of returning NaN or inf.
        """
        return self._predict_normalized(batch, state_normalized=True)

    def _predict_normalized(self, batch: dict, state_normalized: bool) -> torch.Tensor:
        batch_size = self.processor.check_batch(batch)  # before anything reads the batch
        inputs = self.processor.encode(batch, self.head.inference_suffixes(batch_size)).to(self.device)
        with self.autocast(), self._state_context(batch, state_normalized):
            normalized = self.head.predict(self.backbone, inputs)
        expected = (batch_size, self.config.chunk_size, self.config.action_dim)
        if tuple(normalized.shape) != expected:
            raise UnsafeActionError(f"the action head returned shape {tuple(normalized.shape)}, "
                                    f"expected (B, chunk_size, action_dim) = {expected}; refusing to act")
        if not torch.isfinite(normalized).all():
            raise UnsafeActionError("the action head produced NaN or inf; refusing to act")
        return normalized

    @torch.inference_mode()
    def select_action(self, batch: dict) -> torch.Tensor:
        """(B, action_dim): the next queued action, running inference when the queue is empty.

        With temporal ensembling, inference runs every step and overlapping chunk predictions are averaged.
        """
        if self._ensembler is not None:
            return self._ensembler.update(self.predict_action_chunk(batch))
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()

    def reset(self) -> None:
        """Clear the action queue and ensembling buffer (call at every episode start)."""
        self._action_queue.clear()
        if self._ensembler is not None:
            self._ensembler.reset()

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the checkpoint atomically: into a temp sibling directory, then renamed into place."""
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            (tmp / CONFIG_FILENAME).write_text(json.dumps(self.config.to_dict(), indent=2))
            (tmp / BACKBONE_CONFIG_FILENAME).write_text(self.backbone.config.to_json_string())
            if self.lora is None:
                save_model(self, str(tmp / WEIGHTS_FILENAME))
            else:
                save_file(_without_shared(base_state_dict(self)), str(tmp / WEIGHTS_FILENAME))
                self.lora.save(tmp / ADAPTER_DIR, base=None)  # the base is the policy's own model.safetensors
            self.processor.save(tmp)
            if self.env_metadata is not None:
                (tmp / ENV_FILENAME).write_text(json.dumps(self.env_metadata, indent=2))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> VLAPolicy:
        """Load a checkpoint written by :meth:`save_pretrained` (no network, no pickle, no remote code); a LoRA
        checkpoint's adapters come back trainable (call :meth:`merge_lora` to act without them)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise MissingInputError(f"checkpoint directory {directory} does not exist (expected a pretrained_model "
                                    "directory holding config.json and model.safetensors)")
        for name in (CONFIG_FILENAME, WEIGHTS_FILENAME, BACKBONE_CONFIG_FILENAME):
            if not (directory / name).is_file():
                raise MissingInputError(f"{directory} is not a vst-vla checkpoint: {name} is missing")
        check_safetensors(directory / WEIGHTS_FILENAME, CHECKPOINT_HINT)
        try:
            saved_config = json.loads((directory / CONFIG_FILENAME).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CorruptFileError(f"checkpoint file {directory / CONFIG_FILENAME} is not valid JSON ({err}); "
                                   f"{CHECKPOINT_HINT}") from None
        config = VLAConfig.from_dict(saved_config)
        processor = VLAProcessor.load(directory, config)
        hf_config = Qwen2_5_VLConfig.from_json_file(str(directory / BACKBONE_CONFIG_FILENAME))
        backbone = backbone_from_hf_config(hf_config)
        env_path = directory / ENV_FILENAME
        env_metadata = json.loads(env_path.read_text()) if env_path.is_file() else None
        policy = cls(config, backbone, processor, env_metadata)
        load_model(policy, str(directory / WEIGHTS_FILENAME))
        if is_lora_checkpoint(directory):
            policy.lora = LoraAdapters.load(policy.backbone, directory / ADAPTER_DIR)
            policy._attach_state_injector()
        return policy


def _without_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with each storage once (tied embeddings share one), contiguous: what safetensors can write.

    ``safetensors.torch.load_model`` re-ties the dropped names from the model it loads into.
    """
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key not in seen:
            seen.add(key)
            out[name] = tensor.contiguous()
    return out


def _to(value, device: torch.device):
    return value.to(device) if isinstance(value, torch.Tensor) else value
