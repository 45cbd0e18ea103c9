"""The policy's pre/post-processor pipelines: the one owner of normalization, prompting and device placement.

LeRobot's ``make_pre_post_processors`` finds :func:`make_vst_vla_pre_post_processors` by naming convention
(``configuration_vst_vla`` → ``processor_vst_vla``, ``make_{type}_pre_post_processors``); the VLA stage calls it
directly. Both save with every checkpoint (``policy_preprocessor.json`` / ``policy_postprocessor.json`` and
their statistics), and every tool loads them from there.

Pre: rename → add batch dim → :class:`VSTVLAInputCheckProcessorStep` (a non-finite, non-real or wrongly sized state
or action refused, float32) → :class:`VSTVLAPromptProcessorStep` (the instruction into the VST prompt) → device →
normalize (``QUANTILES``: q01/q99 → [-1, 1] for state and action; images stay in [0, 1]) →
:class:`VSTVLAClipProcessorStep` (state and action targets clipped to [-1, 1], the range of the token head's
bins; LeRobot's normalizer does not clip). Post: :class:`VSTVLANormalizedActionProcessorStep` (refuse NaN/inf and
a wrong action size, clip to [-1, 1]) → unnormalize → :class:`VSTVLAActionSafetyProcessorStep` (refuse NaN/inf,
clip to the configured bounds, in env units) → cpu. The statistics are validated when the pipelines are built
(finite, q01 <= q99, sizes, named by key and dimension). The chat template, image resizing and tokenization are
the model's (:mod:`vst_vla.vla.encoding` says why).
"""

import logging
from dataclasses import dataclass
from typing import Any

import torch
from lerobot.configs import PipelineFeatureType, PolicyFeature
from lerobot.processor import (
    EnvTransition,
    NormalizerProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
    ProcessorStep,
    ProcessorStepRegistry,
    TransitionKey,
    UnnormalizerProcessorStep,
    make_default_policy_processor_steps,
    make_policy_processor_pipelines,
)
from lerobot.utils.constants import ACTION, OBS_STATE

from vst_vla.constants import TASK
from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.vla.errors import InvalidObservationError, UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError, check_quantile_stats

logger = logging.getLogger(__name__)


class _FeaturePreservingStep(ProcessorStep):
    """A step that checks or rescales values but changes no feature's key, type or shape."""

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        return features


@ProcessorStepRegistry.register(name="vst_vla_check_inputs")
@dataclass
class VSTVLAInputCheckProcessorStep(_FeaturePreservingStep):
    """The state (and a training batch's action) refused unless real, finite and of the policy's size; cast to
    float32. Runs before normalization, which would otherwise clip an inf reading to an ordinary ±1, drop a
    complex value's imaginary part, fail on a wrong size without naming the key, or cast its statistics down to
    an integer state's dtype.
    """

    state_dim: int | None = None
    action_dim: int | None = None

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        transition = transition.copy()
        observation = transition.get(TransitionKey.OBSERVATION)
        if isinstance(observation, dict) and OBS_STATE in observation:
            state = _checked_real(observation[OBS_STATE], OBS_STATE, self.state_dim, "state_dim")
            transition[TransitionKey.OBSERVATION] = {**observation, OBS_STATE: state}
        if transition.get(TransitionKey.ACTION) is not None:
            transition[TransitionKey.ACTION] = _checked_real(transition[TransitionKey.ACTION], ACTION,
                                                             self.action_dim, "action_dim")
        return transition

    def get_config(self) -> dict[str, Any]:
        return {"state_dim": self.state_dim, "action_dim": self.action_dim}


def _checked_real(value: Any, key: str, dim: int | None, dim_name: str) -> torch.Tensor:
    """``value`` as a float32 tensor, or an InvalidObservationError naming ``key`` and what was expected."""
    if not isinstance(value, torch.Tensor):
        raise InvalidObservationError(f"{key!r} is a {type(value).__name__}; expected a tensor of real numbers")
    if value.dtype == torch.bool or value.dtype.is_complex:
        raise InvalidObservationError(f"{key!r} has dtype {value.dtype}; expected real numbers")
    if value.ndim == 0 or (dim is not None and value.shape[-1] != dim):
        raise InvalidObservationError(f"{key!r} has shape {tuple(value.shape)}; expected (..., {dim_name}={dim})")
    value = value.float()
    if not torch.isfinite(value).all():
        raise InvalidObservationError(f"{key!r} contains NaN or inf (or a value beyond float32); refusing it")
    return value


@ProcessorStepRegistry.register(name="vst_vla_prompt")
@dataclass
class VSTVLAPromptProcessorStep(_FeaturePreservingStep):
    """The instruction (``task``) into the VST prompt, e.g. "What action should the robot take to lift the cube?".

    Refuses a ``task`` that is not one non-empty string or a list of them, naming what it got.
    """

    template: str = "{instruction}"

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        data = transition.get(TransitionKey.COMPLEMENTARY_DATA) or {}
        if TASK not in data:
            return transition  # e.g. a batch of actions only; the model refuses a prompt-less observation
        tasks = data[TASK]
        single = isinstance(tasks, str)
        listed = [tasks] if single else tasks
        if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(t, str) for t in listed):
            raise InvalidObservationError(f"{TASK!r} is {tasks!r}; expected an instruction string or a non-empty "
                                          "list of them (one per batch row)")
        prompts = [self.template.format(instruction=t.strip()) for t in listed]
        transition = transition.copy()
        transition[TransitionKey.COMPLEMENTARY_DATA] = {**data, TASK: prompts[0] if single else prompts}
        return transition

    def get_config(self) -> dict[str, Any]:
        return {"template": self.template}


@ProcessorStepRegistry.register(name="vst_vla_clip_normalized")
@dataclass
class VSTVLAClipProcessorStep(_FeaturePreservingStep):
    """The normalized state and action clipped to [-1, 1], after LeRobot's normalizer (which does not clip).

    Values outside [q01, q99] are the demonstrations' outliers; clipping keeps them from stretching the range the
    token head's bins cover, as VST and OpenVLA do.
    """

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        transition = transition.copy()
        observation = transition.get(TransitionKey.OBSERVATION)
        if isinstance(observation, dict) and isinstance(observation.get(OBS_STATE), torch.Tensor):
            transition[TransitionKey.OBSERVATION] = {**observation,
                                                     OBS_STATE: observation[OBS_STATE].float().clamp(-1.0, 1.0)}
        action = transition.get(TransitionKey.ACTION)
        if isinstance(action, torch.Tensor):
            transition[TransitionKey.ACTION] = action.float().clamp(-1.0, 1.0)
        return transition


@ProcessorStepRegistry.register(name="vst_vla_normalized_action")
@dataclass
class VSTVLANormalizedActionProcessorStep(_FeaturePreservingStep):
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


@ProcessorStepRegistry.register(name="vst_vla_action_safety")
@dataclass
class VSTVLAActionSafetyProcessorStep(_FeaturePreservingStep):
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
    input_steps = [steps.rename_observations, steps.add_batch_dim,
                   VSTVLAInputCheckProcessorStep(state_dim=config.state_dim or None,
                                                 action_dim=config.action_dim or None),
                   VSTVLAPromptProcessorStep(template=config.prompt_template), steps.to_device, steps.normalize,
                   VSTVLAClipProcessorStep()]
    output_steps = [
        VSTVLANormalizedActionProcessorStep(action_dim=config.action_dim or None),
        steps.unnormalize,
        VSTVLAActionSafetyProcessorStep(low=config.action_bounds_low, high=config.action_bounds_high),
        steps.to_cpu,
    ]
    return make_policy_processor_pipelines(input_steps=input_steps, output_steps=output_steps)


def check_pipeline_stats(config: VSTVLAConfig, pipelines: list[PolicyProcessorPipeline], where: str) -> None:
    """Refuse saved pipelines whose normalization statistics the policy could not act safely with.

    LeRobot loads a pipeline's statistics without checking them (swapped q01/q99 would flip every action's sign);
    every (un)normalizer step's are checked here as they are when built, the error naming ``where``.
    """
    needed = {ACTION: config.action_dim, **({OBS_STATE: config.state_dim} if config.use_state else {})}
    for pipeline in pipelines:
        for step in pipeline.steps:
            if not isinstance(step, (NormalizerProcessorStep, UnnormalizerProcessorStep)):
                continue
            stats: dict[str, dict[str, torch.Tensor]] = {}
            for name, tensor in step.state_dict().items():
                feature, _, stat = name.rpartition(".")
                stats.setdefault(feature, {})[stat] = tensor
            for key, dim in needed.items():
                if key in step.features:
                    try:
                        check_quantile_stats(stats, key, dim or None)
                    except MissingStatsError as err:
                        raise MissingStatsError(f"{where}: {err}") from None


def _check_stats(config: VSTVLAConfig, dataset_stats: dict | None) -> None:
    # LeRobot's normalizer passes a feature through untouched when it has no statistics for it, which would feed
    # raw joint angles to a head that expects [-1, 1], and divides by a negative or NaN range without a word; the
    # statistics are checked here instead, named by key and dimension.
    needed = {ACTION: config.action_dim, **({OBS_STATE: config.state_dim} if config.use_state else {})}
    if dataset_stats is None:
        logger.warning("vst_vla processors built without dataset statistics: %s will not be normalized",
                       list(needed))
        return
    for key, dim in needed.items():
        check_quantile_stats(dataset_stats, key, dim or None)
