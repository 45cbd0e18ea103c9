"""Env throughput: steps/s for 1 vs N worker processes x default vs cheap render, side by side in one run.

    python benchmarks/bench_env_steps.py [--env lift] [--steps 300] [--image-size 128] [--actions zero|expert]
                                         [--workers 1 2] [--out results.json]

Every variant runs in fresh ``spawn``-ed worker processes (the single-worker one too, so all variants pay the
same process set-up), each building its own env (and EGL context), warming up, then stepping ``--steps``
times after a barrier so the workers run concurrently. Episodes that end are reset and the reset counts as
part of the measured time, as it does in an evaluation. "steps/s" is the total steps of all workers over the
slowest worker's time; ratios are against the first variant (default render, one worker). With rendering on
the CPU (Mesa llvmpipe) the render settings matter most; more workers than free cores buy nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import time
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything can import MuJoCo (also inherited by the workers)

WARMUP_STEPS = 10


def _worker(cfg: dict[str, Any], steps: int, actions: str, seed: int, barrier: Any, results: Any) -> None:
    """Build the env, warm up, wait for the others, then time ``steps`` steps; puts (steps, seconds, resets)."""
    results.put(_step_env(cfg, steps, actions, seed, barrier.wait))


def time_in_process(cfg: dict[str, Any], steps: int, actions: str = "zero", seed: int = 0) -> dict[str, Any]:
    """One env stepped in this process (no worker start-up to pay): the single-worker row of :func:`run_variant`."""
    done, seconds, resets = _step_env(cfg, steps, actions, seed, None)
    return {"workers": 1, "steps": done, "seconds": seconds, "resets": resets, "steps_per_s": done / seconds,
            "per_worker_steps_per_s": [done / seconds]}


def _step_env(cfg: dict[str, Any], steps: int, actions: str, seed: int,
              wait: Any) -> tuple[int, float, int]:
    """Build the env, warm up, call ``wait`` (if any), then time ``steps`` steps: (steps, seconds, resets)."""
    import numpy as np
    from vst_envs import make_env, make_expert

    env = make_env(cfg)
    expert = make_expert(cfg) if actions == "expert" else None
    zero = np.zeros(env.action_space.shape, dtype=np.float32)

    def act() -> np.ndarray:
        return expert.act(env) if expert is not None else zero

    episode = seed
    env.reset(seed=episode)
    if expert is not None:
        expert.reset()
    for _ in range(WARMUP_STEPS):
        env.step(act())
    if wait is not None:
        wait(timeout=600)
    resets = 0
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(act())
        if terminated or truncated:
            episode += 1
            env.reset(seed=episode)
            if expert is not None:
                expert.reset()
            resets += 1
    seconds = time.perf_counter() - start
    env.close()
    return steps, seconds, resets


def run_variant(cfg: dict[str, Any], workers: int, steps: int, actions: str) -> dict[str, Any]:
    """Run one (render, workers) variant; returns its throughput numbers."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(cfg, steps, actions, 1000 * i, barrier, results)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    # Read before join: a child blocks on exit until its queued item is consumed. Poll, so a crashed worker
    # (which never reports) fails the run instead of hanging it.
    outs: list[tuple[int, float, int]] = []
    while len(outs) < workers:
        try:
            outs.append(results.get(timeout=5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a benchmark worker failed (exit codes {dead})") from None
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a benchmark worker exited with code {p.exitcode}")
    total = sum(s for s, _, _ in outs)
    wall = max(sec for _, sec, _ in outs)
    return {
        "workers": workers,
        "steps": total,
        "seconds": wall,
        "resets": sum(r for _, _, r in outs),
        "steps_per_s": total / wall,
        "per_worker_steps_per_s": [s / sec for s, sec, _ in outs],
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, with ratios against the first row and against 1 worker (same render)."""
    base = rows[0]["steps_per_s"]
    single = {r["render"]: r["steps_per_s"] for r in rows if r["workers"] == 1}
    header = ["render", "workers", "steps/s", "per worker", "ms/step/worker", "vs first row", "vs 1 worker"]
    lines = ["| " + " | ".join(header) + " |", "|:--|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        per_worker = sum(r["per_worker_steps_per_s"]) / len(r["per_worker_steps_per_s"])
        vs_single = f"{r['steps_per_s'] / single[r['render']]:.2f}x" if r["render"] in single else "—"
        cells = [r["render"], str(r["workers"]), f"{r['steps_per_s']:.1f}", f"{per_worker:.1f}",
                 f"{1000 / per_worker:.1f}", f"{r['steps_per_s'] / base:.2f}x", vs_single]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="lift", help="registered env type (vst_envs.ENVS)")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per worker")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--cameras", nargs="+", default=["agentview"])
    parser.add_argument("--actions", choices=("zero", "expert"), default="zero")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if args.steps < 1 or any(w < 1 for w in args.workers):
        parser.error("--steps and --workers must be >= 1")

    from vst_envs.config import env_config_from_dict

    rows = []
    for render in ("default", "cheap"):
        cfg = env_config_from_dict({"type": args.env, "image_size": args.image_size, "cameras": args.cameras,
                                    "cheap_render": render == "cheap"}).to_dict()
        for workers in args.workers:
            row = {"render": render, **run_variant(cfg, workers, args.steps, args.actions)}
            rows.append(row)
            print(f"{render:8s} {workers} worker(s): {row['steps_per_s']:.1f} steps/s", flush=True)

    table = markdown_table(rows)
    print(f"\n{args.env}, {args.image_size} px {'+'.join(args.cameras)}, {args.actions} actions, "
          f"{args.steps} steps per worker, {os.cpu_count()} CPUs, MUJOCO_GL={os.environ['MUJOCO_GL']}\n")
    print(table)
    if args.out:
        meta = {"env": args.env, "image_size": args.image_size, "cameras": args.cameras, "actions": args.actions,
                "steps_per_worker": args.steps, "cpu_count": os.cpu_count(), "mujoco_gl": os.environ["MUJOCO_GL"],
                "machine": platform.platform(), "load_avg": os.getloadavg()}
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "results": rows, "table": table}, f, indent=2)


if __name__ == "__main__":
    main()
