"""Image ablations for policy rollouts: the policy acts on the real env but sees other camera images.

A success rate says the policy solves the task, not that it looks: a policy that replays the mean demonstration
from proprioception alone can lift a cube that is always near the same place. Rolling out again with the images
taken away measures what they are worth (``eval.image_ablation``):

- ``none``: the real frames;
- ``blank``: a uniform mid-grey image (RGB 128) of each camera's shape, every step;
- ``shuffle``: the live frames of *another episode*: a second, "donor" env of the same config reset with
  ``seed + DONOR_SEED_OFFSET`` and stepped in lock-step with the same actions the policy sends to the real env.
  The robot in those frames therefore moves as the policy commands (its proprioception stays consistent with what
  it sees) while the objects are where another seed put them. When the donor episode ends first (it succeeded or
  timed out), its last frame is held;
- ``frozen``: one foreign frame for the whole episode, the donor's first frame after its reset.

The ablation is a gymnasium wrapper (:class:`ImageAblationWrapper`) built by :func:`make_rollout_env`, which the
sequential runner (:func:`vst_vla.rollout.policy_eval.evaluate_policy`) and the parallel workers
(:mod:`vst_vla.rollout.parallel`) both use. Only ``obs["pixels"]`` changes: the state, the rewards, the success
signal and ``env.render()`` (the videos) stay those of the real env, so a video shows what the policy *did*.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from vst_envs.layout import GYM_PIXELS

__all__ = ["DONOR_SEED_OFFSET", "IMAGE_ABLATIONS", "ImageAblationWrapper", "image_ablation_of", "make_rollout_env"]

logger = logging.getLogger(__name__)

NONE, BLANK, SHUFFLE, FROZEN = "none", "blank", "shuffle", "frozen"
IMAGE_ABLATIONS = (NONE, BLANK, SHUFFLE, FROZEN)
# Far above any evaluation (0..) or demonstration (10 000..) seed, so a donor episode is never one of those.
DONOR_SEED_OFFSET = 1_000_000
GREY_LEVEL = 128


def check_image_ablation(ablation: str, where: str = "eval.image_ablation") -> str:
    """``ablation`` if it is one of :data:`IMAGE_ABLATIONS`, else a ValueError naming ``where`` and the choices."""
    if ablation not in IMAGE_ABLATIONS:
        raise ValueError(f"{where} must be one of {IMAGE_ABLATIONS}, got {ablation!r}")
    return ablation


def donor_seed(seed: int | None) -> int | None:
    """The seed of the donor episode paired with episode ``seed`` (None stays None: an unseeded reset)."""
    return None if seed is None else int(seed) + DONOR_SEED_OFFSET


class ImageAblationWrapper(gym.Wrapper):
    """Replaces the camera images of ``env``'s observations as ``ablation`` says (see the module docstring).

    Args:
        env: the env the policy acts on.
        ablation: one of :data:`IMAGE_ABLATIONS` other than ``none``.
        donor: for ``shuffle`` and ``frozen``, a second env of the same config (closed with this wrapper).
    """

    def __init__(self, env: gym.Env, ablation: str, donor: gym.Env | None = None) -> None:
        super().__init__(env)
        self.ablation = check_image_ablation(ablation, "image ablation")
        if ablation == NONE:
            raise ValueError("image ablation 'none' needs no wrapper; use the env itself")
        if (ablation in (SHUFFLE, FROZEN)) != (donor is not None):
            raise ValueError(f"image ablation {ablation!r} {'needs' if donor is None else 'takes no'} donor env")
        if GYM_PIXELS not in (getattr(env.observation_space, "spaces", None) or {}):
            raise ValueError(f"image ablation {ablation!r} needs an env with camera images ('{GYM_PIXELS}' in its "
                             "observations); this one renders none (env.use_camera=false?)")
        self.donor = donor
        self._donor_pixels: dict[str, np.ndarray] | None = None
        self._donor_done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if self.donor is not None:
            donor_obs, _ = self.donor.reset(seed=donor_seed(seed), options=options)
            self._donor_pixels = self._copy_pixels(donor_obs)
            self._donor_done = False
        return self._ablate(obs), info

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.ablation == SHUFFLE and not self._donor_done:
            donor_obs, _, donor_terminated, donor_truncated, _ = self.donor.step(action)
            self._donor_pixels = self._copy_pixels(donor_obs)
            self._donor_done = bool(donor_terminated or donor_truncated)
        return self._ablate(obs), reward, terminated, truncated, info

    def close(self) -> None:
        try:
            if self.donor is not None:
                self.donor.close()
        finally:
            super().close()

    @staticmethod
    def _copy_pixels(obs: dict) -> dict[str, np.ndarray]:
        # Copies: an env may reuse its frame buffers, and a held (frozen / ended) frame must not change under us.
        return {camera: np.array(image, copy=True) for camera, image in obs[GYM_PIXELS].items()}

    def _ablate(self, obs: dict) -> dict:
        real = obs[GYM_PIXELS]
        if self.ablation == BLANK:
            pixels = {camera: np.full_like(image, GREY_LEVEL) for camera, image in real.items()}
        else:
            assert self._donor_pixels is not None  # set by reset()
            pixels = {camera: self._donor_pixels[camera] for camera in real}
        return {**obs, GYM_PIXELS: pixels}


def make_rollout_env(env_cfg: Any, image_ablation: str = NONE) -> gym.Env:
    """``vst_envs.make_env(env_cfg)``, wrapped for ``image_ablation`` (a donor env is built for shuffle / frozen)."""
    from vst_envs import make_env

    check_image_ablation(image_ablation)
    env = make_env(env_cfg)
    if image_ablation == NONE:
        return env
    try:
        donor = make_env(env_cfg) if image_ablation in (SHUFFLE, FROZEN) else None
    except BaseException:
        env.close()
        raise
    logger.info("rolling out with image ablation %r", image_ablation)
    return ImageAblationWrapper(env, image_ablation, donor)


def image_ablation_of(env: gym.Env) -> str:
    """The image ablation applied to ``env`` (``none`` when no :class:`ImageAblationWrapper` wraps it)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, ImageAblationWrapper):
            return env.ablation
        env = env.env
    return NONE
