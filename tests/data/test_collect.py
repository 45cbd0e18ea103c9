"""collect_demos: what it writes (read back through LeRobot's own loader), what it drops, what it refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from vst_envs import make_env, make_expert
from vst_envs.config import LiftEnvConfig, env_config_from_dict

from vst_vla.constants import ACTION, OBS_STATE, TASK, image_key
from vst_vla.data import episode_sources
from vst_vla.data.collect import collect_demos
from vst_vla.data.config import ENV_METADATA_FILE, CollectConfig

IMAGE = image_key("agentview")


def _lerobot(root: Path) -> LeRobotDataset:
    return LeRobotDataset("local/vst_lift", root=root, video_backend="pyav")


def _leftovers(parent: Path) -> list[str]:
    """Hidden temp / trash directories collect_demos might have left next to the dataset."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_round_trip_through_lerobot_loader(tiny_lift_dataset: Any) -> None:
    root, report = tiny_lift_dataset.root, tiny_lift_dataset.report
    ds = _lerobot(root)
    assert (report.episodes_kept, report.episodes_dropped, report.successes) == (2, 0, 2)
    assert ds.num_episodes == 2
    assert ds.num_frames == len(ds) == report.frames
    assert ds.fps == tiny_lift_dataset.env_cfg.control_freq
    assert ds.features[IMAGE]["dtype"] == "video"
    assert tuple(ds.features[IMAGE]["shape"]) == (64, 64, 3)
    assert ds.features[IMAGE]["names"] == ["height", "width", "channels"]
    lengths = [int(ds.meta.episodes[i]["length"]) for i in range(2)]
    assert sum(lengths) == report.frames and all(0 < n < 150 for n in lengths)
    for idx in (0, lengths[0], len(ds) - 1):  # first frame, first frame of episode 1, last frame
        item = ds[idx]
        assert item[IMAGE].shape == (3, 64, 64) and item[IMAGE].dtype == torch.float32
        assert item[OBS_STATE].shape == (9,) and item[OBS_STATE].dtype == torch.float32
        assert item[ACTION].shape == (7,) and item[ACTION].dtype == torch.float32
        assert item[TASK] == "lift the red cube"
    for q in ("q01", "q99"):
        assert ds.meta.stats[ACTION][q].shape == (7,)
    # Nothing half-written or staged is left behind.
    assert _leftovers(root.parent) == []
    assert not (root / "images").exists()


def test_env_metadata_rebuilds_the_env_config(tiny_lift_dataset: Any) -> None:
    meta = json.loads((tiny_lift_dataset.root / ENV_METADATA_FILE).read_text())
    assert env_config_from_dict(meta["env"]) == tiny_lift_dataset.env_cfg
    assert meta["collection"]["expert"] == "LiftExpert"
    assert meta["collection"]["episode_seeds"] == [10_000, 10_001] == list(tiny_lift_dataset.report.seeds)
    assert meta["collection"]["dropped_seeds"] == []


def test_recorded_episode_replays_with_the_expert(tiny_lift_dataset: Any) -> None:
    """The stored actions and states are exactly what the expert did on the recorded seed; images match the
    env's to within video-codec error."""
    ds = _lerobot(tiny_lift_dataset.root)
    ep = ds.meta.episodes[0]
    start, end = int(ep["dataset_from_index"]), int(ep["dataset_to_index"])
    rows = ds.hf_dataset.select_columns([ACTION, OBS_STATE]).with_format("numpy")[start:end]
    env, expert = make_env(tiny_lift_dataset.env_cfg), make_expert(tiny_lift_dataset.env_cfg)
    try:
        obs, _ = env.reset(seed=tiny_lift_dataset.report.seeds[0])
        expert.reset()
        first_image = obs["pixels"]["agentview"].astype(np.float32) / 255
        for t in range(end - start):
            action = expert.act(env)
            np.testing.assert_array_equal(rows[OBS_STATE][t], obs["agent_pos"])
            np.testing.assert_array_equal(rows[ACTION][t], action)
            obs, _, terminated, _, info = env.step(action)
        assert terminated and info["is_success"]  # the episode ends exactly at the success step
    finally:
        env.close()
    decoded = ds[start][IMAGE].permute(1, 2, 0).numpy()
    assert np.abs(decoded - first_image).mean() < 0.03  # lossy AV1: small mean error


def test_refuses_to_overwrite_existing_dataset(tiny_lift_dataset: Any) -> None:
    before = sorted(p.relative_to(tiny_lift_dataset.root) for p in tiny_lift_dataset.root.rglob("*"))
    cfg = CollectConfig(root=str(tiny_lift_dataset.root), num_episodes=1)
    with pytest.raises(FileExistsError, match=r"already exists; refusing to overwrite it. Pass overwrite=True"):
        collect_demos(tiny_lift_dataset.env_cfg, cfg)
    assert sorted(p.relative_to(tiny_lift_dataset.root) for p in tiny_lift_dataset.root.rglob("*")) == before


def test_overwrite_never_deletes_a_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "keep.py").write_text("x = 1\n")
    cfg = CollectConfig(root=str(tmp_path / "src"), num_episodes=1, overwrite=True)
    with pytest.raises(FileExistsError, match="neither an empty directory nor a LeRobot dataset"):
        collect_demos(LiftEnvConfig(image_size=32), cfg)
    assert (tmp_path / "src" / "keep.py").read_text() == "x = 1\n"


def test_overwrite_replaces_a_dataset_and_keep_failed_keeps_failures(tiny_lift_dataset: Any, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(tiny_lift_dataset.root, root)
    # 5 steps is far too short for the expert to lift the cube: the episode fails, and keep_failed keeps it.
    env_cfg = LiftEnvConfig(image_size=32, max_episode_steps=5)
    cfg = CollectConfig(root=str(root), num_episodes=1, seed=7, keep_failed=True, overwrite=True)
    report = collect_demos(env_cfg, cfg)
    assert (report.episodes_kept, report.episodes_dropped, report.successes, report.frames) == (1, 0, 0, 5)
    ds = _lerobot(root)
    assert (ds.num_episodes, len(ds), tuple(ds.features[IMAGE]["shape"])) == (1, 5, (32, 32, 3))
    meta = json.loads((root / ENV_METADATA_FILE).read_text())
    assert meta["collection"]["episode_seeds"] == [7] and meta["collection"]["episode_success"] == [False]
    assert _leftovers(tmp_path) == []


def test_too_few_successes_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    cfg = CollectConfig(root=str(root), num_episodes=1, seed=0, max_attempts=2)
    with pytest.raises(RuntimeError) as err:
        collect_demos(LiftEnvConfig(image_size=32, max_episode_steps=5), cfg)
    message = str(err.value)
    assert "only 0 of the 1 requested episodes succeeded after 2 attempts" in message
    assert "failed on seeds [0, 1]" in message and "keep_failed" in message and "max_episode_steps" in message
    assert not root.exists()
    assert _leftovers(tmp_path) == []


class _SabotagedExpert:
    """Wraps the real expert but does nothing on chosen attempts (counted by reset), so those episodes fail."""

    def __init__(self, expert: Any, fail_attempts: set[int]) -> None:
        self.expert, self.fail_attempts, self.attempt = expert, fail_attempts, -1

    def reset(self) -> None:
        self.attempt += 1
        self.expert.reset()

    def act(self, env: Any) -> np.ndarray:
        action = self.expert.act(env)
        return np.zeros_like(action) if self.attempt in self.fail_attempts else action


def test_failed_episode_is_dropped_and_collection_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process (num_workers=1), where the patched expert factory is the one in use.
    monkeypatch.setattr(episode_sources, "make_expert", lambda cfg: _SabotagedExpert(make_expert(cfg), {0}))
    root = tmp_path / "ds"
    env_cfg = LiftEnvConfig(image_size=32, max_episode_steps=80)
    report = collect_demos(env_cfg, CollectConfig(root=str(root), num_episodes=1, seed=3, num_workers=1))
    assert (report.episodes_kept, report.episodes_dropped, report.seeds) == (1, 1, (4,))
    ds = _lerobot(root)
    # The dropped attempt's 80 frames never reach the dataset: it holds only the successful episode.
    assert ds.num_episodes == 1 and len(ds) == report.frames < 80
    assert ds[0]["episode_index"].item() == 0 and ds[len(ds) - 1]["frame_index"].item() == len(ds) - 1
    meta = json.loads((root / ENV_METADATA_FILE).read_text())
    assert meta["collection"]["dropped_seeds"] == [3] and meta["collection"]["episode_seeds"] == [4]
