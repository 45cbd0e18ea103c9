"""The one configuration of the VLA policy, registered with LeRobot as ``--policy.type=vst_vla``.

Both trainers read it: ``python -m vst_vla.train stage=vla`` builds it from the hydra groups (``model`` becomes
``backbone``, ``head`` the action head; :func:`policy_config_from_dict`), ``lerobot-train`` from its command line
(``--policy.backbone.pretrained_path=...``, ``--policy.head.type=flow``). Defaults live here and nowhere else;
the YAML files carry only overrides and group choices.

The data the policy acts on (cameras, action and state sizes) is LeRobot's ``input_features`` /
``output_features``, which ``make_policy`` or the VLA stage fills from the dataset's metadata.

This module is imported whenever LeRobot discovers plugins (every ``lerobot-*`` command), so it imports nothing
heavy: the model code (transformers' Qwen2.5-VL) is imported only when a policy is built.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

import draccus
from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import ACTION, OBS_STATE

from vst_vla.config.parse import ConfigError, check_value, dataclass_from_dict
from vst_vla.precision import PRECISIONS
from vst_vla.vlm.config import BackboneConfig

VST_PROMPT = "What action should the robot take to {instruction}?"
# ACT's ensembler weighs the i-th oldest prediction by exp(-coeff * i) without rescaling; beyond this exponent
# float32 overflows to inf and the average becomes NaN.
_MAX_ENSEMBLE_EXPONENT = 80.0


@dataclass(frozen=True)
class ActionHeadConfig(draccus.ChoiceRegistry):
    """Base of the action heads' configs: one registered subclass per head, picked by ``type``.

    A new head is one module (an :class:`~vst_vla.vla.heads.base.ActionHead`) plus one config class registered
    here; ``head=<type>`` then works on the command line (:mod:`vst_vla.config.store` makes the hydra group from
    this registry, no YAML).
    """

    @property
    def type(self) -> str:
        return self.get_choice_name(self.__class__)

    def head_class(self) -> type:
        raise NotImplementedError


@ActionHeadConfig.register_subclass("tokens")
@dataclass(frozen=True)
class TokenHeadConfig(ActionHeadConfig):
    """VST / OpenVLA discrete actions: one token per action dimension per step, ``n_bins`` uniform bins."""

    n_bins: int = 256

    def __post_init__(self) -> None:
        if self.n_bins < 2:
            raise ValueError(f"head.n_bins must be at least 2, got {self.n_bins}")

    def head_class(self) -> type:
        from vst_vla.vla.heads.tokens import TokenActionHead

        return TokenActionHead


@ActionHeadConfig.register_subclass("l1_chunk")
@dataclass(frozen=True)
class L1ChunkHeadConfig(ActionHeadConfig):
    """OpenVLA-OFT-style head: learned action queries, one forward pass per chunk, L1 loss."""

    mlp_hidden_size: int = 256

    def __post_init__(self) -> None:
        if self.mlp_hidden_size < 1:
            raise ValueError(f"head.mlp_hidden_size must be >= 1, got {self.mlp_hidden_size}")

    def head_class(self) -> type:
        from vst_vla.vla.heads.l1_chunk import L1ChunkHead

        return L1ChunkHead


@ActionHeadConfig.register_subclass("flow")
@dataclass(frozen=True)
class FlowHeadConfig(ActionHeadConfig):
    """pi0 / SmolVLA-style flow-matching action expert cross-attending to the VLM's hidden states."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_integration_steps: int = 10

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_integration_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"head.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads or self.hidden_size % 2:
            raise ValueError("head.hidden_size must be even and divisible by head.num_heads")

    def head_class(self) -> type:
        from vst_vla.vla.heads.flow import FlowMatchingHead

        return FlowMatchingHead


def head_names() -> list[str]:
    """The registered action heads' ``type`` names."""
    return sorted(ActionHeadConfig.get_known_choices())


@PreTrainedConfig.register_subclass("vst_vla")
@dataclass
class VSTVLAConfig(PreTrainedConfig):
    """Qwen2.5-VL backbone + action head, with chunking, prompt, state input, precision and safety bounds.

    ``chunk_size`` actions are predicted per inference and ``n_action_steps`` of them executed before the next;
    the dataset's action window (``action_delta_indices``) and the action queue read them. ``use_state`` feeds
    the normalized proprioceptive state into the token stream through a learned projection (one ``<|state|>``
    token). ``temporal_ensemble_coeff`` (ACT's ensembling; needs ``n_action_steps=1``) averages the overlapping
    predictions of consecutive chunks with weights exp(-coeff * age).

    Normalization is the processor pipelines' (``processor_vst_vla``): state and action are mapped to [-1, 1] with
    the dataset's q01/q99 (``QUANTILES``, the VST / OpenVLA convention) and clipped there; the model never sees
    statistics. ``action_bounds_low`` / ``action_bounds_high`` (env units, one value per action dimension) make
    the post-processor clip every emitted action; non-finite actions are always refused.
    """

    n_obs_steps: int = 1
    chunk_size: int = 4
    n_action_steps: int = 4
    temporal_ensemble_coeff: float | None = None

    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.QUANTILES,
            "ACTION": NormalizationMode.QUANTILES,
        }
    )

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: ActionHeadConfig = field(default_factory=TokenHeadConfig)

    prompt_template: str = VST_PROMPT
    use_state: bool = True

    # Precision of the VLM's forward passes when LeRobot's ``use_amp`` is off (with it on, LeRobot asked for
    # autocast itself): "auto" runs bf16 only where the device has native bf16 kernels (vst_vla.precision).
    precision: str = "auto"

    action_bounds_low: list[float] | None = None
    action_bounds_high: list[float] | None = None

    # lerobot-train's presets (unless --use_policy_training_preset=false); vst_vla's trainer has its own
    # (vst_vla.training.config.TrainerConfig). The vision tower gets its own learning rate in both.
    optimizer_lr: float = 1e-3
    optimizer_vision_lr: float = 3e-4
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 0.01
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 50
    scheduler_decay_steps: int = 2000
    scheduler_decay_lr: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_obs_steps != 1:
            raise ValueError(f"policy.n_obs_steps: vst_vla sees one observation per step, got {self.n_obs_steps}")
        if self.chunk_size < 1:
            raise ValueError(f"policy.chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"policy.n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        self._check_ensembling()
        if self.precision not in PRECISIONS:
            raise ValueError(f"policy.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.head, ActionHeadConfig):
            raise ValueError(f"policy.head must be one of the heads {head_names()}, got {self.head!r}")
        if "{instruction}" not in self.prompt_template:
            raise ValueError(f"policy.prompt_template must contain '{{instruction}}', got {self.prompt_template!r}")
        self._check_bounds()

    def _check_ensembling(self) -> None:
        coeff = self.temporal_ensemble_coeff
        if coeff is None:
            return
        if not math.isfinite(coeff) or abs(coeff) * (self.chunk_size - 1) > _MAX_ENSEMBLE_EXPONENT:
            raise ValueError(f"policy.temporal_ensemble_coeff must be null or a number with |coeff| * (chunk_size - 1) "
                             f"<= {_MAX_ENSEMBLE_EXPONENT:g} (larger weights overflow), got {coeff}")
        if self.n_action_steps != 1:
            raise ValueError("policy.temporal_ensemble_coeff needs policy.n_action_steps=1 (an inference every step)")

    def _check_bounds(self) -> None:
        low, high = self.action_bounds_low, self.action_bounds_high
        if low is None and high is None:
            return
        if low is None or high is None or len(low) != len(high):
            raise ValueError("policy.action_bounds_low and action_bounds_high must both be set, with one value per "
                             "action dimension")
        if any(not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi for lo, hi in zip(low, high, strict=True)):
            raise ValueError(f"policy.action_bounds_low must be finite and not exceed action_bounds_high (got {low} / "
                             f"{high})")

    # ---- LeRobot's PreTrainedConfig contract -------------------------------------------------------------------

    def validate_features(self) -> None:
        """Refuse feature sets the policy cannot use, naming what is missing (called when the policy is built)."""
        if not self.image_features:
            raise ValueError("vst_vla needs at least one camera (an 'observation.images.*' VISUAL input feature); "
                             f"got inputs {sorted(self.input_features or {})}")
        action = self.action_feature
        if action is None or len(action.shape) != 1:
            raise ValueError(f"vst_vla needs a 1-D '{ACTION}' output feature; got {self.output_features}")
        if self.use_state:
            state = self.robot_state_feature
            if state is None or len(state.shape) != 1:
                raise ValueError(
                    f"use_state=True needs a 1-D '{OBS_STATE}' input feature (or set policy.use_state=false); "
                    f"got inputs {sorted(self.input_features or {})}"
                )
        if self.action_bounds_low is not None and len(self.action_bounds_low) != action.shape[0]:
            raise ValueError(f"policy.action_bounds have {len(self.action_bounds_low)} values but the action has "
                             f"{action.shape[0]} dimensions")

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(lr=self.optimizer_lr, betas=self.optimizer_betas, eps=self.optimizer_eps,
                           weight_decay=self.optimizer_weight_decay, grad_clip_norm=self.optimizer_grad_clip_norm)

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(peak_lr=self.optimizer_lr, decay_lr=self.scheduler_decay_lr,
                                                    num_warmup_steps=self.scheduler_warmup_steps,
                                                    num_decay_steps=self.scheduler_decay_steps)

    @property
    def observation_delta_indices(self) -> None:
        return None  # the current frame only

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))  # the chunk the head is trained to predict

    @property
    def reward_delta_indices(self) -> None:
        return None

    # ---- what the data looks like ------------------------------------------------------------------------------

    @property
    def image_keys(self) -> tuple[str, ...]:
        """The cameras, in the order they enter the prompt (the dataset's feature order)."""
        return tuple(self.image_features)

    @property
    def action_dim(self) -> int:
        return int(self.action_feature.shape[0]) if self.action_feature is not None else 0

    @property
    def state_dim(self) -> int:
        state = self.robot_state_feature
        return int(state.shape[0]) if (self.use_state and state is not None) else 0

    def with_features(self, image_shapes: dict[str, tuple[int, ...]], action_dim: int,
                      state_dim: int) -> VSTVLAConfig:
        """A copy describing data with these cameras ``{key: (3, H, W)}``, action size and state size."""
        inputs = {key: PolicyFeature(type=FeatureType.VISUAL, shape=tuple(shape))
                  for key, shape in image_shapes.items()}
        if state_dim:
            inputs[OBS_STATE] = PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))
        outputs = {ACTION: PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))}
        return dataclasses.replace(self, input_features=inputs, output_features=outputs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``type`` keys (what ``config.json`` holds)."""
        return {"type": self.type, **draccus.encode(self)}


# The fields a hydra ``policy:`` mapping may set; the rest (features, hub settings) are filled by the stage.
HYDRA_POLICY_FIELDS = ("chunk_size", "n_action_steps", "temporal_ensemble_coeff", "backbone", "head", "prompt_template",
                 "use_state", "precision", "action_bounds_low", "action_bounds_high")


def policy_config_from_dict(data: dict[str, Any] | None, device: str = "cpu") -> VSTVLAConfig:
    """The policy config of a hydra ``policy:`` mapping (``backbone`` and ``head`` nested, ``head.type`` naming the
    head); unknown keys and values of the wrong type are refused, named by their dotted path."""
    data = dict(data or {})
    unknown = sorted(set(data) - set(HYDRA_POLICY_FIELDS))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} in policy; valid keys: {sorted(HYDRA_POLICY_FIELDS)}")
    head = data.pop("head", None) or {}
    if not isinstance(head, dict):
        raise ConfigError(f"policy.head must be a mapping with a type ({', '.join(head_names())}), got {head!r}")
    head = dict(head)
    head_type = head.pop("type", "tokens")
    if head_type not in head_names():
        raise ConfigError(f"policy.head.type: unknown action head type {head_type!r}; registered types: "
                          f"{', '.join(head_names())}")
    head_cfg = dataclass_from_dict(ActionHeadConfig.get_choice_class(head_type), head, "policy.head.")
    backbone = dataclass_from_dict(BackboneConfig, data.pop("backbone", None), "policy.backbone.")
    hints = typing.get_type_hints(VSTVLAConfig)
    values = {name: check_value(hints[name], value, f"policy.{name}") for name, value in data.items()}
    try:
        return VSTVLAConfig(**values, backbone=backbone, head=head_cfg, device=device)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err) if str(err).startswith("policy.") else f"policy: {err}") from None
