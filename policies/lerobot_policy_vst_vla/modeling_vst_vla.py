"""LeRobot ``PreTrainedPolicy`` adapter over :class:`vst_vla.vla.modeling.VLAPolicy` (``--policy.type=vst_vla``).

Normalization has exactly one owner: LeRobot's processor pipeline (``processor_vst_vla``). Its
``NormalizerProcessorStep`` (``QUANTILES``) maps state and action to ``2 (x - q01) / (q99 - q01) - 1`` — the
formula of vst_vla's own ``QuantileNormalizer`` — but does not clip, so this adapter clips the normalized state,
action targets and predicted actions to [-1, 1] (what the q01/q99 normalizer does, and what the token head's
bins cover). The inner ``VLAPolicy`` is called through ``forward_normalized`` / ``predict_normalized_chunk``,
which skip its own statistics; it is given inert placeholder statistics only because its processor requires some.

Weights: ``save_pretrained`` writes LeRobot's config.json + model.safetensors, plus the VLM's architecture
(``backbone_config.json``) and HF processor (``processor/``), so ``from_pretrained`` rebuilds the model offline
without the original ``backbone.pretrained_path`` and without loading the pretrained VLM weights twice.
"""

import logging
import shutil
from collections import deque
from pathlib import Path
from typing import Any, Unpack

import torch
from lerobot.policies.pretrained import ActionSelectKwargs, PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE
from torch import Tensor, nn

from vst_vla.constants import TASK
from vst_vla.precision import apply_precision
from vst_vla.vla.configuration import VLAConfig
from vst_vla.vla.ensembling import TemporalEnsembler
from vst_vla.vla.modeling import BACKBONE_CONFIG_FILENAME, VLAPolicy
from vst_vla.vla.processor import PROCESSOR_SUBDIR, VLAProcessor

from .configuration_vst_vla import VSTVLAConfig

logger = logging.getLogger(__name__)


class VSTVLAPolicy(PreTrainedPolicy):
    """Qwen2.5-VL + action head, trained and run by LeRobot's own tools on LeRobot-normalized batches.

    Args:
        config: the policy config; ``input_features`` / ``output_features`` must be set (``make_policy`` does).
        dataset_stats: accepted for LeRobot's ``make_policy`` and unused: the processor pipeline normalizes.
        vlm_checkpoint_dir: a directory holding ``backbone_config.json`` and ``processor/`` (set by
            :meth:`from_pretrained`); the VLM is then rebuilt from there instead of from ``config.backbone``.
    """

    config_class = VSTVLAConfig
    name = "vst_vla"

    def __init__(
        self,
        config: VSTVLAConfig,
        dataset_stats: dict[str, dict[str, Tensor]] | None = None,
        vlm_checkpoint_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config)
        config.validate_features()
        self.config = config
        vla_config = config.to_vla_config()
        backbone, hf_processor = _build_vlm(vla_config, vlm_checkpoint_dir)
        processor = VLAProcessor(hf_processor, vla_config, _inert_stats(vla_config))
        self.model = VLAPolicy(vla_config, backbone, processor)
        # LeRobot's `use_amp` (lerobot-train / lerobot-eval autocast to the device's default dtype) is an explicit
        # request for bf16; otherwise the hardware decides (config.precision, "auto" by default).
        apply_precision(self.model, "bf16" if config.use_amp else config.precision, config.device or "cpu")
        self._ensembler = (
            TemporalEnsembler(config.temporal_ensemble_coeff, config.chunk_size)
            if config.temporal_ensemble_coeff is not None
            else None
        )
        self.reset()

    # ---- LeRobot's PreTrainedPolicy contract -------------------------------------------------------------------

    def reset(self) -> None:
        """Clear the action queue and ensembling buffer (LeRobot calls this at every episode start)."""
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)
        if self._ensembler is not None:
            self._ensembler.reset()

    def get_optim_params(self) -> list[dict[str, Any]]:
        """Two AdamW groups: the vision tower at ``optimizer_vision_lr``, everything else at the preset's lr."""
        vision_names = {f"model.{name}" for name in self.model.vision_parameter_names()}
        vision, rest = [], []
        for name, param in self.named_parameters():
            if param.requires_grad:
                (vision if name in vision_names else rest).append(param)
        groups: list[dict[str, Any]] = [{"params": rest}]
        if vision:
            groups.append({"params": vision, "lr": self.config.optimizer_vision_lr})
        return groups

    def forward(self, batch: dict[str, Any], reduction: str = "mean") -> tuple[Tensor, dict[str, float]]:
        """Training loss on a pre-processed batch (state and ``action`` (B, chunk, A) already normalized)."""
        if reduction != "mean":
            raise NotImplementedError("vst_vla computes a batch-mean loss only (no per-sample weighting)")
        batch = self._checked_observation(batch)
        actions = batch.get(ACTION)
        if not isinstance(actions, Tensor):
            raise KeyError(f"the training batch has no '{ACTION}' tensor")
        expected = (self.config.chunk_size, self.config.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(
                f"'{ACTION}' has shape {tuple(actions.shape)}; expected (B, chunk_size, action_dim) = (B, *{expected}) "
                "— is the dataset's action window the policy's action_delta_indices?"
            )
        if not torch.isfinite(actions).all():
            raise ValueError(f"'{ACTION}' contains NaN or inf")
        batch[ACTION] = actions.float().clamp(-1.0, 1.0)  # LeRobot's QUANTILES normalizer does not clip
        return self.model.forward_normalized(batch)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Any], **kwargs: Unpack[ActionSelectKwargs]) -> Tensor:
        """(B, chunk_size, action_dim) normalized actions in [-1, 1]; the post-processor un-normalizes them.

        Raises a KeyError for a missing camera, InvalidObservationError (a ValueError) for a wrong-sized or
        non-finite observation, and UnsafeActionError rather than returning NaN, inf or a wrongly shaped chunk.
        """
        if kwargs.get("noise") is not None:
            raise NotImplementedError("vst_vla draws its own flow-matching noise; seed torch for reproducibility")
        self.eval()
        # The inner policy refuses NaN, inf and a chunk not shaped (B, chunk_size, action_dim).
        chunk = self.model.predict_normalized_chunk(self._checked_observation(batch))
        return chunk.float().clamp(-1.0, 1.0)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Any], **kwargs: Unpack[ActionSelectKwargs]) -> Tensor:
        """(B, action_dim) normalized action for now: one inference every ``n_action_steps`` steps.

        With ``temporal_ensemble_coeff`` set, inference runs every step and overlapping chunks are averaged
        (in normalized space, which commutes with the post-processor's affine un-normalization).
        """
        if self._ensembler is not None:
            chunk = self.predict_action_chunk(batch, **kwargs)
            return self._ensembler.update(chunk.cpu()).to(chunk.device)
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch, **kwargs)
            self._action_queue.extend(chunk[:, : self.config.n_action_steps].transpose(0, 1))
        return self._action_queue.popleft()

    # ---- input checks ------------------------------------------------------------------------------------------

    def _checked_observation(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A shallow copy of ``batch`` with the normalized state clipped; refuses missing or malformed inputs.

        The checks are the inner policy's (:meth:`VLAProcessor.check_batch`: KeyError for a missing key,
        InvalidObservationError for a wrong shape or dtype, or NaN / inf), run before anything is converted.
        """
        self.model.processor.check_batch(batch)
        batch = dict(batch)
        if isinstance(batch[TASK], str):
            batch[TASK] = [batch[TASK]]
        for key in self.config.image_keys:
            # The pre-processor moved images to the policy device; vst_vla's Qwen image processor is run (and
            # tested) on CPU tensors, as in vst_vla's own trainer, and moves its outputs to the device itself.
            batch[key] = batch[key].cpu()
        if self.config.use_state:
            batch[OBS_STATE] = batch[OBS_STATE].float().clamp(-1.0, 1.0)  # LeRobot's QUANTILES normalizer does not clip
        return batch

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path, state_dict: dict[str, Tensor] | None = None) -> None:
        """LeRobot's config.json + model.safetensors, plus the VLM architecture and HF processor for offline reloads."""
        super()._save_pretrained(save_directory, state_dict=state_dict)
        (save_directory / BACKBONE_CONFIG_FILENAME).write_text(self.model.backbone.config.to_json_string())
        processor_dir = save_directory / PROCESSOR_SUBDIR
        if processor_dir.exists():
            shutil.rmtree(processor_dir)
        self.model.processor.hf_processor.save_pretrained(processor_dir)

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | Path, **kwargs: Any) -> "VSTVLAPolicy":
        """Load a checkpoint; a local one written by :meth:`save_pretrained` is rebuilt without any download."""
        path = Path(pretrained_name_or_path)
        if _has_vlm_files(path):
            kwargs.setdefault("vlm_checkpoint_dir", path)
        return super().from_pretrained(pretrained_name_or_path, **kwargs)


def _has_vlm_files(directory: Path) -> bool:
    return (directory / BACKBONE_CONFIG_FILENAME).is_file() and (directory / PROCESSOR_SUBDIR).is_dir()


def _build_vlm(vla_config: VLAConfig, checkpoint_dir: str | Path | None) -> tuple[nn.Module, Any]:
    """The Qwen2.5-VL and its processor: empty weights from a checkpoint's saved files, or from the config."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor

    from vst_vla.vlm.backbone import backbone_from_hf_config, build_backbone

    if checkpoint_dir is None:
        return build_backbone(vla_config.backbone)
    directory = Path(checkpoint_dir)
    hf_config = Qwen2_5_VLConfig.from_json_file(str(directory / BACKBONE_CONFIG_FILENAME))
    processor = Qwen2_5_VLProcessor.from_pretrained(directory / PROCESSOR_SUBDIR, local_files_only=True)
    logger.info("rebuilding the VLM from %s (weights come from model.safetensors)", directory)
    return backbone_from_hf_config(hf_config), processor


def _inert_stats(vla_config: VLAConfig) -> dict[str, dict[str, list[float]]]:
    """Placeholder q01/q99 for the inner VLAProcessor, which requires some; never applied (see module doc)."""
    stats = {ACTION: {"q01": [-1.0] * vla_config.action_dim, "q99": [1.0] * vla_config.action_dim}}
    if vla_config.use_state:
        stats[OBS_STATE] = {"q01": [-1.0] * vla_config.state_dim, "q99": [1.0] * vla_config.state_dim}
    return stats

