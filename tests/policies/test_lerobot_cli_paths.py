"""LeRobot's own command lines on vst-vla checkpoints, both ways, as subprocesses (CPU, offline, a few steps).

* ``python -m vst_vla.train`` → its final ``pretrained_model`` (a LeRobot policy as it is) → ``lerobot-rollout``
  against the simulated arm
  (``--robot.type=vst_sim``; the command a user runs on an SO-101 with only the ``--robot.*`` flags changed), and
  ``lerobot-eval --env.type=vst``. ``lerobot-rollout`` runs for a wall-clock ``--duration``, so the run that
  counts its steps is marked slow; its refusal of a wrong camera (before the control loop) stays in the default run.
* ``lerobot-train --policy.type=vst_vla`` on a dataset collected by ``vst_vla.collect`` → ``vst_vla.eval`` and
  ``ProcessedPolicy.from_pretrained`` (the env found through the training dataset).
* ``lerobot-train --policy.path`` on the stage's checkpoint: LeRobot's loop fine-tunes it as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def run_cli(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``command`` to completion (no timeout of its own: pytest-timeout bounds the test) and require exit 0."""
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def vst_vla_run(tiny_lift_dataset, tmp_path_factory, compose_config) -> dict:
    """Two training steps of the debug preset on the shared tiny Lift dataset (64 px); returns the run summary."""
    from vst_vla.train import run

    out = tmp_path_factory.mktemp("runs")
    overrides = ["experiment=debug", f"dataset.root={tiny_lift_dataset.root}", f"output_root={out}",
                 "trainer.steps=2", "eval.n_episodes=0"]
    return run(compose_config("train", overrides))


def policy_path(run: dict) -> str:
    """The run's final ``pretrained_model``, as its summary names it: the directory ``--policy.path`` takes (no
    export step in between)."""
    assert run["policy_path"] == run["checkpoint"] + "/pretrained_model"
    return run["policy_path"]


def test_vst_vla_train_checkpoint_is_a_lerobot_policy(vst_vla_run: dict) -> None:
    checkpoint = Path(policy_path(vst_vla_run))
    assert checkpoint.parent.parent == Path(vst_vla_run["run_dir"]) / "checkpoints"
    assert {"config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json"} <= {
        p.name for p in checkpoint.iterdir()}
    assert json.loads((checkpoint / "config.json").read_text())["type"] == "vst_vla"
    # One layout: no second copy of the policy beside the checkpoints, nor a key naming one.
    assert "lerobot_policy" not in vst_vla_run and not (Path(vst_vla_run["run_dir"]) / "lerobot_policy").exists()


@pytest.mark.slow  # lerobot-rollout stops on wall-clock time (--duration): the steps that fit depend on the machine
def test_lerobot_rollout_drives_the_simulated_arm(vst_vla_run: dict, tmp_path: Path) -> None:
    """The SO-101 rollout command, with ``--robot.type=vst_sim`` in place of the real arm's flags."""
    summary_path = tmp_path / "rollout_summary.json"
    result = run_cli([
        str(BIN / "lerobot-rollout"), "--strategy.type=base", f"--policy.path={policy_path(vst_vla_run)}",
        "--robot.type=vst_sim", "--robot.task=lift", "--robot.image_size=64", "--robot.cheap_render=true",
        "--robot.max_episode_steps=8", f"--robot.summary_path={summary_path}",
        f"--robot.calibration_dir={tmp_path / 'calibration'}",
        "--task=lift the red cube", "--duration=12", "--fps=20",  # slack for a loaded machine
    ], cwd=tmp_path)
    log = result.stdout + result.stderr
    assert "Rollout finished" in log and "Returning robot to initial position" in log
    summary = json.loads(summary_path.read_text())
    assert summary["task"] == "lift" and summary["policy_steps"] >= 8
    assert summary["episodes_finished"] >= 1
    assert summary["episodes"][0] == {"seed": 0, "steps": 8, "success": False, "finished": True}  # 2 steps of training


def test_lerobot_rollout_refuses_a_camera_the_policy_was_not_trained_on(vst_vla_run: dict, tmp_path: Path) -> None:
    summary_path = tmp_path / "rollout_summary.json"
    result = subprocess.run([
        str(BIN / "lerobot-rollout"), "--strategy.type=base", f"--policy.path={policy_path(vst_vla_run)}",
        "--robot.type=vst_sim", "--robot.camera_names=[frontview]", "--robot.image_size=64",
        "--robot.cheap_render=true", f"--robot.summary_path={summary_path}",
        f"--robot.calibration_dir={tmp_path / 'calibration'}", "--task=lift the red cube", "--duration=2",
    ], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Visual feature mismatch" in result.stderr and "observation.images.agentview" in result.stderr
    # Refused before the control loop: no action reached the arm (the robot may still log an empty tally).
    assert not summary_path.exists() or json.loads(summary_path.read_text())["policy_steps"] == 0


def test_lerobot_eval_runs_the_vst_vla_checkpoint(vst_vla_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    run_cli([
        str(BIN / "lerobot-eval"), f"--policy.path={policy_path(vst_vla_run)}", "--policy.device=cpu",
        "--env.type=vst", "--env.task=lift", "--env.image_size=64", "--env.cheap_render=true",
        "--env.episode_length=4", "--eval.n_episodes=1", "--eval.batch_size=1", "--eval.use_async_envs=false",
        f"--output_dir={out}",
    ], cwd=tmp_path)
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1 and info["overall"]["pc_success"] == 0.0


def test_lerobot_train_checkpoint_runs_in_vst_vla_eval(tiny_lift_dataset, tmp_path: Path) -> None:
    from vst_vla.config.schema import RolloutConfig
    from vst_vla.eval import EvalCommandConfig, run_eval
    from vst_vla.policy.processed import ProcessedPolicy

    out = tmp_path / "train"
    run_cli([
        str(BIN / "lerobot-train"), "--dataset.repo_id=local/tiny_lift", f"--dataset.root={tiny_lift_dataset.root}",
        "--dataset.video_backend=pyav", "--policy.type=vst_vla", "--policy.device=cpu", "--policy.push_to_hub=false",
        "--policy.head.type=l1_chunk", "--steps=2", "--batch_size=2", "--save_freq=2", "--num_workers=0",
        "--wandb.enable=false", f"--output_dir={out}",
    ], cwd=tmp_path)
    checkpoint = out / "checkpoints" / "000002" / "pretrained_model"
    # No env.json: vst_vla.eval finds the env in the training dataset's meta/vst_env.json.
    assert not (checkpoint / "env.json").exists()
    summary = run_eval(EvalCommandConfig(policy_path=str(checkpoint), output_dir=str(tmp_path / "eval"),
                                         eval=RolloutConfig(n_episodes=1, seed=0, n_videos=0, max_steps=4)))
    assert summary.n_episodes == 1 and summary.mean_episode_length == 4
    # The same directory is what the vst_vla stage and rollouts load: no conversion in either direction.
    policy = ProcessedPolicy.from_pretrained(checkpoint)
    assert policy.env_metadata["env"]["image_size"] == 64 and policy.config.head.type == "l1_chunk"


def test_lerobot_train_fine_tunes_a_stage_checkpoint(vst_vla_run: dict, tiny_lift_dataset, tmp_path: Path) -> None:
    """``lerobot-train --policy.path`` takes the VLA stage's checkpoint as it is and continues training it."""
    from safetensors.torch import load_file

    from vst_vla.policy.processed import ProcessedPolicy

    out = tmp_path / "finetune"
    run_cli([
        str(BIN / "lerobot-train"), "--dataset.repo_id=local/tiny_lift", f"--dataset.root={tiny_lift_dataset.root}",
        "--dataset.video_backend=pyav", f"--policy.path={policy_path(vst_vla_run)}", "--policy.device=cpu",
        "--policy.push_to_hub=false", "--steps=2", "--batch_size=2", "--save_freq=2", "--num_workers=0",
        "--wandb.enable=false", f"--output_dir={out}",
    ], cwd=tmp_path)
    checkpoint = out / "checkpoints" / "000002" / "pretrained_model"
    before = load_file(Path(policy_path(vst_vla_run)) / "model.safetensors")
    after = load_file(checkpoint / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before), "two steps changed no weight"
    assert ProcessedPolicy.from_pretrained(checkpoint).config.head.type == "tokens"


@pytest.mark.slow
def test_lerobot_train_runs_the_policy_on_two_processes(tiny_lift_dataset, tmp_path: Path) -> None:
    """LeRobot's own loop, data-parallel: ``lerobot-train`` under 2 processes (torchrun on CPUs, gloo; on GPUs
    ``accelerate launch --multi_gpu --num_processes=N $(which lerobot-train)``, the same Accelerator path)."""
    out = tmp_path / "train"
    result = run_cli([
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(BIN / "lerobot-train"), "--dataset.repo_id=local/tiny_lift", f"--dataset.root={tiny_lift_dataset.root}",
        "--dataset.video_backend=pyav", "--policy.type=vst_vla", "--policy.device=cpu", "--policy.push_to_hub=false",
        "--policy.head.type=l1_chunk", "--steps=2", "--batch_size=2", "--save_freq=2", "--num_workers=0",
        "--wandb.enable=false", f"--output_dir={out}",
    ], cwd=tmp_path)
    assert "Effective batch size: 2 x 2 = 4" in result.stdout + result.stderr
    assert (out / "checkpoints" / "000002" / "pretrained_model" / "model.safetensors").is_file()
