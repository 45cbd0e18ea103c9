"""What a collected LeRobot dataset holds per episode, for tests that compare two collections frame for frame."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from vst_vla.constants import ACTION, OBS_STATE, image_key
from vst_vla.data.config import ENV_METADATA_FILE

IMAGE = image_key("agentview")


def dataset_episodes(root: Path) -> list[dict[str, Any]]:
    """Per episode: its seed, states, actions and a hash of its decoded video frames."""
    ds = LeRobotDataset("local/vst_lift", root=root, video_backend="pyav")
    columns = ds.hf_dataset.select_columns([ACTION, OBS_STATE]).with_format("numpy")[:]
    # The tiny dataset's episodes share one video file, in episode order, one video frame per dataset frame.
    (video,) = (root / "videos" / IMAGE).rglob("*.mp4")
    with av.open(str(video)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert len(frames) == len(ds)
    seeds = json.loads((root / ENV_METADATA_FILE).read_text())["collection"]["episode_seeds"]
    episodes = []
    for i, seed in enumerate(seeds):
        start, end = int(ds.meta.episodes[i]["dataset_from_index"]), int(ds.meta.episodes[i]["dataset_to_index"])
        episodes.append(
            {
                "seed": seed,
                "states": columns[OBS_STATE][start:end],
                "actions": columns[ACTION][start:end],
                "frames_sha256": hashlib.sha256(frames[start:end].tobytes()).hexdigest(),
            }
        )
    return episodes
