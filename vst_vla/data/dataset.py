"""Loading collected LeRobot datasets for training.

* :func:`open_dataset` checks a :class:`~vst_vla.data.config.DatasetConfig` against the files on disk before
  LeRobot sees it (LeRobot falls back to the Hugging Face hub for anything missing locally, which offline means
  a slow, confusing network error) and opens the dataset with the PyAV video backend.
* :func:`load_env_metadata` reads ``meta/vst_env.json`` (the env config the demos were collected with).
* :func:`dataset_stats` returns the normalisation statistics of ``meta/stats.json``, quantiles included.
* :class:`VLATrainingDataset` yields training items with an action chunk per frame.

Video decoding through ``LeRobotDataset.__getitem__`` seeks and decodes for every single item, which is slow on
a CPU (see the module's tests for numbers); :class:`VLATrainingDataset` therefore decodes each episode's video
once, sequentially, into an in-memory uint8 cache when it fits (:func:`choose_image_cache`). It uses LeRobot's
own PyAV decoder and frame/timestamp matching, so the cached frames are the exact frames LeRobot returns.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.video_utils import decode_video_frames
from tqdm import tqdm

from vst_vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK
from vst_vla.data.config import ENV_METADATA_FILE, DatasetConfig
from vst_vla.data.exact_stats import STATS_FILE, has_exact_quantiles, vector_features
from vst_vla.errors import MissingInputError, UserError

logger = logging.getLogger(__name__)

VIDEO_BACKEND = "pyav"  # torchcodec is installed but cannot load without system FFmpeg libraries
_VISUAL_DTYPES = ("video", "image")
_QUANTILE_KEYS = ("q01", "q99")  # what quantile normalisation needs
# The image cache may take this share of the memory available when training starts, summed over the machine's
# training processes (each holds its own copy); the rest is left to the model, the optimizer and the loader.
IMAGE_CACHE_MEMORY_SHARE = 0.5


def choose_image_cache(mode: str, video_bytes: int, where: str) -> str:
    """``memory`` or ``decode`` for :attr:`DatasetConfig.image_cache` ``mode``, logged with the sizes behind it.

    ``auto`` caches when ``video_bytes`` times the training processes on this machine (torchrun's and
    accelerate's ``LOCAL_WORLD_SIZE``; each process holds its own copy) fit in
    :data:`IMAGE_CACHE_MEMORY_SHARE` of the memory available now.
    """
    if mode != "auto" or video_bytes == 0:
        return "decode" if mode == "decode" else "memory"
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    available = available_memory_bytes()
    choice = "memory" if video_bytes * processes <= IMAGE_CACHE_MEMORY_SHARE * available else "decode"
    logger.info(
        "image cache for %s: %s (decoded frames %.0f MB x %d process(es) on this machine, %.0f MB available; "
        "dataset.image_cache=memory|decode overrides)",
        where, "in memory" if choice == "memory" else "none, each item decodes its frames",
        video_bytes / 2**20, processes, available / 2**20,
    )
    return choice


def available_memory_bytes() -> int:
    """Memory available to new allocations without swapping (psutil's ``available``: free plus reclaimable)."""
    return int(psutil.virtual_memory().available)


class InvalidDatasetError(UserError, ValueError):
    """The directory is not a LeRobot dataset, or lacks a feature the config asks for."""


def open_dataset(cfg: DatasetConfig) -> LeRobotDataset:
    """Validate ``cfg`` against the dataset on disk, then open it with LeRobot (PyAV decoding).

    Args:
        cfg: dataset location and the features to use.

    Returns:
        The read-mode ``LeRobotDataset`` (items: images float32 (3, H, W) in [0, 1], state, action, task, ...).

    Raises:
        FileNotFoundError: ``cfg.root`` does not exist.
        InvalidDatasetError: not a LeRobot dataset, no episodes, or a requested feature is missing / of the
            wrong kind.
    """
    root = Path(cfg.root).expanduser()
    info = _read_info(root)
    resolve_image_keys(cfg, info["features"])
    try:
        return LeRobotDataset(cfg.repo_id, root=root, video_backend=VIDEO_BACKEND)
    except Exception as err:
        # LeRobot (through Hugging Face datasets) reports a damaged parquet file as "An error occurred while
        # generating the dataset", naming no file; find it and name it.
        broken = _unreadable_parquet(root)
        if broken is None:
            raise
        raise InvalidDatasetError(f"dataset file {broken[0]} is truncated or corrupt ({broken[1]}); collect the "
                                  f"dataset again (python -m vst_vla.collect collect.root={root} "
                                  "collect.overwrite=true) or restore the file") from err


def _unreadable_parquet(root: Path) -> tuple[Path, str] | None:
    """The first parquet file under ``root`` whose footer cannot be read, with the reason; None when all can."""
    import pyarrow.parquet as pq

    for path in sorted(root.rglob("*.parquet")):
        try:
            pq.ParquetFile(path).close()
        except Exception as err:  # noqa: BLE001 - any failure to open it is what we are looking for
            return path, str(err)
    return None


def _read_info(root: Path) -> dict[str, Any]:
    """Check that ``root`` holds a non-empty LeRobot dataset and return its ``meta/info.json``."""
    if not root.exists():
        raise MissingInputError(
            f"dataset root {root} does not exist; collect demonstrations first with "
            f"`python -m vst_vla.collect collect.root={root}`, or set dataset.root to an existing dataset"
        )
    info_path = root / "meta" / "info.json"
    if not root.is_dir() or not info_path.is_file():
        raise InvalidDatasetError(f"{root} is not a LeRobot dataset: {info_path} is missing")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidDatasetError(f"{root} is not a LeRobot dataset: {info_path} is not valid JSON ({e})") from e
    if not isinstance(info.get("features"), dict):
        raise InvalidDatasetError(f"{root} is not a LeRobot dataset: {info_path} has no 'features' table")
    if not info.get("total_episodes"):
        raise InvalidDatasetError(f"the LeRobot dataset at {root} has no episodes (total_episodes=0)")
    return info


def resolve_image_keys(cfg: DatasetConfig, features: dict[str, dict]) -> tuple[str, ...]:
    """Check the state, action and image features ``cfg`` names against ``features``; return the image keys.

    Args:
        cfg: the dataset config (``image_keys=None`` selects every image/video feature, in dataset order).
        features: the dataset's feature table (``info.json["features"]`` or ``LeRobotDataset.features``).

    Returns:
        The image feature names to use, at least one.

    Raises:
        InvalidDatasetError: naming the missing or unsuitable feature and listing the available ones.
    """
    available = sorted(features)
    visual = [k for k, ft in features.items() if ft.get("dtype") in _VISUAL_DTYPES]
    for field, key in (("state_key", cfg.state_key), ("action_key", cfg.action_key)):
        if key not in features:
            raise InvalidDatasetError(
                f"dataset at {cfg.root} has no feature {key!r} (dataset.{field}); available features: {available}"
            )
        if len(features[key].get("shape", ())) != 1 or features[key].get("dtype") in _VISUAL_DTYPES:
            raise InvalidDatasetError(
                f"dataset feature {key!r} (dataset.{field}) must be a 1-D vector, got dtype "
                f"{features[key].get('dtype')!r} shape {features[key].get('shape')}"
            )
    if cfg.image_keys is None:
        if not visual:
            raise InvalidDatasetError(
                f"dataset at {cfg.root} has no image or video feature; available features: {available}"
            )
        return tuple(visual)
    for key in cfg.image_keys:
        if key not in features:
            raise InvalidDatasetError(
                f"dataset at {cfg.root} has no feature {key!r} (dataset.image_keys); available image features: "
                f"{visual}; all features: {available}"
            )
        if key not in visual:
            raise InvalidDatasetError(
                f"dataset feature {key!r} (dataset.image_keys) is a {features[key].get('dtype')!r} feature, not an "
                f"image or video; available image features: {visual}"
            )
    return tuple(cfg.image_keys)


def load_env_metadata(root: str | Path) -> dict[str, Any] | None:
    """Read ``meta/vst_env.json`` of a dataset written by ``vst_vla.collect``.

    Args:
        root: dataset directory.

    Returns:
        ``{"version", "env": env config dict (for ``env_config_from_dict``), "collection": {...}}``, or ``None``
        when the dataset has no such file (e.g. one not collected by us).
    """
    path = Path(root).expanduser() / ENV_METADATA_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def dataset_stats(ds: LeRobotDataset) -> dict[str, dict[str, np.ndarray]]:
    """Normalisation statistics of every numeric and visual feature, as stored in the dataset's ``meta/stats.json``.

    The same file ``lerobot-train`` reads, so both trainers normalize with the same numbers. The collector stores
    exact quantiles there (:mod:`vst_vla.data.exact_stats`); a dataset made by another tool holds LeRobot's
    per-episode-averaged ones, which are narrower, until ``python -m vst_vla.data.exact_stats ROOT`` has run on
    it (a warning says so). A 1-D float feature without ``q01``/``q99`` is refused with that command in the
    message. Statistics always cover the whole dataset, also when training on some of its episodes.

    Returns:
        ``{feature: {stat: array}}``; vectors have shape (dim,), images (3, 1, 1) in [0, 1] units. Float
        arrays are float32.
    """
    stats: dict[str, dict[str, np.ndarray]] = {}
    for key, feature_stats in (ds.meta.stats or {}).items():
        stats[key] = {name: _as_float32(np.asarray(v)) for name, v in feature_stats.items()}
    root = Path(ds.root)
    command = f"python -m vst_vla.data.exact_stats {root}"
    lacking = [key for key in vector_features(ds.features) if any(q not in stats.get(key, {}) for q in _QUANTILE_KEYS)]
    if lacking:
        raise InvalidDatasetError(f"{root / STATS_FILE} has no q01/q99 quantiles for {lacking}; run `{command}` "
                                  "once to store exact ones")
    if not has_exact_quantiles(root):
        logger.warning("%s holds LeRobot's per-episode-averaged quantiles, narrower than the data's; run `%s` once "
                       "to store exact ones (both trainers then read them)", root / STATS_FILE, command)
    return stats


def _as_float32(value: np.ndarray) -> np.ndarray:
    return value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value


class VLATrainingDataset(torch.utils.data.Dataset):
    """Training items with an action chunk: what a chunking VLA policy needs for one frame ``t``.

    Each item is a dict:

    * every image key: float32 tensor (3, H, W) in [0, 1], identical to what ``LeRobotDataset`` returns;
    * ``observation.state``: float32 (state_dim,), read from ``state_key``;
    * ``action``: float32 (chunk_size, action_dim), actions t .. t + chunk_size - 1 of the same episode, read
      from ``action_key``; past the episode's end the last action is repeated;
    * ``action_is_pad``: bool (chunk_size,), True for those repeated entries;
    * ``task``: the language instruction (str);
    * ``episode_index``, ``frame_index``: int64 scalars, for bookkeeping.

    Tabular data is read into memory once. With the image cache in memory (``image_cache``: ``memory``, or
    ``auto`` when it fits) every episode's video is decoded once, sequentially, into a uint8 cache
    (N x 3 x H x W bytes per camera), after which an item costs only a copy and a division; without it each item
    decodes its frames through ``LeRobotDataset.__getitem__``.
    Features stored as images (not video) are always read per item from the parquet data.
    """

    def __init__(
        self,
        dataset: LeRobotDataset,
        chunk_size: int,
        image_keys: Sequence[str] | None = None,
        state_key: str = OBS_STATE,
        action_key: str = ACTION,
        image_cache: str = "auto",
        progress: bool = True,
    ) -> None:
        """Wrap an open ``LeRobotDataset`` (see :func:`open_dataset`).

        Args:
            dataset: read-mode LeRobot dataset (optionally episode-filtered).
            chunk_size: actions per item (the policy's action horizon), >= 1.
            image_keys: image features to return; ``None`` means all of them.
            state_key: feature returned as ``observation.state``.
            action_key: feature returned as ``action``.
            image_cache: ``memory``, ``decode`` or ``auto`` (:attr:`DatasetConfig.image_cache`).
            progress: show a tqdm bar while decoding.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        cfg = DatasetConfig(
            root=str(dataset.root),
            image_keys=None if image_keys is None else tuple(image_keys),
            state_key=state_key,
            action_key=action_key,
        )
        self.image_keys: tuple[str, ...] = resolve_image_keys(cfg, dataset.features)
        self.lerobot = dataset
        self.chunk_size = chunk_size
        self.state_key = state_key
        self.action_key = action_key
        self._load_tables()
        self._frames: dict[str, torch.Tensor] = {}
        if choose_image_cache(image_cache, self._video_bytes(), str(dataset.root)) == "memory":
            self._cache_videos(progress)

    @classmethod
    def from_config(
        cls, cfg: DatasetConfig, chunk_size: int, image_cache: str | None = None, progress: bool = True
    ) -> VLATrainingDataset:
        """:func:`open_dataset` ``cfg`` and wrap it; ``chunk_size`` comes from the policy config, ``image_cache``
        (when given) overrides ``cfg.image_cache``."""
        return cls(
            open_dataset(cfg),
            chunk_size,
            image_keys=cfg.image_keys,
            state_key=cfg.state_key,
            action_key=cfg.action_key,
            image_cache=cfg.image_cache if image_cache is None else image_cache,
            progress=progress,
        )

    def _load_tables(self) -> None:
        """Read state, action and indices into numpy arrays and find each row's episode end."""
        columns = [self.state_key, self.action_key, "episode_index", "frame_index", "timestamp", "task_index"]
        table = self.lerobot.hf_dataset.select_columns(columns).with_format("numpy")[:]
        self._state = np.ascontiguousarray(table[self.state_key], dtype=np.float32)
        self._action = np.ascontiguousarray(table[self.action_key], dtype=np.float32)
        self._episode_index = np.asarray(table["episode_index"], dtype=np.int64).reshape(-1)
        self._frame_index = np.asarray(table["frame_index"], dtype=np.int64).reshape(-1)
        self._timestamp = np.asarray(table["timestamp"], dtype=np.float64).reshape(-1)
        self._task_index = np.asarray(table["task_index"], dtype=np.int64).reshape(-1)
        # Rows of one episode are contiguous and in frame order in LeRobot's parquet files; the action window
        # relies on that, so check it rather than assume it.
        starts = np.flatnonzero(np.diff(self._episode_index, prepend=-1) != 0)
        ends = np.append(starts[1:], len(self._episode_index))
        if len(np.unique(self._episode_index[starts])) != len(starts):
            raise InvalidDatasetError(f"episodes in {self.lerobot.root} are not stored contiguously")
        self._last_row = np.empty(len(self._episode_index), dtype=np.int64)
        for start, end in zip(starts, ends, strict=True):
            if not np.array_equal(self._frame_index[start:end], np.arange(end - start)):
                raise InvalidDatasetError(
                    f"episode {self._episode_index[start]} of {self.lerobot.root} is not stored in frame order"
                )
            self._last_row[start:end] = end - 1
        self._episode_rows = list(zip(starts.tolist(), ends.tolist(), strict=True))
        # LeRobot maps task_index to the string positionally (tasks.iloc[i].name); do exactly the same.
        tasks = self.lerobot.meta.tasks
        self._tasks = [str(tasks.iloc[i].name) for i in range(len(tasks))]

    def _video_bytes(self) -> int:
        """Bytes the uint8 cache of the selected video features would take (frames x 3 x H x W per camera)."""
        features = self.lerobot.features
        return sum(len(self) * int(np.prod(features[k]["shape"])) for k in self.image_keys
                   if features[k]["dtype"] == "video")

    def _cache_videos(self, progress: bool) -> None:
        """Decode every selected episode of every video key once, into a uint8 (N, 3, H, W) tensor per key."""
        video_keys = [k for k in self.image_keys if self.lerobot.features[k]["dtype"] == "video"]
        if not video_keys:
            return
        start_time = time.perf_counter()
        total = len(video_keys) * len(self._episode_rows)
        with tqdm(total=total, desc="decode video", unit="ep", disable=not progress, dynamic_ncols=True) as bar:
            for key in video_keys:
                frames: torch.Tensor | None = None
                for start, end in self._episode_rows:
                    decoded = self._decode_episode(key, start, end)
                    if frames is None:
                        frames = torch.empty((len(self), *decoded.shape[1:]), dtype=torch.uint8)
                    frames[start:end] = decoded
                    bar.update(1)
                self._frames[key] = frames
        logger.info(
            "decoded %d frames x %d cameras (%.0f MB uint8) in %.1fs",
            len(self),
            len(video_keys),
            self.cache_bytes / 2**20,
            time.perf_counter() - start_time,
        )

    def _decode_episode(self, key: str, start: int, end: int) -> torch.Tensor:
        """The frames of rows ``start:end`` (one episode) of video ``key`` as uint8 (T, 3, H, W)."""
        ep_idx = int(self._episode_index[start])
        ep = self.lerobot.meta.episodes[ep_idx]
        # Several episodes share one mp4 file; an episode's frames start at its from_timestamp in that file.
        from_ts = float(ep[f"videos/{key}/from_timestamp"])
        path = self.lerobot.root / self.lerobot.meta.get_video_file_path(ep_idx, key)
        query = [from_ts + float(ts) for ts in self._timestamp[start:end]]
        # The same function, timestamps and tolerance LeRobot's __getitem__ uses; given all of the episode's
        # timestamps at once it seeks once and decodes forward, instead of seeking per frame.
        return decode_video_frames(path, query, self.lerobot.tolerance_s, VIDEO_BACKEND, return_uint8=True)

    def __len__(self) -> int:
        return len(self._episode_index)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a dataset of {len(self)} frames")
        idx = int(idx) % len(self)
        offsets = idx + np.arange(self.chunk_size)
        is_pad = offsets > self._last_row[idx]
        item: dict[str, Any] = self._images(idx)
        item[OBS_STATE] = torch.from_numpy(self._state[idx].copy())
        item[ACTION] = torch.from_numpy(self._action[np.minimum(offsets, self._last_row[idx])])
        item[ACTION_IS_PAD] = torch.from_numpy(is_pad)
        item[TASK] = self._tasks[self._task_index[idx]]
        item["episode_index"] = torch.tensor(self._episode_index[idx])
        item["frame_index"] = torch.tensor(self._frame_index[idx])
        return item

    def _images(self, idx: int) -> dict[str, torch.Tensor]:
        """Image tensors float32 (3, H, W) in [0, 1] for row ``idx``, from the cache or LeRobot's loader."""
        images: dict[str, torch.Tensor] = {}
        missing = [k for k in self.image_keys if k not in self._frames]
        if missing:
            lerobot_item = self.lerobot[idx]
            images.update({k: lerobot_item[k] for k in missing})
        for key, frames in self._frames.items():
            # Same arithmetic as LeRobot's decoder (uint8 -> float32, / 255), so values are bit-identical.
            images[key] = frames[idx].to(torch.float32) / 255
        return {k: images[k] for k in self.image_keys}

    @property
    def image_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each camera's (3, H, W), as the items hold it (the policy's VISUAL input features)."""
        return {key: tuple(image.shape) for key, image in self._images(0).items()}

    @property
    def state_dim(self) -> int:
        """Length of ``observation.state``."""
        return int(self._state.shape[1])

    @property
    def action_dim(self) -> int:
        """Length of one action."""
        return int(self._action.shape[1])

    @property
    def num_episodes(self) -> int:
        """Episodes in this (possibly filtered) dataset."""
        return len(self._episode_rows)

    @property
    def fps(self) -> int:
        """Control / recording frequency."""
        return int(self.lerobot.fps)

    @property
    def cached(self) -> bool:
        """Whether video frames come from the in-memory cache."""
        return bool(self._frames)

    @property
    def cache_bytes(self) -> int:
        """Bytes the in-memory frame cache holds (0 when items decode their frames)."""
        return sum(f.numel() for f in self._frames.values())

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """:func:`dataset_stats` keyed by the item keys (``observation.state``, ``action``, image keys)."""
        stats = dataset_stats(self.lerobot)
        out = {OBS_STATE: stats[self.state_key], ACTION: stats[self.action_key]}
        out.update({k: stats[k] for k in self.image_keys if k in stats})
        return out
