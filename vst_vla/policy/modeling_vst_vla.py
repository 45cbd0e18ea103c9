"""The VLA policy: Qwen2.5-VL backbone + action head + state projection, a LeRobot ``PreTrainedPolicy``.

It acts on batches its pre-processor made (``processor_vst_vla``: state and action targets normalized to
[-1, 1], ``task`` holding the VST prompt) and returns normalized actions, which its post-processor un-normalizes:
the module never sees statistics. ``forward(batch)`` → (loss, logs); ``predict_action_chunk(batch)`` →
(B, chunk, A); ``select_action(batch)`` → (B, A) from a queue of ``n_action_steps`` actions (or ACT's temporal
ensembler); ``reset()`` at episode start.

A checkpoint is LeRobot's: ``config.json`` (with its ``type``) and ``model.safetensors``, plus the VLM's
architecture (``backbone_config.json``) and HF processor (``processor/``), so it rebuilds offline without the
original ``backbone.pretrained_path``. Whoever trains or exports it saves the pipelines beside
(:class:`vst_vla.policy.processed.ProcessedPolicy`, ``lerobot-train``). A policy trained with LoRA
(:mod:`vst_vla.vlm.lora`) adds ``adapter/`` (peft's format); its model.safetensors then holds the policy without
the adapters, under the same names as a plain policy's.
"""

from __future__ import annotations

import logging
from collections import deque
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Unpack

import torch
from lerobot.policies.act.modeling_act import ACTTemporalEnsembler
from lerobot.policies.pretrained import ActionSelectKwargs, PreTrainedPolicy
from safetensors.torch import save_file
from torch import Tensor, nn
from transformers import Qwen2_5_VLConfig

from vst_vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE
from vst_vla.errors import MissingInputError
from vst_vla.io import check_safetensors
from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.precision import AutocastModule, apply_precision
from vst_vla.vla.encoding import VLAInputEncoder, load_hf_processor
from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.state import StateInjector
from vst_vla.vlm.backbone import (
    FSDP_WRAP_UNITS,
    backbone_from_hf_config,
    build_backbone,
    cast_parameters,
    vision_parameter_names,
)
from vst_vla.vlm.lora import ADAPTER_DIR, LoraAdapters, LoraConfig, base_state_dict, is_lora_checkpoint

logger = logging.getLogger(__name__)

WEIGHTS_FILENAME = "model.safetensors"
BACKBONE_CONFIG_FILENAME = "backbone_config.json"
# What to do about a damaged checkpoint file (a cut-short copy or download is the usual cause).
CHECKPOINT_HINT = "copy it again, or export it again from its training run"


class VSTVLAPolicy(PreTrainedPolicy, AutocastModule):
    """Qwen2.5-VL + action head, trained and run on pre-processed (normalized, prompted) batches.

    Args:
        config: the policy config; ``input_features`` / ``output_features`` must be set (``make_policy`` and the
            VLA stage fill them from the dataset).
        dataset_stats: accepted for LeRobot's ``make_policy`` and unused: the processor pipelines normalize.
        checkpoint_dir: a directory holding ``backbone_config.json`` and ``processor/`` (set by
            :meth:`from_pretrained`); the VLM is then rebuilt from there instead of from ``config.backbone``.
        lora: with ``enabled``, fresh LoRA adapters on the backbone; then the backbone is frozen except for them and
            the embedding rows of the tokens this policy adds, while the head and the state projection (new
            modules outside the backbone) train in full.
    """

    config_class = VSTVLAConfig
    name = "vst_vla"
    # FSDP's wrap units: LeRobot's FSDP launch (`accelerate launch --use_fsdp ... lerobot-train
    # --policy.type=vst_vla`) then shards each decoder layer and vision block on its own and gathers one at a time;
    # the head and the state projection stay in the root unit.
    _no_split_modules = list(FSDP_WRAP_UNITS)

    def __init__(self, config: VSTVLAConfig, dataset_stats: dict | None = None,
                 checkpoint_dir: str | Path | None = None, lora: LoraConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config)
        config.validate_features()
        self.config = config
        backbone, hf_processor = _build_vlm(config, checkpoint_dir)
        self.backbone = backbone
        self.encoder = VLAInputEncoder(hf_processor, config)
        hidden_size = backbone.config.text_config.hidden_size
        base_vocab = len(hf_processor.tokenizer)  # the head and the state injector add their tokens after it
        self.head = config.head.head_class()(config.head, config, hf_processor.tokenizer, hidden_size)
        self.state_injector = (StateInjector(config.state_dim, hidden_size, hf_processor.tokenizer)
                               if config.use_state else None)
        self._grow_embeddings_if_needed()
        # Not an nn.Module attribute: the adapters live inside self.backbone; this is peft's handle on them.
        self.lora: LoraAdapters | None = None
        if lora is not None and lora.enabled:
            self.lora = LoraAdapters.build(backbone, lora, range(base_vocab, len(hf_processor.tokenizer)))
        self._attach_state_injector()
        # LeRobot's `use_amp` (lerobot-train / lerobot-eval autocast to the device's default dtype) is an explicit
        # request for bf16; otherwise the hardware decides (config.precision, "auto" by default).
        apply_precision(self, "bf16" if config.use_amp else config.precision, config.device or "cpu")
        self.reset()

    # ---- construction helpers ----------------------------------------------------------------------------------

    def _attach_state_injector(self) -> None:
        if self.state_injector is not None:
            self.state_injector.attach(self.backbone.get_input_embeddings())

    def _grow_embeddings_if_needed(self) -> None:
        # Real Qwen2.5-VL reserves unused rows (151936 > 151665 tokens), so the action tokens often fit.
        vocab = len(self.encoder.tokenizer)
        rows = self.backbone.get_input_embeddings().weight.shape[0]
        if vocab > rows:
            self.backbone.resize_token_embeddings(vocab, mean_resizing=False)
            logger.info("grew the embedding matrix from %d to %d rows for the action tokens", rows, vocab)

    def merge_lora(self) -> VSTVLAPolicy:
        """Fold the adapters into the backbone's weights (in place; nothing to do without adapters); returns self.

        The merged policy is a plain one: it saves in the plain layout and runs without peft's wrappers.
        """
        if self.lora is not None:
            self.backbone = self.lora.merge()
            self.lora = None
            self._attach_state_injector()
        return self

    def vision_parameter_names(self) -> set[str]:
        """Parameter names (in this module's namespace) of the vision tower, trained at a lower learning rate."""
        return {f"backbone.{name}" for name in vision_parameter_names(self.backbone)}

    # ---- LeRobot's PreTrainedPolicy contract -------------------------------------------------------------------

    def reset(self) -> None:
        """Clear the action queue and the ensembler (call at every episode start)."""
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)
        self._ensembler = (ACTTemporalEnsembler(self.config.temporal_ensemble_coeff, self.config.chunk_size)
                           if self.config.temporal_ensemble_coeff is not None else None)

    def get_optim_params(self) -> list[dict[str, Any]]:
        """lerobot-train's AdamW groups: the vision tower at ``optimizer_vision_lr``, the rest at the preset's lr."""
        vision_names = self.vision_parameter_names()
        vision, rest = [], []
        for name, param in self.named_parameters():
            if param.requires_grad:
                (vision if name in vision_names else rest).append(param)
        groups: list[dict[str, Any]] = [{"params": rest}]
        if vision:
            groups.append({"params": vision, "lr": self.config.optimizer_vision_lr})
        return groups

    def forward(self, batch: dict[str, Any], reduction: str = "mean") -> tuple[Tensor, dict[str, float]]:
        """Training loss on a pre-processed batch: ``action`` (B, chunk, A) and the state already in [-1, 1]."""
        if reduction != "mean":
            raise NotImplementedError("vst_vla computes a batch-mean loss only (no per-sample weighting)")
        actions = batch.get(ACTION)
        if not isinstance(actions, Tensor):
            raise KeyError(f"the training batch has no '{ACTION}' tensor")
        if actions.ndim == 2:
            actions = actions.unsqueeze(1)
        expected = (self.config.chunk_size, self.config.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(
                f"'{ACTION}' has shape {tuple(actions.shape)}; expected (B, chunk_size, action_dim) = (B, *{expected}) "
                "— is the dataset's action window the policy's action_delta_indices?"
            )
        if not torch.isfinite(actions).all():
            raise ValueError(f"'{ACTION}' contains NaN or inf")
        actions = actions.float().to(self.device)
        inputs = self.encoder.encode(batch, self.head.train_suffixes(actions)).to(self.device)
        is_pad = batch.get(ACTION_IS_PAD)
        is_pad = is_pad.to(self.device) if isinstance(is_pad, Tensor) else None
        with self.autocast(), self._state_context(batch):
            loss = self.head.loss(self.backbone, inputs, actions, is_pad)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Any], **kwargs: Unpack[ActionSelectKwargs]) -> Tensor:
        """(B, chunk_size, action_dim) float32 normalized actions in [-1, 1]; the post-processor un-normalizes.

        Raises a KeyError for a missing camera, InvalidObservationError (a ValueError) for a wrong-sized or
        non-finite observation, and UnsafeActionError rather than returning NaN, inf or a wrongly shaped chunk.
        """
        if kwargs.get("noise") is not None:
            raise NotImplementedError("vst_vla draws its own flow-matching noise; seed torch for reproducibility")
        self.eval()  # acting never runs dropout (LeRobot's policies switch here too)
        batch_size = self.encoder.check_batch(batch)  # before anything reads the batch
        inputs = self.encoder.encode(batch, self.head.inference_suffixes(batch_size)).to(self.device)
        with self.autocast(), self._state_context(batch):
            normalized = self.head.predict(self.backbone, inputs)
        expected = (batch_size, self.config.chunk_size, self.config.action_dim)
        if tuple(normalized.shape) != expected:
            raise UnsafeActionError(f"the action head returned shape {tuple(normalized.shape)}, "
                                    f"expected (B, chunk_size, action_dim) = {expected}; refusing to act")
        if not torch.isfinite(normalized).all():
            raise UnsafeActionError("the action head produced NaN or inf; refusing to act")
        return normalized.float().clamp(-1.0, 1.0)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Any], **kwargs: Unpack[ActionSelectKwargs]) -> Tensor:
        """(B, action_dim) normalized action for now: one inference every ``n_action_steps`` steps.

        With ``temporal_ensemble_coeff`` set, inference runs every step and ACT's ensembler averages the
        overlapping chunks (in normalized space, which commutes with the post-processor's affine un-normalization).
        """
        if self._ensembler is not None:
            return self._ensembler.update(self.predict_action_chunk(batch, **kwargs))
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch, **kwargs)
            self._action_queue.extend(chunk[:, : self.config.n_action_steps].transpose(0, 1))
        return self._action_queue.popleft()

    def _state_context(self, batch: dict[str, Any]):
        if self.state_injector is None:
            return nullcontext()
        return self.state_injector.feeding(batch[OBS_STATE].float().to(self.device))

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path, state_dict: dict[str, Tensor] | None = None) -> None:
        """LeRobot's config.json + model.safetensors, plus the VLM architecture and HF processor for offline reloads
        (and, with LoRA, the base weights without the adapters plus ``adapter/``)."""
        if self.lora is None:
            super()._save_pretrained(save_directory, state_dict=state_dict)
        else:
            self.config._save_pretrained(save_directory)
            save_file(_without_shared(base_state_dict(self)), str(save_directory / WEIGHTS_FILENAME))
            self.lora.save(save_directory / ADAPTER_DIR, base=None)  # the base is the policy's own model.safetensors
        (save_directory / BACKBONE_CONFIG_FILENAME).write_text(self.backbone.config.to_json_string())
        self.encoder.save(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | Path, **kwargs: Any) -> VSTVLAPolicy:
        """Load a checkpoint written by :meth:`save_pretrained`, offline; a LoRA checkpoint's adapters come back
        trainable (call :meth:`merge_lora` to act without them). Refuses a missing or truncated file by name."""
        path = Path(pretrained_name_or_path)
        if path.is_dir():
            check_checkpoint_files(path)
            kwargs.setdefault("checkpoint_dir", path)
        kwargs.setdefault("strict", True)
        policy = super().from_pretrained(pretrained_name_or_path, **kwargs)
        if path.is_dir() and is_lora_checkpoint(path):
            policy.lora = LoraAdapters.load(policy.backbone, path / ADAPTER_DIR)
            policy._attach_state_injector()
        return policy


def check_checkpoint_files(directory: Path) -> None:
    """Refuse a directory that lacks a policy file, or whose weights file is cut short, naming the file."""
    for name in ("config.json", WEIGHTS_FILENAME, BACKBONE_CONFIG_FILENAME):
        if not (directory / name).is_file():
            raise MissingInputError(f"{directory} is not a vst-vla checkpoint: {name} is missing")
    check_safetensors(directory / WEIGHTS_FILENAME, CHECKPOINT_HINT)


def _build_vlm(config: VSTVLAConfig, checkpoint_dir: str | Path | None) -> tuple[nn.Module, Any]:
    """The Qwen2.5-VL and its processor: empty weights from a checkpoint's saved files, or from the config."""
    if checkpoint_dir is None:  # built on the policy's device: a 3B backbone need not pass through host memory
        return build_backbone(config.backbone, device=config.device)
    directory = Path(checkpoint_dir)
    hf_config = Qwen2_5_VLConfig.from_json_file(str(directory / BACKBONE_CONFIG_FILENAME))
    backbone = backbone_from_hf_config(hf_config)
    cast_parameters(backbone, config.backbone.dtype)  # the load then keeps the dtype the policy trained in
    return backbone, load_hf_processor(directory)


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
