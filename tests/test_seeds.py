"""Demonstration and evaluation seeds are disjoint by construction, and an evaluation that meets the demos is refused.

The dataset records its seeds (``collection.episode_seeds``, see tests/data/test_collect.py); here: the defaults
of the standalone ``collect`` -> ``eval`` path never meet, the check names both ranges, and ``vst_vla.eval`` and
the training stage refuse before any rollout, training or collection.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vst_vla.config.parse import dataclass_from_dict
from vst_vla.config.schema import RolloutConfig, train_config_from_dict
from vst_vla.config.store import compose
from vst_vla.data.config import CollectConfig
from vst_vla.errors import ConfigError
from vst_vla.eval import EvalCommandConfig
from vst_vla.seeds import DEMO_SEED_BASE, EVAL_SEED_BASE, check_eval_seeds, demo_seeds, format_seeds


def _compose(name: str, overrides: list[str] | None = None) -> dict:
    out = OmegaConf.to_container(compose(name, overrides or []), resolve=True)
    out.pop("hydra", None)
    return out


def test_the_standalone_collect_and_eval_defaults_never_meet() -> None:
    collect = dataclass_from_dict(CollectConfig, _compose("collect")["collect"], "collect.")
    rollout = dataclass_from_dict(EvalCommandConfig, {**_compose("eval"), "policy_path": "x"}).eval
    assert (collect.seed, rollout.seed) == (DEMO_SEED_BASE, EVAL_SEED_BASE)
    attempted = range(collect.seed, collect.seed + collect.attempt_limit)
    assert not set(attempted) & set(rollout.seeds)
    # The library defaults agree with the command lines'.
    assert CollectConfig(root="x").seed == DEMO_SEED_BASE and RolloutConfig().seed == EVAL_SEED_BASE


def test_demo_seeds_are_read_from_the_recorded_collection() -> None:
    assert demo_seeds({"collection": {"episode_seeds": [3, 1, 3, 2]}}) == [1, 2, 3]
    assert demo_seeds({"env": {"type": "lift"}}) is None  # a checkpoint built without a collected dataset
    assert demo_seeds(None) is None


def test_format_seeds() -> None:
    assert (format_seeds([0, 1, 2, 5]), format_seeds([7]), format_seeds([])) == ("0..5 (4 seeds)", "7", "none")


def test_overlap_is_refused_naming_both_ranges() -> None:
    with pytest.raises(ConfigError) as err:
        check_eval_seeds(list(range(10)), [0, 1, 2, 4], "dataset d")
    message = str(err.value)
    assert "eval seeds 0..9 (10 seeds)" in message and "demonstration seeds 0..4 (4 seeds) of dataset d" in message
    assert "shared: 0, 1, 2, 4" in message and "eval.seed=5" in message
    # A range that fits below the demonstrations is offered too.
    with pytest.raises(ConfigError, match=r"eval.seed=0 or eval.seed=10030"):
        check_eval_seeds([10_000, 10_001], list(range(10_000, 10_030)), "dataset d")


def test_disjoint_seeds_pass_and_unknown_seeds_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    check_eval_seeds([0, 1], [10_000, 10_001], "dataset d")
    with caplog.at_level(logging.WARNING, logger="vst_vla.seeds"):
        check_eval_seeds([0, 1], None, "dataset d")
    assert "dataset d: no demonstration seeds recorded" in caplog.text


def test_eval_refuses_a_checkpoint_trained_on_its_seeds(tmp_path: Path, make_policy) -> None:
    from vst_vla.eval import run_eval

    policy = make_policy()
    policy.env_metadata = {"env": {"type": "lift", "image_size": 64},
                           "collection": {"seed": 0, "episode_seeds": [0, 1, 2]}}
    checkpoint = policy.save_pretrained(tmp_path / "pretrained_model")
    out = tmp_path / "eval"
    cfg = EvalCommandConfig(policy_path=str(checkpoint), output_dir=str(out), device="cpu",
                            eval=RolloutConfig(n_episodes=5, seed=2, n_videos=0, max_steps=2))
    with pytest.raises(ConfigError, match=r"eval seeds 2\.\.6 \(5 seeds\) overlap the demonstration seeds 0\.\.2"):
        run_eval(cfg)
    assert not out.exists()  # refused before any episode ran


def _stage_config(tmp_path: Path, overrides: list[str]):
    return train_config_from_dict(_compose("train", ["experiment=debug", f"output_root={tmp_path}/runs",
                                                     *overrides]))


def test_training_stage_refuses_a_dataset_collected_on_the_eval_seeds(tiny_lift_dataset, tmp_path: Path) -> None:
    from vst_vla.stages.vla import run_vla_stage

    cfg = _stage_config(tmp_path, [f"dataset.root={tiny_lift_dataset.root}", f"eval.seed={DEMO_SEED_BASE}"])
    with pytest.raises(ConfigError, match=f"demonstration seeds {DEMO_SEED_BASE}..{DEMO_SEED_BASE + 1} .* of "
                                          f"dataset {tiny_lift_dataset.root}"):
        run_vla_stage(cfg)
    assert not (tmp_path / "runs").exists()  # refused before training


def test_training_stage_refuses_before_collecting_on_the_eval_seeds(tmp_path: Path) -> None:
    from vst_vla.stages.vla import run_vla_stage

    cfg = _stage_config(tmp_path, [f"dataset.root={tmp_path}/data", "collect.seed=0"])
    with pytest.raises(ConfigError, match=r"demonstrations to collect .*collect.seed=0, up to 4 attempts"):
        run_vla_stage(cfg)
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
