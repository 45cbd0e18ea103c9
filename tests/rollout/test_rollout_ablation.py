"""Image ablations in rollouts: the camera images a policy receives under blank / shuffle / frozen, in the real Lift
env, compared with frames rendered independently; and which ablation the summaries record."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from vst_envs import LiftEnvConfig, make_env
from vst_envs.layout import GYM_AGENT_POS, GYM_PIXELS

from vst_vla.constants import OBS_STATE, image_key
from vst_vla.rollout import evaluate, run_episode
from vst_vla.rollout.ablation import DONOR_SEED_OFFSET, GREY_LEVEL, image_ablation_of, make_rollout_env

CFG = LiftEnvConfig(image_size=64, max_episode_steps=20, cheap_render=True)
CAMERA = image_key(CFG.cameras[0])
SEED, STEPS = 3, 4
# Move the arm (x, then z) with the gripper open, so consecutive frames differ.
ACTIONS = [np.array([0.8, 0.0, 0.5 * (t % 2), 0.0, 0.0, 0.0, -1.0], dtype=np.float32) for t in range(STEPS)]


class ReplayPolicy:
    """Returns ``ACTIONS`` in order and keeps every batch it was handed."""

    def __init__(self) -> None:
        self.batches: list[dict] = []

    def reset(self) -> None:
        self.batches.clear()

    def select_action(self, batch: dict) -> torch.Tensor:
        self.batches.append(batch)
        return torch.from_numpy(ACTIONS[len(self.batches) - 1]).unsqueeze(0)


def reference_episodes(*seeds: int) -> list[list[dict]]:
    """Per seed, the observations of a plain env replaying ``ACTIONS``: the reset one, then one per step."""
    env = make_env(CFG)
    try:
        episodes = []
        for seed in seeds:
            episodes.append([env.reset(seed=seed)[0]] + [env.step(action)[0] for action in ACTIONS[:-1]])
        return episodes
    finally:
        env.close()


def seen(policy: ReplayPolicy) -> list[np.ndarray]:
    """The camera images the policy received, back as uint8 (H, W, 3)."""
    return [(b[CAMERA][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for b in policy.batches]


def rollout(ablation: str) -> ReplayPolicy:
    env = make_rollout_env(CFG, ablation)
    policy = ReplayPolicy()
    try:
        assert image_ablation_of(env) == ablation
        result = run_episode(env, policy, SEED, max_steps=STEPS)
    finally:
        env.close()
    assert result.length == STEPS == len(policy.batches)
    return policy


@pytest.fixture(scope="module")
def references() -> list[list[dict]]:
    return reference_episodes(SEED, SEED + DONOR_SEED_OFFSET)


@pytest.fixture
def real(references) -> list[dict]:
    return references[0]


@pytest.fixture
def donor(references) -> list[dict]:
    return references[1]


def test_real_and_donor_episodes_look_different(real, donor) -> None:
    camera = CFG.cameras[0]
    for r, d in zip(real, donor, strict=True):
        assert not np.array_equal(r[GYM_PIXELS][camera], d[GYM_PIXELS][camera])
    # The policy still gets the real env's state under every ablation (checked below); make sure it would notice.
    assert not np.allclose(real[0][GYM_AGENT_POS], real[-1][GYM_AGENT_POS])


def _state_is_real(policy: ReplayPolicy, real: list[dict]) -> None:
    for batch, obs in zip(policy.batches, real, strict=True):
        assert torch.equal(batch[OBS_STATE][0], torch.from_numpy(obs[GYM_AGENT_POS]))


def test_blank_feeds_uniform_grey(real) -> None:
    policy = rollout("blank")
    for image in seen(policy):
        assert image.shape == (64, 64, 3) and (image == GREY_LEVEL).all()
    _state_is_real(policy, real)


def test_shuffle_feeds_the_donor_episode_live(real, donor) -> None:
    policy = rollout("shuffle")
    camera = CFG.cameras[0]
    for image, obs in zip(seen(policy), donor, strict=True):
        np.testing.assert_array_equal(image, obs[GYM_PIXELS][camera])
    images = seen(policy)
    assert not all(np.array_equal(images[0], image) for image in images[1:])  # live, not frozen
    _state_is_real(policy, real)


def test_frozen_holds_the_donor_first_frame(real, donor) -> None:
    policy = rollout("frozen")
    for image in seen(policy):
        np.testing.assert_array_equal(image, donor[0][GYM_PIXELS][CFG.cameras[0]])
    _state_is_real(policy, real)


def test_summary_records_the_ablation(tmp_path: Path) -> None:
    summary = evaluate(lambda: make_rollout_env(CFG, "blank"), ReplayPolicy(), [SEED], tmp_path, n_videos=0,
                       progress=False, max_steps=2)
    assert summary.image_ablation == "blank"
    assert json.loads((tmp_path / "summary.json").read_text())["image_ablation"] == "blank"
    plain = evaluate(lambda: make_env(CFG), ReplayPolicy(), [SEED], tmp_path / "plain", n_videos=0, progress=False,
                     max_steps=2)
    assert plain.image_ablation == "none"


def test_parallel_workers_build_the_same_wrapper() -> None:
    """The worker initialiser (run here, in-process) wraps its env like the sequential path does."""
    from vst_vla.rollout import parallel
    from vst_vla.rollout.parallel import ExpertPolicyFactory

    parallel._init_worker(CFG.to_dict(), ExpertPolicyFactory(), 2, torch.get_num_threads(), "frozen")
    try:
        assert "error" not in parallel._WORKER
        assert image_ablation_of(parallel._WORKER["env"]) == "frozen"
        assert parallel._run_seed(SEED, False).length == 2
    finally:
        parallel._WORKER.pop("env").close()
        parallel._WORKER.clear()

