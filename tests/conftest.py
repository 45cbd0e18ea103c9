"""Shared pytest fixtures.

``tiny_lift_dataset`` collects a real (if tiny) Lift demonstration dataset once per test session, so every test
that needs a dataset (loading, training smoke tests) shares one ~10 s collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import logging

import pytest


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
