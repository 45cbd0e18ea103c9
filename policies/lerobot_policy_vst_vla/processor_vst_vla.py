"""LeRobot pre/post-processor pipelines of the vst-vla policy.

LeRobot's ``make_pre_post_processors`` finds :func:`make_vst_vla_pre_post_processors` by naming convention
(``configuration_vst_vla`` → ``processor_vst_vla``, ``make_{type}_pre_post_processors``).

Pre: rename → add batch dim → device → normalize (``QUANTILES``: q01/q99 → [-1, 1] for state and action; images
stay in [0, 1]). Post: :class:`VSTVLANormalizedActionProcessorStep` (refuse NaN/inf and a wrong action size, clip
to [-1, 1]) → unnormalize → :class:`VSTVLAActionSafetyProcessorStep` (refuse NaN/inf, clip to the configured
bounds, in env units) → cpu. The statistics given to :func:`make_vst_vla_pre_post_processors` are validated
there (finite, q01 <= q99, named by key and dimension). Prompting, image resizing and tokenization are the
policy's own (its Qwen2.5-VL processor), so no tokenizer step is needed here.
"""

import logging
from dataclasses import dataclass
from typing import Any

import torch
from lerobot.configs import PipelineFeatureType, PolicyFeature
from lerobot.processor import (
    EnvTransition,
    PolicyAction,
    PolicyProcessorPipeline,
    ProcessorStep,
    ProcessorStepRegistry,
    TransitionKey,
    make_default_policy_processor_steps,
    make_policy_processor_pipelines,
)
from lerobot.utils.constants import ACTION, OBS_STATE

from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError, QuantileNormalizer

from .configuration_vst_vla import VSTVLAConfig

logger = logging.getLogger(__name__)


@ProcessorStepRegistry.register(name="vst_vla_normalized_action")
@dataclass
class VSTVLANormalizedActionProcessorStep(ProcessorStep):
    """First step of the post-processor: the policy's normalized action, checked and clipped to [-1, 1].

    Raises :class:`UnsafeActionError` on NaN/inf (clipping would turn inf into a full-scale command) or on a last
    dimension other than ``action_dim``; otherwise returns the action as float32 clipped to [-1, 1], so the
    un-normalized action stays inside the dataset's [q01, q99] even when no action bounds are configured.
    """

    action_dim: int | None = None

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        action = transition.get(TransitionKey.ACTION)
        if action is None:
            return transition
        action = torch.as_tensor(action)
        if action.ndim == 0 or (self.action_dim is not None and action.shape[-1] != self.action_dim):
            raise UnsafeActionError(f"the policy's action has shape {tuple(action.shape)}; expected (..., action_dim="
                                    f"{self.action_dim}); refusing to act")
        if action.dtype == torch.bool or action.dtype.is_complex:
            raise UnsafeActionError(f"the policy's action has dtype {action.dtype}; expected real numbers")
        if not action.dtype.is_floating_point:
            action = action.float()
        if not torch.isfinite(action).all():
            raise UnsafeActionError("the policy's normalized action contains NaN or inf; refusing to act")
        transition = transition.copy()
        # Clipped before the cast, so a finite float64 beyond float32's range saturates instead of becoming inf.
        transition[TransitionKey.ACTION] = action.clamp(-1.0, 1.0).float()
        return transition

    def get_config(self) -> dict[str, Any]:
        return {"action_dim": self.action_dim}

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        return features


@ProcessorStepRegistry.register(name="vst_vla_action_safety")
@dataclass
class VSTVLAActionSafetyProcessorStep(ProcessorStep):
    """Last line of defence before an action reaches an env or robot (runs after un-normalization).

    Raises :class:`UnsafeActionError` on NaN/inf or on an action whose size does not match the bounds, and clips
    each dimension to ``[low[i], high[i]]`` when bounds are set. Saved with the post-processor, so a checkpoint
    loaded by ``lerobot-eval`` / ``lerobot-rollout`` keeps its bounds.
    """

    low: list[float] | None = None
    high: list[float] | None = None

    def __post_init__(self) -> None:
        if (self.low is None) != (self.high is None) or (self.low is not None and len(self.low) != len(self.high)):
            raise ValueError("action bounds need both low and high, with one value per action dimension")

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        action = transition.get(TransitionKey.ACTION)
        if action is None:
            return transition
        # float32 before clipping: bounds cast to a bf16 action would round past the configured values.
        action = torch.as_tensor(action).float()
        if not torch.isfinite(action).all():
            # The normalized action was finite (checked first), so the statistics are not: a saved pipeline's
            # statistics are loaded by LeRobot without passing _check_stats.
            raise UnsafeActionError("the un-normalized action contains NaN or inf; refusing to act")
        if self.low is not None:
            if action.shape[-1] != len(self.low):
                raise UnsafeActionError(
                    f"action has {action.shape[-1]} dimensions but the bounds have {len(self.low)}; refusing to act"
                )
            low = torch.tensor(self.low, dtype=action.dtype, device=action.device)
            high = torch.tensor(self.high, dtype=action.dtype, device=action.device)
            action = torch.maximum(torch.minimum(action, high), low)
        transition = transition.copy()
        transition[TransitionKey.ACTION] = action
        return transition

    def get_config(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        return features


def make_vst_vla_pre_post_processors(
    config: VSTVLAConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
) -> tuple[
    PolicyProcessorPipeline[dict[str, Any], dict[str, Any]],
    PolicyProcessorPipeline[PolicyAction, PolicyAction],
]:
    """Build the pre-processor (inputs → normalized batch) and post-processor (normalized action → env units).

    Args:
        config: the policy config (features filled by ``make_policy``).
        dataset_stats: the dataset's statistics; ``action`` (and ``observation.state`` with ``use_state``) need
            ``q01`` / ``q99``. None is allowed only when the pipelines will load saved statistics afterwards.
    """
    _check_stats(config, dataset_stats)
    steps = make_default_policy_processor_steps(config, dataset_stats)
    input_steps = [steps.rename_observations, steps.add_batch_dim, steps.to_device, steps.normalize]
    output_steps = [
        VSTVLANormalizedActionProcessorStep(action_dim=config.action_dim or None),
        steps.unnormalize,
        VSTVLAActionSafetyProcessorStep(low=config.action_bounds_low, high=config.action_bounds_high),
        steps.to_cpu,
    ]
    return make_policy_processor_pipelines(input_steps=input_steps, output_steps=output_steps)


def _check_stats(config: VSTVLAConfig, dataset_stats: dict | None) -> None:
    # LeRobot's normalizer passes a feature through untouched when it has no statistics for it, which would feed
    # raw joint angles to a head that expects [-1, 1]; say so early instead.
    needed = [ACTION, *([OBS_STATE] if config.use_state else [])]
    if dataset_stats is None:
        logger.warning("vst_vla processors built without dataset statistics: %s will not be normalized", needed)
        return
    dims = {ACTION: config.action_dim, OBS_STATE: config.state_dim}
    for key in needed:
        missing = [q for q in ("q01", "q99") if q not in dataset_stats.get(key, {})]
        if missing:
            raise ValueError(
                f"dataset statistics for {key!r} lack {missing}; vst_vla normalizes with q01/q99 (QUANTILES). "
                "Recompute them with lerobot's augment_dataset_quantile_stats script."
            )
        # vst_vla's own normalizer validates them (finite, q01 <= q99 per dimension, a range float32 holds) and
        # names the key and dimension; LeRobot's would divide by a negative or NaN range without a word.
        normalizer = QuantileNormalizer.from_stats(dataset_stats, key)
        if dims[key] and normalizer.dim != dims[key]:
            raise MissingStatsError(f"dataset statistics for {key!r} have {normalizer.dim} dimensions but the "
                                    f"policy's {key} feature has {dims[key]}")
