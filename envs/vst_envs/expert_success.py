"""Measure the scripted expert: ``python -m vst_envs.expert_success [--env tabletop_pick] --episodes 50 [--no-camera]``.

Runs seeded episodes (seeds ``start_seed .. start_seed + episodes - 1``) and prints the success rate, the mean
episode length (of successful episodes, and of all) and the wall time / env steps per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from tqdm import tqdm

from vst_envs import make_env, make_expert
from vst_envs.config import RobosuiteEnvConfig
from vst_envs.experts import LiftExpert
from vst_envs.registry import ENVS


@dataclasses.dataclass
class EpisodeResult:
    """Outcome of one expert episode."""

    seed: int
    success: bool
    steps: int


def run_episode(env: gymnasium.Env, expert: LiftExpert, seed: int) -> EpisodeResult:
    """Roll the expert out for one episode from ``env.reset(seed=seed)``."""
    env.reset(seed=seed)
    expert.reset()
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(expert.act(env))
        steps += 1
        if terminated or truncated:
            return EpisodeResult(seed=seed, success=bool(info["is_success"]), steps=steps)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="example:\n  python -m vst_envs.expert_success --env tabletop_pick --episodes 50 --no-camera",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default="lift", choices=ENVS.names(), help="registered env type")
    parser.add_argument("--episodes", type=int, default=50, help="number of seeded episodes")
    parser.add_argument("--start-seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--no-camera", action="store_true", help="render nothing (cameras=()), much faster")
    parser.add_argument("--cheap-render", action="store_true", help="no shadows / reflections / multisampling")
    parser.add_argument("--image-size", type=int, default=RobosuiteEnvConfig.image_size)
    parser.add_argument(
        "--max-episode-steps", type=int, default=None, help="episode time limit (default: the env config's own)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> float:
    """Run the measurement and print a summary; returns the success rate."""
    args = parse_args(argv)
    cfg_class = ENVS.get(args.env)
    cfg = cfg_class(
        cameras=() if args.no_camera else cfg_class.cameras,
        cheap_render=args.cheap_render,
        image_size=args.image_size,
        max_episode_steps=args.max_episode_steps or cfg_class.max_episode_steps,
    )
    env = make_env(cfg)
    expert = make_expert(cfg)
    results: list[EpisodeResult] = []
    start = time.perf_counter()
    try:
        seeds = range(args.start_seed, args.start_seed + args.episodes)
        for seed in (bar := tqdm(seeds, desc="expert", unit="ep")):
            results.append(run_episode(env, expert, seed))
            bar.set_postfix(success=f"{np.mean([r.success for r in results]):.0%}", refresh=False)
    finally:
        env.close()
    elapsed = time.perf_counter() - start
    _print_summary(cfg, results, elapsed)
    return float(np.mean([r.success for r in results]))


def _print_summary(cfg: Any, results: list[EpisodeResult], elapsed: float) -> None:
    successes = [r for r in results if r.success]
    total_steps = sum(r.steps for r in results)
    print(f"env: {cfg.to_dict()}")
    print(f"success rate: {len(successes)}/{len(results)} = {len(successes) / len(results):.1%}")
    if successes:
        lengths = [r.steps for r in successes]
        print(f"episode length (successes): mean {np.mean(lengths):.1f}, min {min(lengths)}, max {max(lengths)}")
    print(f"episode length (all): mean {total_steps / len(results):.1f}")
    failed = [r.seed for r in results if not r.success]
    if failed:
        print(f"failed seeds: {failed}")
    print(f"time: {elapsed:.1f} s, {total_steps / elapsed:.1f} env steps/s")


if __name__ == "__main__":
    main()
