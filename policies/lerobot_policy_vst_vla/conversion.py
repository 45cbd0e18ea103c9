"""Checkpoints both ways between vst_vla's own layout and this LeRobot plugin's.

* vst_vla (``python -m vst_vla.train``): config.json (a :class:`VLAConfig`), model.safetensors (the
  :class:`VLAPolicy` state dict), backbone_config.json, processor/, normalization_stats.json, env.json.
* LeRobot (``lerobot-train --policy.type=vst_vla``): config.json (a :class:`VSTVLAConfig` with its features),
  model.safetensors (the same tensors under ``model.``), backbone_config.json, processor/, and the pre/post
  processor pipelines whose normalizer steps hold the q01/q99 statistics.

The weights are the same tensors either way, and both normalize with the same q01/q99 formula (tested), so a
converted policy acts identically. Where the pipelines come from, LeRobot's own savers and loaders write and read
them. ``env.json`` (how to rebuild the simulated env) travels along; a ``lerobot-train`` checkpoint has none, but
its ``train_config.json`` names the dataset, and a dataset collected by ``vst_vla.collect`` records its env.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch
from lerobot.configs import FeatureType, PolicyFeature
from lerobot.processor import NormalizerProcessorStep, PolicyProcessorPipeline
from lerobot.utils.constants import ACTION, OBS_STATE, POLICY_PREPROCESSOR_DEFAULT_NAME

from vst_vla.errors import ConfigError, MissingInputError
from vst_vla.io import atomic_directory, check_safetensors
from vst_vla.vla.configuration import VLAConfig
from vst_vla.vla.modeling import CHECKPOINT_HINT, ENV_FILENAME, WEIGHTS_FILENAME, VLAPolicy
from vst_vla.vla.processor import VLAProcessor

from .configuration_vst_vla import VLMBackboneConfig, VSTVLAConfig
from .modeling_vst_vla import VSTVLAPolicy
from .processor_vst_vla import make_vst_vla_pre_post_processors

logger = logging.getLogger(__name__)

PREPROCESSOR_FILE = f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json"
TRAIN_CONFIG_FILE = "train_config.json"
# Statistics of a feature that the VLA's q01/q99 normalizer and LeRobot's QUANTILES mode read.
_QUANTILE_KEYS = ("q01", "q99")


def is_lerobot_checkpoint(directory: str | Path) -> bool:
    """True for a directory written by this plugin's ``save_pretrained`` plus LeRobot's pipeline savers."""
    return (Path(directory) / PREPROCESSOR_FILE).is_file()


# ---- vst_vla → LeRobot -----------------------------------------------------------------------------------------


def lerobot_config_from_vla(config: VLAConfig, image_size: int, device: str = "cpu") -> VSTVLAConfig:
    """The plugin config that rebuilds exactly ``config``'s model (checked by converting back)."""
    head = dataclasses.asdict(config.head)
    head_fields = {
        "tokens": lambda h: {"n_bins": h["n_bins"]},
        "l1_chunk": lambda h: {"l1_mlp_hidden_size": h["mlp_hidden_size"]},
        "flow": lambda h: {
            "flow_hidden_size": h["hidden_size"], "flow_num_layers": h["num_layers"],
            "flow_num_heads": h["num_heads"], "flow_num_integration_steps": h["num_integration_steps"],
        },
    }[head["type"]](head)
    inputs = {key: PolicyFeature(FeatureType.VISUAL, (3, image_size, image_size)) for key in config.image_keys}
    if config.use_state:
        inputs[OBS_STATE] = PolicyFeature(FeatureType.STATE, (config.state_dim,))
    backbone = dataclasses.asdict(config.backbone)
    backbone["pretrained_path"] = None  # the weights are in model.safetensors; never reload the base VLM
    lerobot_config = VSTVLAConfig(
        chunk_size=config.chunk_size,
        n_action_steps=config.n_action_steps,
        temporal_ensemble_coeff=config.temporal_ensemble_coeff,
        backbone=VLMBackboneConfig(**backbone),
        head_type=head["type"],
        prompt_template=config.prompt_template,
        use_state=config.use_state,
        input_features=inputs,
        output_features={ACTION: PolicyFeature(FeatureType.ACTION, (config.action_dim,))},
        device=device,
        **head_fields,
    )
    roundtrip = lerobot_config.to_vla_config()
    expected = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, pretrained_path=None))
    if roundtrip != expected:
        raise ValueError(
            f"cannot express this VLA config as a LeRobot vst_vla config:\n{expected}\nbecame\n{roundtrip}"
        )
    return lerobot_config


def lerobot_policy_from_vla(policy: VLAPolicy, source: Path, image_size: int) -> tuple[
        VSTVLAPolicy, PolicyProcessorPipeline, PolicyProcessorPipeline]:
    """``policy`` (loaded from the checkpoint directory ``source``) as a LeRobot policy with its pipelines.

    The VLM is rebuilt from ``source``'s backbone_config.json and processor/, then given ``policy``'s weights;
    the pipelines carry ``policy``'s q01/q99 statistics.
    """
    config = lerobot_config_from_vla(policy.config, image_size)
    wrapped = VSTVLAPolicy(config, vlm_checkpoint_dir=source)
    wrapped.model.load_state_dict(policy.state_dict())
    stats = {key: {q: torch.as_tensor(values[q]) for q in _QUANTILE_KEYS}
             for key, values in policy.processor.stats.items() if key in (ACTION, OBS_STATE)}
    pre, post = make_vst_vla_pre_post_processors(config, dataset_stats=stats)
    return wrapped, pre, post


def export_to_lerobot(source: str | Path, destination: str | Path, image_size: int | None = None) -> Path:
    """Convert a ``python -m vst_vla.train`` checkpoint into a directory LeRobot's tools load by ``--policy.path``.

    ``image_size`` (the camera resolution recorded in the policy's input features) defaults to the one in the
    checkpoint's env.json. The destination is written atomically.
    """
    source, destination = Path(source), Path(destination)
    policy = VLAPolicy.from_pretrained(source).merge_lora()  # a LoRA checkpoint goes out as its merged model
    if image_size is None:
        image_size = _image_size_from_env(policy.env_metadata, source)
    wrapped, pre, post = lerobot_policy_from_vla(policy, source, image_size)
    with atomic_directory(destination) as tmp:
        wrapped.save_pretrained(tmp)
        pre.save_pretrained(tmp)
        post.save_pretrained(tmp)
        if policy.env_metadata is not None:
            (tmp / ENV_FILENAME).write_text(json.dumps(policy.env_metadata, indent=2))
    logger.info("wrote LeRobot checkpoint %s (from %s)", destination, source)
    return destination


def _image_size_from_env(env_metadata: dict | None, source: Path) -> int:
    env = (env_metadata or {}).get("env") or {}
    if "image_size" not in env:
        raise ConfigError(f"{source} has no env.json with an image_size; pass image_size (--image-size: the camera "
                          "resolution in pixels)")
    return int(env["image_size"])


# ---- LeRobot → vst_vla -----------------------------------------------------------------------------------------


def vla_policy_from_lerobot(source: str | Path) -> VLAPolicy:
    """Load a LeRobot-layout vst_vla checkpoint (e.g. from ``lerobot-train``) as a :class:`VLAPolicy`.

    The statistics come from the saved pre-processor's normalizer; the env description from env.json, else from
    the training dataset named in train_config.json (``meta/vst_env.json`` of a ``vst_vla.collect`` dataset).
    """
    source = Path(source)
    if not is_lerobot_checkpoint(source):
        raise MissingInputError(f"{source} is not a LeRobot checkpoint: {PREPROCESSOR_FILE} is missing")
    check_safetensors(source / WEIGHTS_FILENAME, CHECKPOINT_HINT)
    wrapped = VSTVLAPolicy.from_pretrained(source)
    inner: VLAPolicy = wrapped.model
    stats = _stats_from_pipeline(source, inner.config)
    inner.processor = VLAProcessor(inner.processor.hf_processor, inner.config, stats)
    inner.env_metadata = _env_metadata_for(source)
    return inner


def import_from_lerobot(source: str | Path, destination: str | Path) -> Path:
    """Convert a LeRobot-layout checkpoint into vst_vla's own layout (what ``VLAPolicy.from_pretrained`` reads)."""
    return vla_policy_from_lerobot(source).save_pretrained(destination)


def _stats_from_pipeline(source: Path, config: VLAConfig) -> dict[str, dict[str, list[float]]]:
    pre = PolicyProcessorPipeline.from_pretrained(source, config_filename=PREPROCESSOR_FILE, local_files_only=True)
    normalizers = [step for step in pre.steps if isinstance(step, NormalizerProcessorStep)]
    if len(normalizers) != 1:
        raise ValueError(f"{source / PREPROCESSOR_FILE} has {len(normalizers)} normalizer steps; expected one")
    saved = normalizers[0].stats or {}
    needed = [ACTION, *([OBS_STATE] if config.use_state else [])]
    stats: dict[str, dict[str, list[float]]] = {}
    for key in needed:
        missing = [q for q in _QUANTILE_KEYS if q not in saved.get(key, {})]
        if missing:
            raise ValueError(f"{source}'s pre-processor has no {missing} statistics for {key!r}; cannot normalize")
        stats[key] = {q: torch.as_tensor(saved[key][q]).flatten().tolist() for q in _QUANTILE_KEYS}
    return stats


def _env_metadata_for(source: Path) -> dict[str, Any] | None:
    env_path = source / ENV_FILENAME
    if env_path.is_file():
        return json.loads(env_path.read_text())
    train_config = source / TRAIN_CONFIG_FILE
    if not train_config.is_file():
        return None
    from vst_vla.data.dataset import load_env_metadata

    dataset_root = (json.loads(train_config.read_text()).get("dataset") or {}).get("root")
    return load_env_metadata(dataset_root) if dataset_root else None
