"""The scripted expert behind the policy interface, to check the evaluation pipeline end to end.

``evaluate`` on :class:`ExpertPolicy` must report the expert's own success rate; anything lower points at the
rollout (observation conversion, action hand-off, success bookkeeping), not at a learned model. The expert reads
the simulator's privileged state from its env handle and ignores the batch, so this is not a policy to compare
learned ones against on equal terms.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from vst_envs import make_env, make_expert

__all__ = ["ExpertPolicy"]


class ExpertPolicy:
    """``select_action`` returns the scripted expert's action for the current state of ``env``.

    The policy must act on the env that :func:`~vst_vla.rollout.runner.evaluate` steps, so pass that env or let
    the policy make one and hand it to ``evaluate``::

        policy = ExpertPolicy(cfg)
        evaluate(lambda: policy.env, policy, seeds=[0, 1], out_dir=out)

    Args:
        cfg: the env config (e.g. ``LiftEnvConfig``) the expert is made for.
        env: the env to act in; made from ``cfg`` when omitted.
    """

    def __init__(self, cfg: Any, env: gym.Env | None = None) -> None:
        self.cfg = cfg
        self.env = env if env is not None else make_env(cfg)
        self.expert = make_expert(cfg)

    def reset(self) -> None:
        """Restart the expert's script (called at the start of every episode)."""
        self.expert.reset()

    def select_action(self, batch: dict[str, Any]) -> torch.Tensor:
        """The expert's action as a float32 (1, 7) tensor; ``batch`` is ignored (the expert reads the sim)."""
        action = np.asarray(self.expert.act(self.env), dtype=np.float32)
        return torch.from_numpy(action).unsqueeze(0)
