"""Collection on worker processes writes the same dataset as collection in one process, seed for seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vst_envs.config import LiftEnvConfig, TabletopEnvConfig

from tests.data.episodes import dataset_episodes
from vst_vla.constants import image_key
from vst_vla.data.collect import CollectReport, collect_demos
from vst_vla.data.config import ENV_METADATA_FILE, CollectConfig
from vst_vla.data.episode_sources import InProcessEpisodes, WorkerEpisodes

IMAGE = image_key("agentview")
# 32 px with cheap rendering keeps an episode near a second. The expert needs 45 steps on seed 0 and 42-44 on
# seeds 1-3 (rendering does not change the physics), so with 44 steps seed 0 fails and is dropped.
ENV = LiftEnvConfig(image_size=32, cheap_render=True, max_episode_steps=44)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[CollectReport, Path]]:
    """The same 3-episode collection with 1 worker (this process) and with 2 worker processes."""
    out = {}
    for workers in (1, 2):
        root = tmp_path_factory.mktemp(f"workers{workers}") / "ds"
        report = collect_demos(ENV, CollectConfig(root=str(root), num_episodes=3, seed=0, num_workers=workers))
        out[workers] = (report, root)
    return out




def test_two_workers_write_the_same_dataset_as_one(collected: dict[int, tuple[CollectReport, Path]]) -> None:
    (one, one_root), (two, two_root) = collected[1], collected[2]
    assert (one.seeds, one.episodes_dropped, one.frames) == ((1, 2, 3), 1, 131)  # seed 0 failed and was dropped
    assert (two.seeds, two.episodes_dropped, two.frames, two.successes) == (one.seeds, 1, 131, 3)
    meta = [json.loads((root / ENV_METADATA_FILE).read_text())["collection"] for root in (one_root, two_root)]
    assert meta[0]["dropped_seeds"] == meta[1]["dropped_seeds"] == [0]
    expected, actual = dataset_episodes(one_root), dataset_episodes(two_root)
    assert [e["seed"] for e in actual] == [e["seed"] for e in expected] == [1, 2, 3]
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a["states"], e["states"])
        np.testing.assert_array_equal(a["actions"], e["actions"])
        assert a["frames_sha256"] == e["frames_sha256"], f"seed {e['seed']}: the video frames differ"
    # Different seeds really do give different frames, so equal hashes above are not a coincidence.
    assert len({e["frames_sha256"] for e in expected}) == 3


def test_workers_switch_tasks_and_give_each_seed_the_in_process_episode() -> None:
    """Raw (pre-codec) episodes of two tasks from two workers equal those rolled out in this process."""
    tasks = {
        "lift": LiftEnvConfig(image_size=32, cheap_render=True, max_episode_steps=4),
        "tabletop_pick": TabletopEnvConfig(image_size=32, cheap_render=True, max_episode_steps=4),
    }
    seeds = [5, 6, 7]
    local = InProcessEpisodes()
    workers = WorkerEpisodes(num_workers=2)
    try:
        for name, cfg in tasks.items():
            expected = list(local.episodes(name, cfg, seeds, wanted=lambda: len(seeds)))
            actual = list(workers.episodes(name, cfg, seeds, wanted=lambda: len(seeds)))
            assert [ep.seed for ep in actual] == seeds  # in seed order, whichever worker finished first
            for a, e in zip(actual, expected, strict=True):
                assert (a.task, a.success, a.length, a.expert) == (e.task, e.success, e.length, e.expert)
                np.testing.assert_array_equal(a.images["agentview"], e.images["agentview"])
                np.testing.assert_array_equal(a.states, e.states)
                np.testing.assert_array_equal(a.actions, e.actions)
    finally:
        workers.close()


def test_worker_errors_reach_the_collector_with_their_own_type() -> None:
    workers = WorkerEpisodes(num_workers=2)
    try:
        # Forced past validation here, the config fails where the worker rebuilds it from its dict.
        bad = LiftEnvConfig(image_size=32, max_episode_steps=2)
        object.__setattr__(bad, "robot", "NoSuchRobot")
        with pytest.raises(ValueError, match="robot must be one of .*, got 'NoSuchRobot'"):
            next(workers.episodes("lift", bad, [0], wanted=lambda: 1))
    finally:
        workers.close()


def test_worker_episodes_needs_two_workers() -> None:
    with pytest.raises(ValueError, match="num_workers >= 2, got 1"):
        WorkerEpisodes(num_workers=1)
