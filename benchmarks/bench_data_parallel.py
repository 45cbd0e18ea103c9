"""Data-parallel training throughput on this machine: the VLA stage with 1 process against N processes (torchrun,
gloo on CPUs), the same global batch, side by side.

    python benchmarks/bench_data_parallel.py [--processes 1 2] [--fsdp2] [--steps 40] [--global-batch 8]
        [--dataset DIR]

``--fsdp2`` adds, for every process count above 1, the same run with ``trainer.parallelism=fsdp2`` (each process
holds a shard of the model and its optimizer state) beside DDP's.

Each variant is a whole ``python -m vst_vla.train`` run (start-up, demo loading, training, no evaluation) on the
same demonstrations (collected once, 4 Lift episodes at 64 px, unless ``--dataset`` names a LeRobot dataset).
"train s" is the training phase's wall-clock time from the stage's own timer; samples/s is global batch x steps
over it. Two processes on two cores split the cores rather than add any; what this measures is whether the
loop's communication and duplicated work cost more than the parallel compute gains. Prints a markdown table and
one JSON line with the machine description (``benchmarks/machine.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import machine_info

REPO = Path(__file__).resolve().parents[1]


def _train(processes: int, steps: int, global_batch: int, dataset: Path, out: Path, precision: str,
           parallelism: str = "ddp") -> dict:
    per_process = global_batch // processes
    name = f"p{processes}_{parallelism}"
    overrides = ["experiment=debug", f"dataset.root={dataset}", f"output_root={out}", f"run_name={name}",
                 f"trainer.parallelism={parallelism}",
                 "eval.n_episodes=0", "eval.every_steps=0", f"trainer.steps={steps}", f"trainer.save_every={steps}",
                 f"trainer.log_every={steps}", f"trainer.batch_size={per_process}", f"trainer.precision={precision}",
                 f"hydra.run.dir={out}/hydra"]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": "egl"}
    if processes > 1:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    subprocess.run([*launcher, "-m", "vst_vla.train", *overrides], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads((out / name / "run_summary.json").read_text())
    seconds = summary["phases_s"]["train"]
    return {"processes": processes, "parallelism": parallelism if processes > 1 else "-",
            "per_process_batch": per_process, "global_batch": global_batch, "steps": steps,
            "train_s": round(seconds, 2), "samples_per_s": round(global_batch * steps / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fsdp2", action="store_true", help="also run each process count > 1 under FSDP2")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset
        if dataset is None:
            dataset = Path(tmp) / "lift"
            subprocess.run([sys.executable, "-m", "vst_vla.collect", "collect.num_episodes=4", "env.image_size=64",
                            "env.cheap_render=true", f"collect.root={dataset}", f"hydra.run.dir={tmp}/hydra"],
                           cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "MUJOCO_GL": "egl"})
        variants = [(p, "ddp") for p in args.processes]
        variants += [(p, "fsdp2") for p in args.processes if p > 1 and args.fsdp2]
        rows = [_train(p, args.steps, args.global_batch, dataset, Path(tmp), args.precision, parallelism)
                for p, parallelism in variants]
    base = rows[0]["samples_per_s"]
    print("| processes | parallelism | batch per process | global batch | steps | train s | samples/s | vs first |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['processes']} | {r['parallelism']} | {r['per_process_batch']} | {r['global_batch']} "
              f"| {r['steps']} | {r['train_s']} | {r['samples_per_s']} | {r['samples_per_s'] / base:.2f}x |")
    result = {"machine": machine_info(), "rows": rows}
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
