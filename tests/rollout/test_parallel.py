"""Parallel evaluation: worker processes reproduce the sequential run seed by seed, and report their errors."""

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest
from vst_envs import LiftEnvConfig

from vst_vla.rollout import PolicyActionError, evaluate
from vst_vla.rollout.expert_policy import ExpertPolicy
from vst_vla.rollout.parallel import ExpertPolicyFactory, evaluate_parallel
from vst_vla.rollout.policy_eval import evaluate_policy

# Imports here stay light: a worker unpickling FailingFactory imports this module, and vst_vla.config.schema
# (RolloutConfig) would pull in transformers (~15 s per worker on a busy machine).

# Small cheap-render images keep the workers fast. The expert needs 45, 44 and 43 steps on seeds 0-2, so a 44-step limit
# gives both successes and a failure (seed 0) to compare.
CFG = LiftEnvConfig(image_size=64, max_episode_steps=44, cheap_render=True)


class FailingFactory:
    """A policy factory whose construction fails in the worker."""

    def __call__(self, env):
        raise ValueError("no such checkpoint: /nowhere")


def _records(out: Path) -> list[dict]:
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("seconds")  # wall-clock time is the one field that may differ
    return records


def test_parallel_matches_sequential(tmp_path: Path) -> None:
    seeds = [0, 1, 2]
    policy = ExpertPolicy(CFG)
    sequential = evaluate(lambda: policy.env, policy, seeds, tmp_path / "seq", n_videos=1, progress=False)

    # evaluate_policy reads these RolloutConfig fields (RolloutConfig itself is tested in test_rollout_config.py).
    rollout = SimpleNamespace(seeds=seeds, n_videos=1, max_steps=None, num_workers=2)
    parallel = evaluate_policy(None, CFG, rollout, tmp_path / "par", progress=False,
                               policy_factory=ExpertPolicyFactory())

    assert _records(tmp_path / "par") == _records(tmp_path / "seq")
    assert [r["seed"] for r in _records(tmp_path / "par")] == seeds
    assert 0 < sequential.successes < len(seeds)
    assert (parallel.successes, parallel.mean_episode_length, parallel.mean_reward) == (
        sequential.successes, sequential.mean_episode_length, sequential.mean_reward)
    # Same video files, written by the parent from the frames the worker sent back.
    videos = sorted(p.name for p in (tmp_path / "par").glob("*.mp4"))
    assert videos == sorted(p.name for p in (tmp_path / "seq").glob("*.mp4")) == ["episode_0.mp4"]
    assert (tmp_path / "par" / "summary.json").is_file()


def test_worker_error_reaches_the_parent_with_its_type(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such checkpoint"):
        evaluate_parallel(CFG, FailingFactory(), [0, 1], tmp_path, num_workers=1, progress=False)
    assert not (tmp_path / "summary.json").exists()


def test_arguments_are_checked_before_any_worker_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_workers"):
        evaluate_parallel(CFG, ExpertPolicyFactory(), [0], tmp_path, num_workers=0)
    with pytest.raises(ValueError, match="distinct"):
        evaluate_parallel(CFG, ExpertPolicyFactory(), [0, 0], tmp_path)
    with pytest.raises(ValueError, match="image_size"):
        evaluate_parallel({"type": "lift", "image_size": 0}, ExpertPolicyFactory(), [0], tmp_path)


def test_policy_action_error_survives_pickling() -> None:
    # Worker errors travel to the parent pickled; this one has a three-argument constructor.
    err = pickle.loads(pickle.dumps(PolicyActionError("action is not finite", seed=3, step=7)))
    assert (str(err), err.seed, err.step) == ("seed 3, step 7: action is not finite", 3, 7)
