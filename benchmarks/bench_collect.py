"""Demonstration collection throughput: episodes per minute with 1 vs N worker processes, per env, side by side.

    python benchmarks/bench_collect.py [--envs lift pick_place_can] [--episodes 4] [--workers 1 2] [--out r.json]

Every variant is a whole :func:`vst_vla.data.collect.collect_demos` run (roll-outs, PNG staging, AV1 encoding,
parquet; worker start-up included) into a fresh temporary directory, with the env exactly as its
registered env type (``env=<name>``) describes it and seeds 0, 1, ... "seconds" is the collection's own wall-clock
time; "CPU s" is the CPU time the collecting process and its workers used, which depends much less than
wall-clock time on what else a shared machine runs. LeRobot is imported once before the first variant, so no
variant pays for it (a collection process pays it once, whatever its worker count). Prints a markdown table (the
ratio is against the env's first worker count) and one JSON line; :func:`run` gives the rows to other scripts
(``benchmarks/report.py``).

With rendering on the CPU (Mesa llvmpipe) a worker keeps a core busy, so more workers than free cores buy
nothing; on a shared machine the numbers also depend on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything can import MuJoCo (also inherited by the workers)



def run(
    envs: Sequence[str] = ("lift", "pick_place_can"), episodes: int = 4, workers: Sequence[int] = (1, 2)
) -> list[dict[str, Any]]:
    """Collect ``episodes`` expert episodes of every env with every worker count; one row per (env, workers).

    Args:
        envs: registered env types (with their defaults).
        episodes: episodes each variant keeps (failed ones are dropped and retried, as in a real collection).
        workers: worker counts to compare (1 = in the collecting process).

    Returns:
        Rows ``{"env", "workers", "episodes", "seconds", "episodes_per_min"}`` in (env, workers) order.
    """
    import lerobot.datasets.lerobot_dataset  # noqa: F401 - paid once here, not by the first variant

    from vst_vla.data.collect import collect_demos
    from vst_vla.data.config import CollectConfig
    from vst_vla.data.multitask import resolve_tasks

    env_cfgs = resolve_tasks(list(envs), {})
    rows = []
    for name, env_cfg in env_cfgs.items():
        for n in workers:
            cpu_before = _cpu_seconds()
            with tempfile.TemporaryDirectory(prefix="bench_collect_") as tmp:
                cfg = CollectConfig(root=str(Path(tmp) / "ds"), num_episodes=episodes, num_workers=n)
                report = collect_demos(env_cfg, cfg)
            cpu = _cpu_seconds() - cpu_before
            rows.append(
                {
                    "env": name,
                    "workers": n,
                    "episodes": report.episodes_kept,
                    "seconds": round(report.seconds, 2),
                    "episodes_per_min": round(60 * report.episodes_kept / report.seconds, 2),
                    "dropped": report.episodes_dropped,
                    "frames": report.frames,
                    "cpu_seconds": round(cpu, 2),
                }
            )
    return rows


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children (the workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, each env's rows compared with its first one."""
    lines = [
        "| env | workers | episodes | frames | dropped | seconds | CPU s | episodes/min | vs first |",
        "|:--|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    first: dict[str, float] = {}
    for row in rows:
        base = first.setdefault(row["env"], row["episodes_per_min"])
        lines.append(
            f"| {row['env']} | {row['workers']} | {row['episodes']} | {row['frames']} | {row['dropped']} "
            f"| {row['seconds']:.1f} | {row['cpu_seconds']:.1f} | {row['episodes_per_min']:.2f} "
            f"| {row['episodes_per_min'] / base:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse the command line, run every variant, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["lift", "pick_place_can"], help="registered env types")
    parser.add_argument("--episodes", type=int, default=4, help="episodes kept per variant")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = run(args.envs, args.episodes, args.workers)
    cpu = f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})"
    print(f"\n{args.episodes} episodes per variant, seeds from 0, {cpu}, MUJOCO_GL={os.environ['MUJOCO_GL']}\n")
    print(markdown_table(rows))
    print(json.dumps({"bench": "collect", "rows": rows}))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
