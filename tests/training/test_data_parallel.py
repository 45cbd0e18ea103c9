"""Data parallelism on CPUs: 2 processes (gloo, launched by torchrun) against 1 process with the same global batch.

The default run keeps one 2-process VLA stage run (about 40 s on 2 cores): its losses match a 1-process run with
the same global batch, and only process 0 writes. The SFT stage's parity, a kill mid-run and the RL stage under 2
processes are marked slow.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vst_vla.train import run

REPO = Path(__file__).resolve().parents[2]
# fp32: with bf16 autocast the two runs' float sums differ more; 1e-3 is then still met over a few steps.
PARITY_RTOL = 1e-3


def _torchrun(overrides: list[str], tmp_path: Path, wait: bool = True) -> subprocess.Popen:
    """``torchrun --nproc_per_node=2 -m vst_vla.train <overrides>``, one CPU thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MUJOCO_GL": "egl"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "vst_vla.train", *overrides, f"hydra.run.dir={tmp_path}/hydra"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    if wait:
        out, _ = proc.communicate(timeout=540)
        assert proc.returncode == 0, out[-4000:]
    return proc


def _losses(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def _layout(run_dir: Path, step: int) -> dict:
    path = run_dir / "checkpoints" / f"{step:06d}" / "training_state" / "training_step.json"
    return json.loads(path.read_text())["layout"]


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def _vla(root: Path, out: Path, name: str, batch: int, steps: int = 4) -> list[str]:
    return ["experiment=debug", f"dataset.root={root}", f"output_root={out}", f"run_name={name}",
            "eval.n_episodes=0", "eval.every_steps=0", f"trainer.steps={steps}", "trainer.log_every=1",
            "trainer.save_every=2", f"trainer.batch_size={batch}", "trainer.precision=fp32"]


def _sft(out: Path) -> list[str]:
    """The debug SFT stage for 4 steps in fp32, its scenes generated under ``out``, scored on 2 questions."""
    return ["experiment=sft_debug", f"output_root={out}", f"data.train_path={out}/train.parquet",
            f"data.eval_path={out}/eval.parquet", "trainer.steps=4", "trainer.log_every=1",
            "trainer.precision=fp32", "eval.max_samples=2", "eval.ablations=[]"]


def test_two_processes_train_the_vla_as_one_with_the_same_global_batch(tmp_path, tiny_lift_dataset, compose_config):
    root = tiny_lift_dataset.root
    one = Path(run(compose_config("train", _vla(root, tmp_path, "one", batch=8)))["run_dir"])
    _torchrun(_vla(root, tmp_path, "two", batch=4), tmp_path)
    two = tmp_path / "two"

    assert _losses(one).keys() == _losses(two).keys() == {1, 2, 3, 4}
    for step, loss in _losses(one).items():
        assert _losses(two)[step] == pytest.approx(loss, rel=PARITY_RTOL), step
    # The same samples: one global batch of 8 per step, 4 x 2 processes against 8 x 1.
    assert _layout(one, 4) == {"world_size": 1, "global_batch": 8}
    assert _layout(two, 4) == {"world_size": 2, "global_batch": 8}
    # Only process 0 wrote: the same files as the single process, plus process 1's RNG state in each checkpoint,
    # and each step logged once.
    rank1 = {f"checkpoints/{s:06d}/training_state/rng_state_rank1.safetensors" for s in (2, 4)}
    # commands.jsonl records a command line, which the in-process run has only when hydra ran before in this process.
    command = {"commands.jsonl"}
    assert _files(two) - rank1 - command == _files(one) - command
    assert rank1 <= _files(two)
    assert [json.loads(line)["step"] for line in (two / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


@pytest.mark.slow
def test_two_processes_train_the_sft_stage_as_one(tmp_path, compose_config):
    base = _sft(tmp_path)
    one = Path(run(compose_config("train", [*base, "run_name=one", "trainer.batch_size=2"]))["run_dir"])
    _torchrun([*base, "run_name=two", "trainer.batch_size=1"], tmp_path)
    two = tmp_path / "two"
    assert _losses(one).keys() == _losses(two).keys() == {1, 2, 3, 4}
    for step, loss in _losses(one).items():
        assert _losses(two)[step] == pytest.approx(loss, rel=PARITY_RTOL), step
    assert _layout(two, 4) == {"world_size": 2, "global_batch": 2}


@pytest.mark.slow
def test_two_processes_resume_exactly_after_a_kill(tmp_path, tiny_lift_dataset):
    root = tiny_lift_dataset.root
    _torchrun(_vla(root, tmp_path, "whole", batch=4, steps=6), tmp_path)
    killed = _torchrun(_vla(root, tmp_path, "killed", batch=4, steps=6), tmp_path, wait=False)
    log = tmp_path / "killed" / "train_log.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and killed.poll() is None:
        if log.is_file() and any(json.loads(line)["step"] >= 3 for line in log.read_text().splitlines()):
            os.killpg(killed.pid, signal.SIGKILL)  # both processes and torchrun, past the step-2 checkpoint
            break
        time.sleep(0.05)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    _torchrun(_vla(root, tmp_path, "killed", batch=4, steps=6), tmp_path)  # resumes its last checkpoint
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "whole")  # bit for bit


@pytest.mark.slow
def test_two_processes_run_the_rl_stage(tmp_path):
    """Each process samples the groups of its own prompts; process 0 alone evaluates and writes, and each
    checkpoint keeps process 1's RNG and learner states beside process 0's."""
    _torchrun(["experiment=rl_debug", f"output_root={tmp_path}", "run_name=two",
               f"data.train_path={tmp_path}/train.parquet", f"data.eval_path={tmp_path}/eval.parquet",
               "trainer.batch_size=1", "trainer.precision=fp32", "eval.max_samples=2", "eval.ablations=[]"], tmp_path)
    two = tmp_path / "two"
    assert _layout(two, 2) == {"world_size": 2, "global_batch": 2}
    assert [json.loads(line)["step"] for line in (two / "train_log.jsonl").read_text().splitlines()] == [1, 2]
    state = two / "checkpoints" / "000002" / "training_state"
    assert {"learner_state.safetensors", "learner_state_rank1.safetensors", "rng_state_rank1.safetensors"} <= {
        p.name for p in state.iterdir()}
    assert json.loads((two / "run_summary.json").read_text())["final_step"] == 2
