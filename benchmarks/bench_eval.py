"""Evaluation throughput: episodes per minute of a saved VLA policy with 1 and 2 worker processes.

    python benchmarks/bench_eval.py [--workers 1 2] [--episodes 4] [--max-steps 50]

A tiny untrained policy of the default shape (tokens head, chunk 4, one 128 px camera) is saved to a temporary
directory and evaluated on Lift by ``vst_vla.rollout.parallel.evaluate_parallel`` with the checkpoint factory
that ``python -m vst_vla.eval`` uses, so every variant pays the same worker start-up (spawn, imports, loading the
checkpoint) as a real evaluation. Untrained, the policy never succeeds, so every episode runs ``--max-steps``
steps. "episodes/min" is over the whole wall time including start-up; "s/episode" is the mean of the episodes'
own times (inference + simulation + rendering), which start-up does not touch; "after start-up" is the rate the
workers keep once running (workers x 60 / s/episode) and the start-up estimate is the wall time minus the
workers' episode time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything can import MuJoCo (inherited by the workers)

import torch

from benchmarks.bench_train import default_policy
from vst_vla.precision import PRECISIONS


def run(workers: tuple[int, ...] = (1, 2), episodes: int = 4, max_steps: int = 50, precision: str = "auto",
        image_size: int = 128) -> list[dict]:
    """Rows ``{workers, episodes, seconds, episodes_per_min, mean_episode_seconds, steps_per_s, ...}``."""
    from vst_envs.config import LiftEnvConfig

    from vst_vla.rollout.parallel import PretrainedPolicyFactory, evaluate_parallel

    env_cfg = LiftEnvConfig(image_size=image_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        policy = default_policy(image_size=image_size)
        policy.env_metadata = {"env": env_cfg.to_dict()}
        path = policy.save_pretrained(Path(tmp) / "policy")
        factory = PretrainedPolicyFactory(str(path), "cpu", precision)
        for n in workers:
            out = Path(tmp) / f"eval_w{n}"
            summary = evaluate_parallel(env_cfg, factory, list(range(episodes)), out, num_workers=n, n_videos=0,
                                        progress=False, max_steps=max_steps)
            records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
            steps = sum(r["length"] for r in records)
            per_episode = sum(r["seconds"] for r in records) / len(records)
            busy = episodes * per_episode / min(n, episodes)  # the workers' episode time, run side by side
            rows.append({"workers": n, "episodes": episodes, "max_steps": max_steps, "seconds": summary.seconds,
                         "episodes_per_min": 60 * episodes / summary.seconds, "mean_episode_seconds": per_episode,
                         "startup_seconds_est": max(summary.seconds - busy, 0.0),
                         "episodes_per_min_after_startup": 60 * min(n, episodes) / per_episode,
                         "steps_per_s": steps / summary.seconds, "precision_requested": precision})
    for row in rows:
        row["speedup_vs_1_worker"] = row["episodes_per_min"] / rows[0]["episodes_per_min"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    args = parser.parse_args()
    rows = run(tuple(args.workers), args.episodes, args.max_steps, args.precision)
    print(f"| workers | episodes | seconds | start-up s (est.) | episodes/min | after start-up | s/episode "
          f"| vs 1 worker |  ({os.cpu_count()} CPUs)")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['workers']} | {r['episodes']} | {r['seconds']:.1f} | {r['startup_seconds_est']:.1f} "
              f"| {r['episodes_per_min']:.1f} | {r['episodes_per_min_after_startup']:.1f} "
              f"| {r['mean_episode_seconds']:.1f} | {r['speedup_vs_1_worker']:.2f}x |")


if __name__ == "__main__":
    main()
