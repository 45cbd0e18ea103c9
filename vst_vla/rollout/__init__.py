"""Policy rollouts in gymnasium envs: observation conversion, seeded episodes, evaluation runs and their outputs.

The scripted-expert adapter lives in :mod:`vst_vla.rollout.expert_policy` and is not imported here, so importing
this package never pulls in the simulator. :func:`evaluate_parallel` (:mod:`vst_vla.rollout.parallel`) runs the
episodes in spawned worker processes; :mod:`vst_vla.rollout.multitask` evaluates several tasks.
"""

from vst_vla.rollout.observation import gym_obs_to_batch
from vst_vla.rollout.parallel import (
    ExpertPolicyFactory,
    PretrainedPolicyFactory,
    evaluate_parallel,
)
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
    "ExpertPolicyFactory",
    "Policy",
    "PolicyActionError",
    "PretrainedPolicyFactory",
    "evaluate",
    "evaluate_parallel",
    "format_summary_table",
    "gym_obs_to_batch",
    "run_episode",
    "wilson_interval",
    "write_mp4",
]
