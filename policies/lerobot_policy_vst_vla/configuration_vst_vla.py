"""LeRobot configuration of the vst-vla policy (``--policy.type=vst_vla``).

The fields mirror :class:`vst_vla.vla.configuration.VLAConfig` in LeRobot's flat style (``head_type`` plus the
head's parameters, ``optimizer_*`` / ``scheduler_*`` presets), with the VLM sizes nested under ``backbone``
(``--policy.backbone.pretrained_path=/models/Qwen2.5-VL-3B-Instruct``). ``image_keys`` / ``action_dim`` /
``state_dim`` are not fields: LeRobot's ``make_policy`` fills ``input_features`` / ``output_features`` from the
dataset, and :meth:`VSTVLAConfig.to_vla_config` derives them from there.

This module is imported whenever LeRobot discovers plugins (every ``lerobot-*`` command), so it imports nothing
heavy: the ``vst_vla`` model code (transformers' Qwen2.5-VL) is imported only when a policy is built.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lerobot.configs import NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import ACTION, OBS_STATE

from vst_vla.precision import PRECISIONS

if TYPE_CHECKING:
    from vst_vla.vla.configuration import VLAConfig

HEAD_TYPES = ("tokens", "l1_chunk", "flow")

# Same text as vst_vla.vla.configuration.VST_PROMPT (a test keeps them equal; imported lazily, see module doc).
VST_PROMPT = "What action should the robot take to {instruction}?"


@dataclass
class VLMBackboneConfig:
    """The VLM: a local Qwen2.5-VL directory, or (``pretrained_path`` None) a tiny random-init one of these sizes.

    Same fields and defaults as :class:`vst_vla.vlm.backbone.BackboneConfig` (a test keeps them in sync); kept as
    a plain mutable dataclass here so draccus can parse and override it from the command line.
    """

    pretrained_path: str | None = None
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    vision_depth: int = 2
    vision_hidden_size: int = 64
    vision_num_heads: int = 4
    tokenizer_vocab_size: int = 2048
    image_min_tokens: int = 4
    image_max_tokens: int = 64
    rope_theta: float = 2.0  # mirrors vst_vla.vlm.backbone.BackboneConfig.rope_theta
    preset: str | None = None
    preset_num_layers: int | None = None
    preset_vision_depth: int | None = None


@PreTrainedConfig.register_subclass("vst_vla")
@dataclass
class VSTVLAConfig(PreTrainedConfig):
    """Configuration of :class:`~lerobot_policy_vst_vla.modeling_vst_vla.VSTVLAPolicy`.

    Normalization is LeRobot's: the pre-processor maps ``observation.state`` and ``action`` to [-1, 1] with the
    dataset's q01/q99 (``QUANTILES``, the VST / OpenVLA convention) and the post-processor maps actions back.
    ``action_bounds_low`` / ``action_bounds_high`` (env units, one value per action dimension) make the
    post-processor clip every emitted action; non-finite actions are always refused.
    """

    # Input / output structure.
    n_obs_steps: int = 1
    chunk_size: int = 4
    n_action_steps: int = 4
    # ACT-style temporal ensembling of overlapping chunks (needs n_action_steps == 1); None disables it.
    temporal_ensemble_coeff: float | None = None

    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.QUANTILES,
            "ACTION": NormalizationMode.QUANTILES,
        }
    )

    # The VLM backbone.
    backbone: VLMBackboneConfig = field(default_factory=VLMBackboneConfig)

    # Action head: "tokens" (VST / OpenVLA bins), "l1_chunk" (OpenVLA-OFT), "flow" (pi0 / SmolVLA expert).
    head_type: str = "tokens"
    n_bins: int = 256
    l1_mlp_hidden_size: int = 256
    flow_hidden_size: int = 128
    flow_num_layers: int = 2
    flow_num_heads: int = 4
    flow_num_integration_steps: int = 10

    # Prompting and proprioception.
    prompt_template: str = VST_PROMPT
    use_state: bool = True

    # Precision of the VLM's forward passes when LeRobot's ``use_amp`` is off (with it on, LeRobot asked for
    # autocast itself): "auto" runs bf16 only where the device has native bf16 kernels (vst_vla.precision).
    precision: str = "auto"

    # Deployment safety: per-dimension bounds in env units, enforced by the post-processor.
    action_bounds_low: list[float] | None = None
    action_bounds_high: list[float] | None = None

    # Training presets (lerobot-train uses them unless --use_policy_training_preset=false); the vision tower
    # gets its own learning rate, as in vst_vla's trainer.
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
            raise ValueError(f"vst_vla sees one observation per step; got n_obs_steps={self.n_obs_steps}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        if self.temporal_ensemble_coeff is not None and not math.isfinite(self.temporal_ensemble_coeff):
            raise ValueError(
                f"temporal_ensemble_coeff must be a finite number or None, got {self.temporal_ensemble_coeff}"
            )
        if self.temporal_ensemble_coeff is not None and self.n_action_steps != 1:
            raise ValueError("temporal_ensemble_coeff needs n_action_steps=1 (an inference every step)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.head_type not in HEAD_TYPES:
            raise ValueError(f"head_type must be one of {HEAD_TYPES}, got {self.head_type!r}")
        if "{instruction}" not in self.prompt_template:
            raise ValueError(f"prompt_template must contain '{{instruction}}', got {self.prompt_template!r}")
        self._check_bounds()

    def _check_bounds(self) -> None:
        low, high = self.action_bounds_low, self.action_bounds_high
        if low is None and high is None:
            return
        if low is None or high is None or len(low) != len(high):
            raise ValueError("action_bounds_low and action_bounds_high must both be set, with one value per dimension")
        if any(lo > hi for lo, hi in zip(low, high, strict=True)):
            raise ValueError(f"action_bounds_low must not exceed action_bounds_high (got {low} / {high})")

    # ---- LeRobot's PreTrainedConfig contract -------------------------------------------------------------------

    def validate_features(self) -> None:
        """Refuse feature sets the policy cannot use, naming what is missing (called when the policy is built)."""
        if not self.image_features:
            raise ValueError(
                "vst_vla needs at least one camera (an 'observation.images.*' VISUAL input feature); "
                f"got inputs {sorted(self.input_features or {})}"
            )
        action = self.action_feature
        if action is None or len(action.shape) != 1:
            raise ValueError(f"vst_vla needs a 1-D '{ACTION}' output feature; got {self.output_features}")
        if self.use_state:
            state = self.robot_state_feature
            if state is None or len(state.shape) != 1:
                raise ValueError(
                    f"use_state=True needs a 1-D '{OBS_STATE}' input feature (or set --policy.use_state=false); "
                    f"got inputs {sorted(self.input_features or {})}"
                )
        if self.action_bounds_low is not None and len(self.action_bounds_low) != action.shape[0]:
            raise ValueError(
                f"action_bounds have {len(self.action_bounds_low)} values "
                f"but the action has {action.shape[0]} dimensions"
            )

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(
            lr=self.optimizer_lr,
            betas=self.optimizer_betas,
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
            grad_clip_norm=self.optimizer_grad_clip_norm,
        )

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(
            peak_lr=self.optimizer_lr,
            decay_lr=self.scheduler_decay_lr,
            num_warmup_steps=self.scheduler_warmup_steps,
            num_decay_steps=self.scheduler_decay_steps,
        )

    @property
    def observation_delta_indices(self) -> None:
        return None  # the current frame only

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))  # the chunk the head is trained to predict

    @property
    def reward_delta_indices(self) -> None:
        return None

    # ---- bridge to vst_vla -------------------------------------------------------------------------------------

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

    def to_vla_config(self) -> "VLAConfig":
        """The equivalent :class:`VLAConfig` (features must be set: ``make_policy`` fills them from the dataset)."""
        from vst_vla.vla.configuration import HEADS, VLAConfig
        from vst_vla.vlm.backbone import BackboneConfig

        head_params = {
            "tokens": {"n_bins": self.n_bins},
            "l1_chunk": {"mlp_hidden_size": self.l1_mlp_hidden_size},
            "flow": {
                "hidden_size": self.flow_hidden_size,
                "num_layers": self.flow_num_layers,
                "num_heads": self.flow_num_heads,
                "num_integration_steps": self.flow_num_integration_steps,
            },
        }[self.head_type]
        return VLAConfig(
            backbone=BackboneConfig(**dataclasses.asdict(self.backbone)),
            head=HEADS.get(self.head_type)(**head_params),
            chunk_size=self.chunk_size,
            n_action_steps=self.n_action_steps,
            prompt_template=self.prompt_template,
            image_keys=self.image_keys,
            action_dim=self.action_dim,
            state_dim=self.state_dim,
            use_state=self.use_state,
            temporal_ensemble_coeff=self.temporal_ensemble_coeff,
        )
