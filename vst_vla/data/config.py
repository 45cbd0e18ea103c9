"""Config dataclasses for collecting demonstrations and loading them for training.

Both are filled from hydra/OmegaConf, so sequence fields accept lists (or ``ListConfig``) as well as tuples and
are normalised to tuples; ``None`` keeps its own meaning ("all image features") and is never turned into an
empty tuple. Validation happens in ``__post_init__`` and every message names the field and what it expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vst_vla.constants import ACTION, OBS_IMAGES_PREFIX, OBS_STATE
from vst_vla.seeds import DEMO_SEED_BASE

# Where collection stores what is needed to rebuild the env for evaluation, relative to the dataset root.
ENV_METADATA_FILE = "meta/vst_env.json"
DEFAULT_REPO_ID = "local/vst_lift"
IMAGE_CACHE_MODES = ("auto", "memory", "decode")


def _require_non_empty_str(owner: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{owner}.{name} must be a non-empty string, got {value!r}")


def _require_int(owner: str, name: str, value: object, minimum: int) -> None:
    # bool is an int subclass; `num_episodes: true` from a YAML typo must not read as 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _require_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}.{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class CollectConfig:
    """How many scripted-expert demonstrations to collect and where to write them.

    Attributes:
        root: directory the LeRobot dataset is written to (it must not exist unless ``overwrite``).
        num_episodes: number of episodes the dataset should hold (successful ones unless ``keep_failed``).
        seed: seed of the first attempt; attempt ``i`` resets the env with ``seed + i``. The default
            (:data:`~vst_vla.seeds.DEMO_SEED_BASE`) keeps demonstrations apart from evaluation seeds 0, 1, ...
        keep_failed: keep episodes in which the expert failed instead of dropping them.
        max_attempts: give up after this many episodes were run; ``None`` means ``2 * num_episodes``.
        overwrite: replace an existing dataset at ``root`` (only a LeRobot dataset or an empty directory).
        repo_id: LeRobot repo id recorded in the dataset (no hub upload happens).
        num_workers: processes rolling out episodes side by side (capped at ``num_episodes``); the collecting
            process alone writes the dataset, in seed order, so it is the same for any value. 1 runs the
            episodes in the collecting process itself.
    """

    root: str
    num_episodes: int = 20
    seed: int = DEMO_SEED_BASE
    keep_failed: bool = False
    max_attempts: int | None = None
    overwrite: bool = False
    repo_id: str = DEFAULT_REPO_ID
    # 2: 1.5-1.8x the episodes per minute of one process on a 2-core machine (benchmarks/bench_collect.py);
    # with rendering on the CPU each worker keeps a core busy, so more workers than free cores buy nothing.
    num_workers: int = 2

    def __post_init__(self) -> None:
        owner = "CollectConfig"
        # Accept pathlib.Path for convenience; store the string so the config stays plain data.
        if hasattr(self.root, "__fspath__"):
            object.__setattr__(self, "root", str(self.root))
        _require_non_empty_str(owner, "root", self.root)
        _require_non_empty_str(owner, "repo_id", self.repo_id)
        _require_int(owner, "num_episodes", self.num_episodes, minimum=1)
        _require_int(owner, "seed", self.seed, minimum=0)
        _require_bool(owner, "keep_failed", self.keep_failed)
        _require_bool(owner, "overwrite", self.overwrite)
        _require_int(owner, "num_workers", self.num_workers, minimum=1)
        if self.max_attempts is not None:
            _require_int(owner, "max_attempts", self.max_attempts, minimum=1)
            if self.max_attempts < self.num_episodes:
                raise ValueError(
                    f"{owner}.max_attempts must be null or >= num_episodes ({self.num_episodes}), "
                    f"got {self.max_attempts}"
                )

    @property
    def attempt_limit(self) -> int:
        """The number of episodes collection may run before it gives up."""
        return self.max_attempts if self.max_attempts is not None else 2 * self.num_episodes


@dataclass(frozen=True)
class DatasetConfig:
    """Which LeRobot dataset to train on and which of its features to use.

    Attributes:
        root: local dataset directory (written by ``python -m vst_vla.collect``).
        repo_id: LeRobot repo id; only a label here, nothing is downloaded.
        image_keys: image features to feed the policy, e.g. ``("observation.images.agentview",)``;
            ``None`` means every image/video feature of the dataset.
        state_key: proprioceptive state feature, a 1-D float vector.
        action_key: action feature, a 1-D float vector.
        image_cache: ``memory`` decodes every video frame once into a uint8 cache in RAM (fast items);
            ``decode`` decodes each item's frames as LeRobot's ``__getitem__`` does (little memory: for datasets
            such as LIBERO, whose frames fill ~100 GB); ``auto`` picks ``memory`` when the frames of every
            training process on this machine fit in half of the memory available, else ``decode``.
    """

    root: str
    repo_id: str = DEFAULT_REPO_ID
    image_keys: tuple[str, ...] | None = None
    state_key: str = OBS_STATE
    action_key: str = ACTION
    image_cache: str = "auto"

    def __post_init__(self) -> None:
        owner = "DatasetConfig"
        if hasattr(self.root, "__fspath__"):
            object.__setattr__(self, "root", str(self.root))
        _require_non_empty_str(owner, "root", self.root)
        _require_non_empty_str(owner, "repo_id", self.repo_id)
        _require_non_empty_str(owner, "state_key", self.state_key)
        _require_non_empty_str(owner, "action_key", self.action_key)
        if self.image_cache not in IMAGE_CACHE_MODES:
            raise ValueError(f"{owner}.image_cache must be one of {list(IMAGE_CACHE_MODES)}, got {self.image_cache!r}")
        if self.image_keys is not None:
            object.__setattr__(self, "image_keys", _normalise_image_keys(self.image_keys))


def _normalise_image_keys(value: object) -> tuple[str, ...]:
    """List/tuple/ListConfig of feature names -> tuple, refusing anything that would change its meaning."""
    field = "DatasetConfig.image_keys"
    # tuple("observation.images.x") would silently become a tuple of characters.
    if isinstance(value, str) or (not isinstance(value, Sequence) and not _is_list_config(value)):
        raise ValueError(
            f"{field} must be null (all image features) or a list of feature names such as "
            f"['{OBS_IMAGES_PREFIX}agentview'], got {value!r}"
        )
    keys = tuple(value)
    if not keys:
        # An empty list is not "all cameras": that is what null means, so say so instead of guessing.
        raise ValueError(f"{field} must name at least one image feature, or be null for all of them; got []")
    for key in keys:
        _require_non_empty_str("DatasetConfig", "image_keys[*]", key)
    if len(set(keys)) != len(keys):
        raise ValueError(f"{field} must not repeat a feature, got {list(keys)}")
    return keys


def _is_list_config(value: object) -> bool:
    # OmegaConf's ListConfig is a MutableSequence in recent versions; check by name to avoid importing it here.
    return type(value).__name__ == "ListConfig"
