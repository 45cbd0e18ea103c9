"""run_episode / evaluate against the real Lift env: expert end to end, output files, bad actions, determinism."""

import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from vst_envs import LiftEnvConfig, make_env

from vst_vla.constants import OBS_STATE, TASK, image_key
from vst_vla.rollout import EvalSummary, PolicyActionError, evaluate, run_episode
from vst_vla.rollout.expert_policy import ExpertPolicy

# Small images and a short horizon keep this file fast; the expert lifts the cube in ~45 steps.
CFG = LiftEnvConfig(image_size=64, max_episode_steps=80, cheap_render=True)


@pytest.fixture
def env() -> Iterator:
    # One env per test, not per module: closing any other env in the process (evaluate closes its own) releases
    # the current EGL context, after which an older env renders garbage frames (vst_envs issue, reported).
    env = make_env(CFG)
    yield env
    env.close()


class ScriptedPolicy:
    """Returns ``actions(step)`` as the policy output; records what the rollout handed it."""

    def __init__(self, actions) -> None:
        self.actions = actions
        self.resets = 0
        self.step = 0
        self.batches: list[dict] = []
        self.inference_mode: list[bool] = []

    def reset(self) -> None:
        self.resets += 1
        self.step = 0

    def select_action(self, batch: dict) -> torch.Tensor:
        self.batches.append(batch)
        self.inference_mode.append(torch.is_inference_mode_enabled())
        action = self.actions(self.resets, self.step)
        self.step += 1
        return action


def _decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_evaluate_expert_end_to_end(tmp_path: Path) -> None:
    policy = ExpertPolicy(CFG)
    seeds = [3, 7]
    summary = evaluate(lambda: policy.env, policy, seeds, tmp_path / "eval", n_videos=1, progress=True)

    assert summary.n_episodes == 2 and summary.successes == 2 and summary.success_rate == 1.0
    assert summary.ci_high == 1.0 and 0 < summary.ci_low < 1

    out = tmp_path / "eval"
    lines = (out / "episodes.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seed"] for r in records] == seeds
    assert all(r["success"] is True and 0 < r["length"] < CFG.max_episode_steps for r in records)
    assert summary.mean_episode_length == pytest.approx(np.mean([r["length"] for r in records]))
    assert [r["video"] for r in records] == ["episode_3.mp4", None]

    assert EvalSummary.from_dict(json.loads((out / "summary.json").read_text())) == summary

    # Only the first n_videos episodes are filmed: the reset frame plus one frame per step.
    assert not (out / "episode_7.mp4").exists()
    assert _decoded_frames(out / "episode_3.mp4") == records[0]["length"] + 1
    assert sorted(p.name for p in out.iterdir()) == ["episode_3.mp4", "episodes.jsonl", "summary.json"]


def test_policy_gets_the_batch_contract_under_inference_mode(env) -> None:
    policy = ScriptedPolicy(lambda episode, step: torch.zeros(1, 7))
    result = run_episode(env, policy, seed=0, max_steps=3)
    assert result.length == 3 and policy.resets == 1 and result.frames is None
    batch = policy.batches[0]
    assert set(batch) == {image_key("agentview"), OBS_STATE, TASK}
    assert batch[image_key("agentview")].shape == (1, 3, 64, 64)
    assert batch[OBS_STATE].shape == (1, 9)
    assert batch[TASK] == [CFG.instruction]
    assert all(policy.inference_mode)


@pytest.mark.parametrize(
    ("bad_action", "match"),
    [
        (torch.tensor([[0.0, 0.0, float("nan"), 0.0, 0.0, 0.0, 0.0]]), "not finite"),
        (torch.tensor([[0.0, 0.0, 0.0, float("inf"), 0.0, 0.0, 0.0]]), "not finite"),
        (torch.zeros(1, 6), r"shape \(1, 6\), expected \(1, 7\)"),
        (torch.zeros(7), r"shape \(7,\), expected \(1, 7\)"),
        ([0.0] * 7, "returned list"),
    ],
)
def test_bad_action_raises_naming_seed_and_step(env, bad_action, match: str) -> None:
    policy = ScriptedPolicy(lambda episode, step: torch.zeros(1, 7) if step < 2 else bad_action)
    with pytest.raises(PolicyActionError, match=match) as excinfo:
        run_episode(env, policy, seed=5)
    assert str(excinfo.value).startswith("seed 5, step 2:")
    assert (excinfo.value.seed, excinfo.value.step) == (5, 2)


def test_crash_mid_evaluation_keeps_finished_episodes(tmp_path: Path) -> None:
    # The second episode's policy breaks at its first step.
    policy = ScriptedPolicy(lambda episode, step: torch.zeros(1, 7) if episode == 1 else torch.full((1, 7), torch.nan))
    (tmp_path / "summary.json").write_text("{}")  # left by an earlier run: must not survive this one
    with pytest.raises(PolicyActionError, match="seed 11, step 0"):
        evaluate(lambda: make_env(CFG), policy, [10, 11], tmp_path, n_videos=0, progress=False, max_steps=3)
    records = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert [(r["seed"], r["length"], r["success"]) for r in records] == [(10, 3, False)]
    assert not (tmp_path / "summary.json").exists()


def test_episode_depends_only_on_its_seed(env) -> None:
    # A sampling policy: the rollout seeds torch per episode, so replaying a seed after another one reproduces it
    # (what a multi-process evaluation relies on to match the sequential one).
    policy = ScriptedPolicy(lambda episode, step: torch.rand(1, 7) * 2 - 1)
    first = run_episode(env, policy, seed=4, max_steps=4, record_video=True)
    run_episode(env, policy, seed=9, max_steps=4)
    again = run_episode(env, policy, seed=4, max_steps=4, record_video=True)
    assert policy.resets == 3
    assert len(first.frames) == 5 and first.frames[0].shape == (64, 64, 3)
    for a, b in zip(first.frames, again.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (first.length, first.success, first.total_reward) == (again.length, again.success, again.total_reward)


def test_evaluate_validates_arguments_before_making_the_env(tmp_path: Path) -> None:
    def no_env():
        raise AssertionError("the env must not be built for invalid arguments")

    policy = ScriptedPolicy(lambda episode, step: torch.zeros(1, 7))
    with pytest.raises(ValueError, match="at least one seed"):
        evaluate(no_env, policy, [], tmp_path)
    with pytest.raises(ValueError, match=r"distinct, repeated: \[1\]"):
        evaluate(no_env, policy, [1, 2, 1], tmp_path)
    with pytest.raises(ValueError, match="n_videos"):
        evaluate(no_env, policy, [1], tmp_path, n_videos=-1)
