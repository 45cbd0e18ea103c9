"""An interrupted collection, rerun: every finished episode kept (not collected again), none twice, nothing
half-written taken for finished, and the dataset equal to an uninterrupted run's; other settings are refused."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vst_envs.config import LiftEnvConfig

from tests.data.episodes import dataset_episodes
from vst_vla import io
from vst_vla.constants import image_key
from vst_vla.data import collect as collect_module
from vst_vla.data.collect import CollectReport, collect_demos
from vst_vla.data.config import ENV_METADATA_FILE, CollectConfig
from vst_vla.data.episode_sources import InProcessEpisodes
from vst_vla.data.staging import EPISODES_DIR, staging_dir
from vst_vla.errors import OutputExistsError

IMAGE = image_key("agentview")
# As in test_collect_workers: with 44 steps the expert fails on seed 0 (dropped) and succeeds on seeds 1-3.
ENV = LiftEnvConfig(image_size=32, cheap_render=True, max_episode_steps=44)


class _Killed(BaseException):
    """Stands in for a kill: a BaseException, so only Ctrl-C-style cleanup runs, and the test sees it."""


def _config(root: Path, **overrides: Any) -> CollectConfig:
    return CollectConfig(**{"root": str(root), "num_episodes": 3, "seed": 0, "num_workers": 1, **overrides})


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _leave_half_written_episode(episodes_dir: Path, seed: int) -> Path:
    """What a SIGKILL during an episode write leaves: its temporary one-episode dataset, named by a dead writer."""
    name = f"task000-seed{seed:012d}"
    half = episodes_dir / f".{name}.{_dead_pid()}@{io._HOST}.0123456789ab.tmp"
    (half / "data" / "chunk-000").mkdir(parents=True)
    (half / "data" / "chunk-000" / "file-000.parquet").write_bytes(b"PAR1 cut short")
    return half




def _assert_same_dataset(root: Path, reference: Path) -> None:
    got, want = dataset_episodes(root), dataset_episodes(reference)
    assert [e["seed"] for e in got] == [e["seed"] for e in want] == [1, 2, 3]  # each once, in order
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g["states"], w["states"])
        np.testing.assert_array_equal(g["actions"], w["actions"])
        assert g["frames_sha256"] == w["frames_sha256"], f"seed {w['seed']}: the video frames differ"
    meta, ref_meta = (json.loads((r / ENV_METADATA_FILE).read_text())["collection"] for r in (root, reference))
    assert meta["dropped_seeds"] == ref_meta["dropped_seeds"] == [0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[CollectReport, Path]:
    """The uninterrupted collection."""
    root = tmp_path_factory.mktemp("reference") / "ds"
    return collect_demos(ENV, _config(root)), root


def _count_writes(monkeypatch: pytest.MonkeyPatch, kill_at: int | None = None) -> list[int]:
    """Record the seed of every episode written; with ``kill_at``, 'kill' the collection at that write (1-based)."""
    written: list[int] = []
    real = collect_module.write_episode_dataset

    def write(episode: Any, path: Path, **kwargs: Any) -> None:
        written.append(episode.seed)
        if len(written) == kill_at:
            real(episode, path, **kwargs)  # written, but killed before it is renamed to its finished name
            raise _Killed
        real(episode, path, **kwargs)

    monkeypatch.setattr(collect_module, "write_episode_dataset", write)
    return written


def test_rerun_keeps_finished_episodes_and_equals_an_uninterrupted_run(
    reference: tuple[CollectReport, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "ds"
    with monkeypatch.context() as patch:
        _count_writes(patch, kill_at=3)
        with pytest.raises(_Killed):
            collect_demos(ENV, _config(root))
    staging = staging_dir(root)
    assert not root.exists()  # nothing at root until the whole dataset is complete
    finished = sorted(p.name for p in (staging / EPISODES_DIR).iterdir() if not p.name.startswith("."))
    assert finished == ["task000-seed000000000001", "task000-seed000000000002"]
    half = _leave_half_written_episode(staging / EPISODES_DIR, seed=3)

    written = _count_writes(monkeypatch)
    with caplog.at_level(logging.INFO, logger="vst_vla.data.collect"):
        report = collect_demos(ENV, _config(root))
    assert written == [3]  # only the missing episode was collected; the finished ones were kept
    assert "resumed 2 finished episodes of the interrupted collection" in caplog.text
    assert (report.episodes_resumed, report.seeds, report.episodes_dropped) == (2, (1, 2, 3), 1)
    assert report.frames == reference[0].frames
    _assert_same_dataset(root, reference[1])
    assert not half.exists() and not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_kill_after_the_last_episode_resumes_without_rolling_out(
    reference: tuple[CollectReport, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "ds"

    def killed_while_merging(*args: Any, **kwargs: Any) -> None:
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(collect_module, "merge_episode_datasets", killed_while_merging)
        with pytest.raises(_Killed):
            collect_demos(ENV, _config(root))
    assert len(list((staging_dir(root) / EPISODES_DIR).iterdir())) == 3 and not root.exists()

    real_episodes = InProcessEpisodes.episodes

    def episodes(self: InProcessEpisodes, task: str, env_cfg: Any, seeds: Any, wanted: Any) -> Any:
        assert not seeds, f"every episode was finished, yet seeds {list(seeds)} were rolled out again"
        return real_episodes(self, task, env_cfg, seeds, wanted)

    monkeypatch.setattr(InProcessEpisodes, "episodes", episodes)
    report = collect_demos(ENV, _config(root))
    assert report.episodes_resumed == 3
    _assert_same_dataset(root, reference[1])


def test_other_settings_are_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    with monkeypatch.context() as patch:
        _count_writes(patch, kill_at=2)
        with pytest.raises(_Killed):
            collect_demos(ENV, _config(root))
    staging = staging_dir(root)
    before = sorted(p.relative_to(staging) for p in staging.rglob("*"))
    with pytest.raises(OutputExistsError, match=r"collect\.num_episodes: 3 there, 4 in this run") as err:
        collect_demos(ENV, _config(root, num_episodes=4))
    assert str(staging) in str(err.value) and "collect.overwrite=true" in str(err.value)
    with pytest.raises(OutputExistsError, match=r"env\.image_size: 32 there, 48 in this run"):
        collect_demos(LiftEnvConfig(image_size=48, cheap_render=True, max_episode_steps=44), _config(root))
    assert sorted(p.relative_to(staging) for p in staging.rglob("*")) == before  # nothing was mixed in or lost

    # overwrite discards the other collection's episodes and starts afresh.
    written = _count_writes(monkeypatch)
    report = collect_demos(ENV, _config(root, num_episodes=1, overwrite=True))
    assert (report.episodes_resumed, report.seeds, written) == (0, (1,), [1])
    assert not staging.exists()


def test_kill_after_the_move_into_place_leaves_no_staging_behind(
    reference: tuple[CollectReport, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kill between the dataset's rename into place and the staging directory's deletion: the next run (same
    settings, no overwrite) deletes the finished collection's staging directory, then refuses the existing
    dataset as any rerun does, and the dataset is untouched."""
    root = tmp_path / "ds"
    real_discard = collect_module.CollectionStaging.discard

    def killed_before_discard(self: Any) -> None:
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(collect_module.CollectionStaging, "discard", killed_before_discard)
        with pytest.raises(_Killed):
            collect_demos(ENV, _config(root))
    assert root.is_dir() and staging_dir(root).is_dir()
    assert collect_module.CollectionStaging.discard is real_discard
    with pytest.raises(OutputExistsError):
        collect_demos(ENV, _config(root))
    assert not staging_dir(root).exists()
    _assert_same_dataset(root, reference[1])
