"""``freeze.*`` on the VLA stage: the frozen parts of the backbone keep their weights, the rest trains."""

from pathlib import Path

import pytest
from safetensors.torch import load_file

from vst_vla.config.parse import ConfigError
from vst_vla.train import run


def _weights(run_dir: Path, step: int) -> dict:
    return load_file(run_dir / "checkpoints" / f"{step:06d}" / "pretrained_model" / "model.safetensors")


def test_frozen_vision_tower_keeps_its_weights(tmp_path, tiny_lift_dataset, compose_config):
    summary = run(compose_config("train", [
        "experiment=debug", "head=l1_chunk", f"dataset.root={tiny_lift_dataset.root}", f"output_root={tmp_path}",
        "trainer.steps=2", "trainer.save_every=1", "eval.n_episodes=0", "eval.every_steps=0",
        "freeze.vision_tower=true", "freeze.merger=true"]))
    run_dir = Path(summary["run_dir"])
    first, second = _weights(run_dir, 1), _weights(run_dir, 2)
    visual = [k for k in first if ".visual." in k]
    trained = [k for k in first if ".visual." not in k and not (first[k] == second[k]).all()]
    assert visual and all((first[k] == second[k]).all() for k in visual)
    assert any(k.startswith("head.") for k in trained) and any(".language_model." in k for k in trained)


def test_a_frozen_language_model_cannot_train_action_tokens(compose_config, parse_stage_config):
    with pytest.raises(ConfigError, match="freeze.language_model=true cannot train head=tokens"):
        parse_stage_config(compose_config("train", ["freeze.language_model=true"]))
    cfg = parse_stage_config(compose_config("train", ["freeze.language_model=true", "head=flow"]))
    assert cfg.freeze.language_model
