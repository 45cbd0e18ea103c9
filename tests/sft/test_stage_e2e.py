"""The VLM stages end to end on generated scenes: data → SFT (packed) or RL (GRPO) → per-skill report."""

import json

import pytest

from vst_vla.train import run


@pytest.mark.slow
def test_sft_debug_stage(tmp_path, compose_config):
    overrides = ["experiment=sft_debug", f"output_root={tmp_path}/runs",
                 f"data.train_path={tmp_path}/train.parquet", f"data.eval_path={tmp_path}/eval.parquet"]
    summary = run(compose_config("train", overrides))
    assert summary["final_step"] == 3 and summary["after"]
    assert (tmp_path / "runs" / "sft_debug" / "skills.png").is_file()
    saved = json.loads((tmp_path / "runs" / "sft_debug" / "run_summary.json").read_text())
    assert set(saved["after"]) == set(saved["before"])
    # Every evaluated skill was scored again with blank and shuffled images, with its image gain in the report.
    assert set(saved["ablations"]) == {"blank", "shuffle"} and set(saved["image_gain"]) == set(saved["after"])
    assert "| image gain |" in summary["report"] and saved["prior_fit"] == "the training split"


@pytest.mark.slow
def test_rl_debug_stage(tmp_path, compose_config):
    overrides = ["experiment=rl_debug", f"output_root={tmp_path}/runs",
                 f"data.train_path={tmp_path}/train.parquet", f"data.eval_path={tmp_path}/eval.parquet"]
    summary = run(compose_config("train", overrides))
    assert summary["final_step"] == 2 and summary["after"]
    change = summary["reward_change"]
    assert set(change) == {"accuracy", "format"} and change["accuracy"]["n"] == 6
    assert change["accuracy"]["ci_low"] <= change["accuracy"]["diff"] <= change["accuracy"]["ci_high"]
    assert "held-out reward" in summary["report"]
    assert set(summary["ablations"]) == {"blank", "shuffle"} and set(summary["image_gain"]) == set(summary["after"])
    assert (tmp_path / "runs" / "rl_debug" / "reward_change.md").is_file()
