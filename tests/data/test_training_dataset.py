"""open_dataset validation, dataset_stats, load_env_metadata and VLATrainingDataset's items and action window."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from vst_vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key
from vst_vla.data import dataset as dataset_module
from vst_vla.data.config import ENV_METADATA_FILE, DatasetConfig
from vst_vla.data.dataset import (
    InvalidDatasetError,
    VLATrainingDataset,
    dataset_stats,
    load_env_metadata,
    open_dataset,
)

IMAGE = image_key("agentview")
CHUNK = 8


@pytest.fixture(scope="module")
def training_dataset(tiny_lift_dataset: Any) -> VLATrainingDataset:
    return VLATrainingDataset.from_config(DatasetConfig(root=str(tiny_lift_dataset.root)), CHUNK, progress=False)


def _episode_bounds(ds: VLATrainingDataset) -> list[tuple[int, int]]:
    return [(int(ep["dataset_from_index"]), int(ep["dataset_to_index"])) for ep in ds.lerobot.meta.episodes]


def test_open_dataset_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as err:
        open_dataset(DatasetConfig(root=str(missing)))
    assert str(missing) in str(err.value) and "python -m vst_vla.collect" in str(err.value)
    assert "dataset.root" in str(err.value)
    assert not missing.exists()  # LeRobot would have created it


def test_open_dataset_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatasetError, match=r"is not a LeRobot dataset: .*meta/info.json is missing"):
        open_dataset(DatasetConfig(root=str(tmp_path)))


@pytest.mark.parametrize(
    ("overrides", "missing", "field"),
    [
        ({"image_keys": [image_key("robot0_eye_in_hand")]}, image_key("robot0_eye_in_hand"), "image_keys"),
        ({"state_key": "observation.environment_state"}, "observation.environment_state", "state_key"),
        ({"action_key": "action.joints"}, "action.joints", "action_key"),
    ],
)
def test_open_dataset_missing_feature(tiny_lift_dataset: Any, overrides: dict, missing: str, field: str) -> None:
    with pytest.raises(InvalidDatasetError) as err:
        open_dataset(DatasetConfig(root=str(tiny_lift_dataset.root), **overrides))
    message = str(err.value)
    assert f"no feature {missing!r} (dataset.{field})" in message
    assert IMAGE in message and OBS_STATE in message  # lists what is available


def test_open_dataset_rejects_a_non_image_as_image(tiny_lift_dataset: Any) -> None:
    with pytest.raises(InvalidDatasetError, match=r"'action' .* is a 'float32' feature, not an image or video"):
        open_dataset(DatasetConfig(root=str(tiny_lift_dataset.root), image_keys=[ACTION]))


def test_env_metadata_and_stats(tiny_lift_dataset: Any, tmp_path: Path) -> None:
    meta = load_env_metadata(tiny_lift_dataset.root)
    assert meta is not None and meta["env"] == tiny_lift_dataset.env_cfg.to_dict()
    copy = tmp_path / "copy"
    shutil.copytree(tiny_lift_dataset.root, copy)
    (copy / ENV_METADATA_FILE).unlink()
    assert load_env_metadata(copy) is None

    stats = dataset_stats(open_dataset(DatasetConfig(root=str(tiny_lift_dataset.root))))
    for key, dim in ((ACTION, 7), (OBS_STATE, 9)):
        for name in ("mean", "std", "min", "max", "q01", "q99"):
            assert stats[key][name].shape == (dim,) and stats[key][name].dtype == np.float32
        assert np.all(stats[key]["min"] <= stats[key]["q01"] + 1e-6)
        assert np.all(stats[key]["q01"] <= stats[key]["q99"] + 1e-6)
        assert np.all(stats[key]["q99"] <= stats[key]["max"] + 1e-6)
    assert stats[IMAGE]["mean"].shape == (3, 1, 1)


def test_items_equal_lerobot_loader(tiny_lift_dataset: Any, training_dataset: VLATrainingDataset) -> None:
    """Images bit-identical to LeRobot's decoder; the action window equals LeRobot's delta_timestamps window."""
    fps = training_dataset.fps
    reference = LeRobotDataset(
        "local/vst_lift",
        root=tiny_lift_dataset.root,
        video_backend="pyav",
        delta_timestamps={ACTION: [k / fps for k in range(CHUNK)]},
    )
    assert len(training_dataset) == len(reference)
    for idx in range(len(reference)):
        ours, ref = training_dataset[idx], reference[idx]
        assert torch.equal(ours[IMAGE], ref[IMAGE]), idx
        assert torch.equal(ours[OBS_STATE], ref[OBS_STATE]), idx
        assert torch.equal(ours[ACTION], ref[ACTION]), idx
        assert torch.equal(ours[ACTION_IS_PAD], ref[f"{ACTION}_is_pad"]), idx
        assert ours[TASK] == ref[TASK] == "lift the red cube"


def test_item_shapes_and_types(training_dataset: VLATrainingDataset) -> None:
    item = training_dataset[3]
    assert set(item) == {IMAGE, OBS_STATE, ACTION, ACTION_IS_PAD, TASK, "episode_index", "frame_index"}
    assert item[IMAGE].shape == (3, 64, 64) and item[IMAGE].dtype == torch.float32
    assert item[IMAGE].min() >= 0.0 and item[IMAGE].max() <= 1.0
    assert item[OBS_STATE].shape == (9,) and item[OBS_STATE].dtype == torch.float32
    assert item[ACTION].shape == (CHUNK, 7) and item[ACTION].dtype == torch.float32
    assert item[ACTION_IS_PAD].dtype == torch.bool and not item[ACTION_IS_PAD].any()
    assert (training_dataset.state_dim, training_dataset.action_dim, training_dataset.num_episodes) == (9, 7, 2)
    assert training_dataset.cached


def test_action_window_pads_at_episode_end(training_dataset: VLATrainingDataset) -> None:
    (start, end), (start1, _) = _episode_bounds(training_dataset)
    actions = training_dataset.lerobot.hf_dataset.select_columns([ACTION]).with_format("torch")[:][ACTION]
    # A window that ends exactly on the last frame needs no padding.
    full = training_dataset[end - CHUNK]
    assert not full[ACTION_IS_PAD].any()
    assert torch.equal(full[ACTION], actions[end - CHUNK : end])
    # Three frames before the end: three real actions, then the last one repeated, flagged as padding.
    near_end = training_dataset[end - 3]
    assert near_end[ACTION_IS_PAD].tolist() == [False] * 3 + [True] * (CHUNK - 3)
    assert torch.equal(near_end[ACTION][:3], actions[end - 3 : end])
    assert torch.equal(near_end[ACTION][3:], actions[end - 1].expand(CHUNK - 3, -1))
    # The window never reaches into the next episode.
    assert not torch.equal(near_end[ACTION][-1], actions[start1])
    last = training_dataset[end - 1]
    assert last[ACTION_IS_PAD].tolist() == [False] + [True] * (CHUNK - 1)
    assert int(last["episode_index"]) == 0 and int(training_dataset[start1]["episode_index"]) == 1
    assert start == 0


def test_chunk_longer_than_an_episode(tiny_lift_dataset: Any) -> None:
    cfg = DatasetConfig(root=str(tiny_lift_dataset.root))
    ds = VLATrainingDataset.from_config(cfg, chunk_size=200, image_cache="decode", progress=False)
    length = _episode_bounds(ds)[0][1]
    item = ds[0]
    assert item[ACTION].shape == (200, 7)
    assert int((~item[ACTION_IS_PAD]).sum()) == length


def test_uncached_items_equal_cached(tiny_lift_dataset: Any, training_dataset: VLATrainingDataset) -> None:
    cfg = DatasetConfig(root=str(tiny_lift_dataset.root), image_keys=[IMAGE])
    uncached = VLATrainingDataset.from_config(cfg, CHUNK, image_cache="decode", progress=False)
    assert not uncached.cached
    for idx in (0, 17, len(uncached) - 1):
        a, b = uncached[idx], training_dataset[idx]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]) if isinstance(a[key], torch.Tensor) else a[key] == b[key]


def test_episode_filtered_dataset(tiny_lift_dataset: Any, training_dataset: VLATrainingDataset) -> None:
    lerobot = LeRobotDataset("local/vst_lift", root=tiny_lift_dataset.root, video_backend="pyav", episodes=[1])
    ds = VLATrainingDataset(lerobot, CHUNK, progress=False)
    start1, end1 = _episode_bounds(training_dataset)[1]
    assert (len(ds), ds.num_episodes) == (end1 - start1, 1)
    for offset in (0, end1 - start1 - 1):
        a, b = ds[offset], training_dataset[start1 + offset]
        assert torch.equal(a[IMAGE], b[IMAGE]) and torch.equal(a[ACTION], b[ACTION])


def test_dataloader_batches(training_dataset: VLATrainingDataset) -> None:
    batch = next(iter(torch.utils.data.DataLoader(training_dataset, batch_size=4, shuffle=True)))
    assert batch[IMAGE].shape == (4, 3, 64, 64)
    assert batch[ACTION].shape == (4, CHUNK, 7) and batch[ACTION_IS_PAD].shape == (4, CHUNK)
    assert batch[TASK] == ["lift the red cube"] * 4


def test_stats_keyed_by_item_keys(training_dataset: VLATrainingDataset) -> None:
    stats = training_dataset.stats()
    assert set(stats) == {OBS_STATE, ACTION, IMAGE}
    assert stats[ACTION]["q99"].shape == (7,)


def test_invalid_chunk_size(training_dataset: VLATrainingDataset) -> None:
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        VLATrainingDataset(training_dataset.lerobot, 0)


def test_out_of_range_index(training_dataset: VLATrainingDataset) -> None:
    with pytest.raises(IndexError):
        training_dataset[len(training_dataset)]


def test_info_without_episodes_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "info.json").write_text(json.dumps({"features": {}, "total_episodes": 0}))
    with pytest.raises(InvalidDatasetError, match="has no episodes"):
        open_dataset(DatasetConfig(root=str(tmp_path)))


def test_collected_stats_hold_exact_quantiles_for_both_trainers(tiny_lift_dataset: Any) -> None:
    """The collector stores quantiles of all frames in meta/stats.json, the file LeRobot's own metadata reads."""
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata

    ds = open_dataset(DatasetConfig(root=str(tiny_lift_dataset.root)))
    actions = ds.hf_dataset.select_columns([ACTION]).with_format("numpy")[:][ACTION].astype(np.float64)
    ours = dataset_stats(ds)
    for name, q in (("q01", 0.01), ("q99", 0.99)):
        np.testing.assert_allclose(ours[ACTION][name], np.quantile(actions, q, axis=0), rtol=1e-6, atol=1e-6)
    assert ours["timestamp"]["q50"].shape == (1,)
    theirs = LeRobotDatasetMetadata("local/tiny_lift", root=tiny_lift_dataset.root).stats  # what lerobot-train reads
    np.testing.assert_array_equal(np.asarray(theirs[ACTION]["q01"], dtype=np.float32), ours[ACTION]["q01"])


def test_foreign_dataset_stats_warn_until_made_exact(tiny_lift_dataset: Any, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from vst_vla.data import exact_stats

    copy = tmp_path / "copy"
    shutil.copytree(tiny_lift_dataset.root, copy)
    stats_path = copy / "meta" / "stats.json"
    exact = json.loads(stats_path.read_text())
    # As another tool leaves it: narrower quantiles, no marker.
    (copy / exact_stats.MARKER_FILE).unlink()
    stored = json.loads(stats_path.read_text())
    stored[ACTION]["q99"] = [v / 2 for v in stored[ACTION]["q99"]]
    stats_path.write_text(json.dumps(stored))
    with caplog.at_level("WARNING"):
        stats = dataset_stats(open_dataset(DatasetConfig(root=str(copy))))
    assert f"python -m vst_vla.data.exact_stats {copy}" in caplog.text
    np.testing.assert_allclose(stats[ACTION]["q99"], stored[ACTION]["q99"])  # read as stored: both trainers agree

    marker = exact_stats.main([str(copy)])
    assert marker["frames"] == len(open_dataset(DatasetConfig(root=str(copy))))
    assert json.loads(stats_path.read_text())[ACTION]["q99"] == exact[ACTION]["q99"]
    caplog.clear()
    with caplog.at_level("WARNING"):
        dataset_stats(open_dataset(DatasetConfig(root=str(copy))))
    assert "exact_stats" not in caplog.text

    # Without quantiles at all (older writers): refused, naming the command.
    for name in ("q01", "q10", "q50", "q90", "q99"):
        del stored[ACTION][name]
    stats_path.write_text(json.dumps(stored))
    with pytest.raises(InvalidDatasetError, match=r"no q01/q99 quantiles for \['action'\].*vst_vla.data.exact_stats"):
        dataset_stats(open_dataset(DatasetConfig(root=str(copy))))


def test_exact_stats_command_names_a_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vst_vla.data import exact_stats

    with pytest.raises(SystemExit) as exit_info:
        exact_stats.main([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "nowhere/meta/info.json not found" in capsys.readouterr().err


def test_auto_image_cache_decodes_per_item_when_the_frames_do_not_fit(
    tiny_lift_dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = DatasetConfig(root=str(tiny_lift_dataset.root), image_keys=[IMAGE])
    frames = len(VLATrainingDataset.from_config(cfg, CHUNK, image_cache="decode", progress=False))
    frame_bytes = frames * 3 * 64 * 64
    # Room for one process's copy but not for two (each torchrun process on the machine holds its own).
    monkeypatch.setattr(dataset_module, "available_memory_bytes", lambda: int(3 * frame_bytes))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert VLATrainingDataset.from_config(cfg, CHUNK, progress=False).cached
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert not VLATrainingDataset.from_config(cfg, CHUNK, progress=False).cached
    # memory and decode are what they say, whatever fits.
    assert VLATrainingDataset.from_config(cfg, CHUNK, image_cache="memory", progress=False).cached
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert not VLATrainingDataset.from_config(cfg, CHUNK, image_cache="decode", progress=False).cached


def test_image_cache_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"DatasetConfig.image_cache must be one of \['auto', 'memory', 'decode'\]"):
        DatasetConfig(root=str(tmp_path), image_cache="ram")
