"""A worker that dies mid-evaluation is reported with its seed, the finished episodes are kept, no worker is left.

The crash is injected by :class:`benchmarks.eval_load.CrashOnSeed` (the factory's worker ``os._exit``s when handed
one seed, as a segfault would end it); ``benchmarks/eval_load.py`` runs the same over 200 episodes and measures
memory too.
"""

import json
from pathlib import Path

import pytest
from vst_envs import LiftEnvConfig

from benchmarks.eval_load import CRASH_EXIT_CODE, CrashOnSeed, spawned_workers
from vst_vla.rollout.parallel import (
    ExpertPolicyFactory,
    WorkerCrashedError,
    evaluate_parallel,
)

# Tiny cheap-render images and 3 steps an episode: the episodes cost little next to the workers' start-up.
CFG = LiftEnvConfig(image_size=32, max_episode_steps=50, cheap_render=True)
SEEDS = [0, 1, 2, 3, 4, 5]


def _kept_seeds(out: Path) -> list[int]:
    return [json.loads(line)["seed"] for line in (out / "episodes.jsonl").read_text().splitlines()]


def test_clean_run_leaves_no_worker_behind(tmp_path: Path) -> None:
    assert spawned_workers() == []
    summary = evaluate_parallel(CFG, ExpertPolicyFactory(), SEEDS[:4], tmp_path, num_workers=2, n_videos=0,
                                progress=False, max_steps=3)
    assert summary.n_episodes == 4 and _kept_seeds(tmp_path) == SEEDS[:4]
    assert spawned_workers() == [], "worker processes (or zombies) outlived the evaluation"


def test_crashed_worker_is_reported_with_its_seed_and_finished_episodes_are_kept(tmp_path: Path) -> None:
    crash_seed = 3
    with pytest.raises(WorkerCrashedError, match=rf"seed {crash_seed}: worker process \d+ died with exit code "
                                                 rf"{CRASH_EXIT_CODE}") as crash:
        evaluate_parallel(CFG, CrashOnSeed(ExpertPolicyFactory(), crash_seed), SEEDS, tmp_path, num_workers=2,
                          n_videos=0, progress=False, max_steps=3)
    err = crash.value
    assert err.seeds == (crash_seed,) and err.exit_codes == (CRASH_EXIT_CODE,)
    kept = _kept_seeds(tmp_path)
    assert crash_seed not in kept and len(kept) == len(set(kept))
    # Every earlier seed finished, unless the other worker was running it when the broken pool was shut down.
    assert set(SEEDS[: SEEDS.index(crash_seed)]) <= set(kept) | set(err.interrupted_seeds), (kept, err)
    assert f"The {len(kept)} finished episodes are in {tmp_path / 'episodes.jsonl'}" in str(err)
    assert not (tmp_path / "summary.json").exists()
    assert spawned_workers() == [], "worker processes (or zombies) outlived the crash"
