"""Policy rollouts in gymnasium envs: observation conversion, seeded episodes, evaluation runs and their outputs.

The scripted-expert adapter lives in :mod:`vst_vla.rollout.expert_policy` and is not imported here, so importing
this package never pulls in the simulator.
"""

from vst_vla.rollout.observation import gym_obs_to_batch
from vst_vla.rollout.runner import (
    EpisodeResult,
    Policy,
    PolicyActionError,
    evaluate,
    run_episode,
)
from vst_vla.rollout.stats import EvalSummary, format_summary_table, wilson_interval
from vst_vla.rollout.video import write_mp4

__all__ = [
    "EpisodeResult",
    "EvalSummary",
    "Policy",
    "PolicyActionError",
    "evaluate",
    "format_summary_table",
    "gym_obs_to_batch",
    "run_episode",
    "wilson_interval",
    "write_mp4",
]
