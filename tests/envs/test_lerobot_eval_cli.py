"""``lerobot-eval --env.type=vst`` end to end in a subprocess: LeRobot's own CLI runs a random-init ACT on Lift."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Slow (a LeRobot CLI process, about 30 s): the default run keeps lerobot-eval on --env.type=vst through
# tests/policies/test_lerobot_cli_paths.py::test_lerobot_eval_runs_the_vst_vla_checkpoint.
@pytest.mark.slow
def test_lerobot_eval_cli_runs_on_our_env(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    command = [
        sys.executable, "-m", "lerobot.scripts.lerobot_eval",
        "--env.type=vst", "--env.task=lift",
        "--env.image_size=64", "--env.cheap_render=true", "--env.episode_length=4",
        "--policy.type=act", "--policy.device=cpu", "--policy.pretrained_backbone_weights=null",
        "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64",
        "--policy.n_encoder_layers=1", "--policy.use_vae=false", "--policy.chunk_size=2",
        "--policy.n_action_steps=2", "--policy.push_to_hub=false",
        # Sync envs: async ones start forkserver workers that re-import LeRobot (a minute on a busy CPU).
        "--eval.n_episodes=1", "--eval.batch_size=1", "--eval.use_async_envs=false", f"--output_dir={out}",
    ]
    # lerobot_env_vst is an installed distribution (uv workspace member), so LeRobot discovers it by name.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((out / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1 and info["overall"]["pc_success"] == 0.0
    assert list(info["per_group"]) == ["lift"]
    assert Path(info["overall"]["video_paths"][0]).is_file()
