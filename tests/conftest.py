"""Shared pytest fixtures.

``tiny_lift_dataset`` collects a real (if tiny) Lift demonstration dataset once per test session, so every test
that needs a dataset (loading, training smoke tests) shares one ~10 s collection. The factories (``compose_config``,
``make_policy``, ``make_batch``, ``make_spatial_samples``, ...) are the helpers tests in several folders share:
fixtures here, not functions imported from another test module.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from vst_vla.policy.processed import ProcessedPolicy
    from vst_vla.spatial.schema import SpatialSample


@pytest.fixture(autouse=True)
def restore_root_log_handlers():
    """Undo ``logging.basicConfig`` calls of the command lines a test runs in-process: their handler writes to the
    test's captured stderr, which is closed afterwards, and a later test's log line would then print a
    "--- Logging error ---" traceback into that test's output."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@dataclass(frozen=True)
class TinyLiftDataset:
    """A collected dataset: where it is, the env config it came from, and the collection report."""

    root: Path
    env_cfg: Any  # vst_envs.config.LiftEnvConfig
    report: Any  # vst_vla.data.collect.CollectReport


@pytest.fixture(scope="session")
def tiny_lift_dataset(tmp_path_factory: pytest.TempPathFactory) -> TinyLiftDataset:
    """Two successful scripted-expert Lift episodes (~45 frames each) at 64 px, as a LeRobot dataset.

    Read-only: tests that modify a dataset must copy it first.
    """
    from vst_envs.config import LiftEnvConfig

    from vst_vla.data.collect import collect_demos
    from vst_vla.data.config import CollectConfig
    from vst_vla.seeds import DEMO_SEED_BASE

    # The expert lifts the cube in < 100 steps; 150 leaves margin without making failures slow.
    env_cfg = LiftEnvConfig(image_size=64, max_episode_steps=150)
    root = tmp_path_factory.mktemp("datasets") / "tiny_lift"
    # Demo seeds from DEMO_SEED_BASE, as collection's default: evaluations at seeds 0.. are not refused.
    report = collect_demos(env_cfg, CollectConfig(root=str(root), num_episodes=2, seed=DEMO_SEED_BASE))
    return TinyLiftDataset(root=root, env_cfg=env_cfg, report=report)


# ---- hydra configs ------------------------------------------------------------------------------------------------


def _compose_config(name: str, overrides: Sequence[str] = ()) -> dict:
    """``configs/<name>.yaml`` (the checkout's) composed with ``overrides``, unresolved, as the plain dict an entry
    point parses (without hydra's own ``hydra`` section)."""
    from omegaconf import OmegaConf

    from vst_vla.config.store import compose

    out = OmegaConf.to_container(compose(name, overrides), resolve=False)
    out.pop("hydra", None)
    return out


def _parse_stage_config(cfg: dict) -> Any:
    """A composed ``train`` config parsed into its stage's dataclass: ``TrainConfig`` (vla), ``RLStageConfig`` (rl)
    or ``VLMStageConfig`` (align / sft / cot). No model is built."""
    from vst_vla.config.parse import dataclass_from_dict
    from vst_vla.config.schema import train_config_from_dict
    from vst_vla.rl.config import RLStageConfig
    from vst_vla.sft.config import VLMStageConfig

    if cfg["stage"] == "vla":
        return train_config_from_dict(cfg)
    return dataclass_from_dict(RLStageConfig if cfg["stage"] == "rl" else VLMStageConfig, cfg)


@pytest.fixture(scope="session")
def compose_config() -> Callable[..., dict]:
    """The hydra composer: ``compose_config("train", ["experiment=debug"])`` -> the config dict (see
    :func:`_compose_config`)."""
    return _compose_config


@pytest.fixture(scope="session")
def parse_stage_config() -> Callable[[dict], Any]:
    """The stage parser: ``parse_stage_config(compose_config("train", [...]))`` -> that stage's typed config."""
    return _parse_stage_config


# ---- a tiny VLA policy from made-up statistics (no dataset needed) ------------------------------------------------

TINY_CAMERA = "observation.images.agentview"
TINY_ACTION_DIM, TINY_STATE_DIM = 7, 9


def _tiny_stats() -> dict:
    return {
        "action": {"q01": [-1.0] * TINY_ACTION_DIM, "q99": [1.0] * TINY_ACTION_DIM},
        "observation.state": {"q01": [-1.0] * TINY_STATE_DIM, "q99": [1.0] * TINY_STATE_DIM},
    }


def _make_policy(
    chunk_size: int = 2, n_action_steps: int = 2, head: object | None = None, lora: object | None = None,
    image_keys: tuple[str, ...] = (TINY_CAMERA,), **overrides: Any,
) -> ProcessedPolicy:
    """A tiny ``VSTVLAPolicy`` with its processors (random init, seed 0) and the given head config (default:
    tokens), one 64 px ``observation.images.agentview`` camera, 7-dim actions and a 9-dim state; ``lora`` (a
    ``LoraConfig``) adds adapters."""
    import torch

    from vst_vla.policy.configuration_vst_vla import TokenHeadConfig, VSTVLAConfig
    from vst_vla.policy.processed import ProcessedPolicy

    torch.manual_seed(0)
    cfg = VSTVLAConfig(chunk_size=chunk_size, n_action_steps=n_action_steps, head=head or TokenHeadConfig(),
                       device="cpu", **overrides)
    state_dim = TINY_STATE_DIM if cfg.use_state else 0
    cfg = cfg.with_features(dict.fromkeys(image_keys, (3, 64, 64)), TINY_ACTION_DIM, state_dim)
    return ProcessedPolicy.build(cfg, _tiny_stats(), env_metadata={"env": {"type": "lift", "image_size": 64}},
                                 lora=lora)


def _make_batch(batch_size: int, chunk_size: int = 2, seed: int = 0) -> dict:
    """A training batch for :func:`_make_policy`: image (B, 3, 64, 64) in [0, 1], state (B, 9), task strings,
    action (B, chunk, 7) in [-1, 1] and an all-False ``action_is_pad`` (B, chunk)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        TINY_CAMERA: torch.rand(batch_size, 3, 64, 64, generator=g),
        "observation.state": torch.rand(batch_size, TINY_STATE_DIM, generator=g),
        "task": ["lift the red cube"] * batch_size,
        "action": torch.rand(batch_size, chunk_size, TINY_ACTION_DIM, generator=g) * 2 - 1,
        "action_is_pad": torch.zeros(batch_size, chunk_size, dtype=torch.bool),
    }


@pytest.fixture(scope="session")
def make_policy() -> Callable[..., ProcessedPolicy]:
    """The tiny-policy factory: ``make_policy(chunk_size=2, n_action_steps=2, head=None, lora=None,
    **config_overrides)``."""
    return _make_policy


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., dict]:
    """The batch factory of the tiny policy: ``make_batch(batch_size, chunk_size=2, seed=0)``."""
    return _make_batch


@pytest.fixture
def tiny_stats() -> dict:
    """The statistics the tiny policy is built with (q01 = -1, q99 = 1 everywhere); a fresh copy per test."""
    return _tiny_stats()


# ---- spatial question-answer samples ------------------------------------------------------------------------------


def _png(seed: int, size: tuple[int, int] = (56, 56)) -> bytes:
    """A seeded random RGB image of ``size`` (width, height), PNG-encoded."""
    import torch
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    arr = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _make_spatial_samples(n: int) -> list[SpatialSample]:
    """``n`` distance questions (``SpatialSample``), alternately on one and two seeded 56 px images; sample ``i``
    answers ``0.1 * (i + 1)`` m."""
    from vst_vla.spatial.schema import SpatialSample, Turn

    out = []
    for i in range(n):
        n_images = 1 + i % 2
        question = "<image>\n" * n_images + f"How far apart are the cubes in sample {i}?"
        out.append(SpatialSample(f"s{i}", "test", "single_image" if n_images == 1 else "multi_image",
                                 tuple(_png(i * 10 + k) for k in range(n_images)),
                                 (Turn("human", question), Turn("gpt", f"{0.1 * (i + 1):.2f} m")),
                                 {"answer_kind": "number", "ground_truth": 0.1 * (i + 1), "skill": "distance"}))
    return out


@pytest.fixture(scope="session")
def png_bytes() -> Callable[..., bytes]:
    """The image factory: ``png_bytes(seed, size=(56, 56))`` -> a seeded random PNG."""
    return _png


@pytest.fixture(scope="session")
def make_spatial_samples() -> Callable[[int], list[SpatialSample]]:
    """The sample factory of the SFT and RL tests: ``make_spatial_samples(n)`` (see :func:`_make_spatial_samples`)."""
    return _make_spatial_samples
