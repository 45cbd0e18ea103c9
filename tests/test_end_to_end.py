"""The short end-to-end path: collect 2 demos → train a few steps → resume → evaluate 1 short episode."""

import json
from pathlib import Path

import pytest

from vst_vla.config.parse import ConfigError
from vst_vla.config.schema import RolloutConfig
from vst_vla.eval import EvalCommandConfig, run_eval
from vst_vla.train import run


def test_collect_train_resume_eval(tmp_path, compose_config):
    base = ["experiment=debug", f"dataset.root={tmp_path}/data", f"output_root={tmp_path}/runs"]
    first = run(compose_config("train", [*base, "eval.ablations=[blank]"]))
    assert "collect" in first["phases_s"] and first["final_step"] == 4
    assert first["eval"]["n_episodes"] == 1 and "lift the red cube" in first["report"]
    run_dir = Path(first["run_dir"])
    assert (run_dir / "eval" / "episodes.jsonl").is_file() and list((run_dir / "eval").glob("*.mp4"))
    # The image ablation ran beside the real evaluation, on the same seeds, into its own directory and table row.
    assert first["eval"]["image_ablation"] == "none" and first["eval_ablations"]["blank"]["image_ablation"] == "blank"
    assert (run_dir / "eval_blank" / "summary.json").is_file() and "[images: blank]" in first["report"]
    # The evaluation during training (debug: every 2 of 4 steps, one episode) is logged beside the losses and
    # plotted with the final evaluation.
    evals = [r for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines())
             if "eval/success_rate" in r]
    assert [(r["step"], r["eval/n_episodes"]) for r in evals] == [(2, 1)]
    assert (run_dir / "eval_during" / "step_000002" / "summary.json").is_file()
    assert (run_dir / "learning_curve.png").stat().st_size > 0

    # Rerunning with a longer schedule continues the same run from its last checkpoint.
    second = run(compose_config("train", [*base, "trainer.steps=6", "eval.n_episodes=0"]))
    assert "collect" not in second["phases_s"]
    assert (second["start_step"], second["final_step"]) == (4, 6)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [2, 4, 6]
    assert [r["step"] for r in log if "eval/success_rate" in r] == [2]  # step 4 was the first run's last

    summary = run_eval(EvalCommandConfig(policy_path=second["checkpoint"] + "/pretrained_model",
                                         output_dir=str(tmp_path / "eval"),
                                         eval=RolloutConfig(n_episodes=1, seed=3, n_videos=0, max_steps=8)))
    assert summary.n_episodes == 1 and summary.mean_episode_length <= 8
    record = json.loads((tmp_path / "eval" / "episodes.jsonl").read_text())
    assert record["seed"] == 3


def test_missing_dataset_feature_is_refused_before_training(tmp_path, tiny_lift_dataset, compose_config):
    overrides = ["experiment=debug", f"dataset.root={tiny_lift_dataset.root}", f"output_root={tmp_path}/runs",
                 "dataset.state_key=observation.joint_pos"]
    with pytest.raises(Exception, match="observation.joint_pos"):
        run(compose_config("train", overrides))
    assert not (tmp_path / "runs" / "debug" / "checkpoints").exists()


def test_cameras_the_env_does_not_render_are_refused_before_training(tmp_path, tiny_lift_dataset, compose_config):
    """A dataset from another simulator fails before training when the stage would evaluate it in ``env``."""
    overrides = ["experiment=debug", f"dataset.root={tiny_lift_dataset.root}", f"output_root={tmp_path}/runs",
                 "env.cameras=[robot0_eye_in_hand]"]
    with pytest.raises(ConfigError, match=r"cameras \['observation.images.agentview'\] that env 'lift' does not"):
        run(compose_config("train", overrides))
    assert not (tmp_path / "runs" / "debug" / "checkpoints").exists()
