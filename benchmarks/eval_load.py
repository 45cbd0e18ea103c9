"""Evaluation under load: 2 worker processes over 200 short episodes, then the same with a worker crash injected.

    python benchmarks/eval_load.py [--episodes 200] [--workers 2] [--max-steps 5] [--image-size 32]
                                   [--policy checkpoint|expert] [--precision auto|bf16|fp32] [--warmup 20]
                                   [--out outputs/benchmarks/eval_load]

Checks three properties of ``vst_vla.rollout.parallel.evaluate_parallel`` (the pool behind ``python -m
vst_vla.eval eval.num_workers=N``) and prints them with the figures behind them:

- no worker leak: this process's child worker processes (``multiprocessing.spawn`` children, zombies included)
  are counted before and after each run; the count must be the same;
- memory flat: the RSS of this process and of each worker is sampled every ``--sample-s`` seconds; from the end of
  the first ``--warmup`` episodes to the last episode the max/min ratio of each, and of their sum, must stay
  within 1.10;
- a crash reported with its seed, finished episodes kept: the second run's worker ``os._exit``s when handed the
  middle seed (:class:`CrashOnSeed`); the run must raise ``WorkerCrashedError`` naming that seed, and every other
  seed before it must be in ``episodes.jsonl`` unless the error lists it as interrupted by the shutdown.

The policy is the default job's shape (tokens head, chunk 4) untrained, saved to ``--out`` and loaded by each worker
as ``python -m vst_vla.eval`` does (``--policy expert``: the scripted expert, no torch model). Exit status 1 when a
property fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything can import MuJoCo (inherited by the workers)

from benchmarks.machine import cpu_model_and_flags

# The exit status of an injected crash: any non-zero code a real crash (segfault -11, OOM kill -9) would leave.
CRASH_EXIT_CODE = 3
MEMORY_RATIO_LIMIT = 1.10


@dataclasses.dataclass(frozen=True)
class CrashOnSeed:
    """Fault injection: a policy factory that builds ``inner``'s policy, but whose worker process dies
    (``os._exit``, no cleanup, like a segfault) when its env is reset with ``seed``.

    Picklable, so ``evaluate_parallel`` hands it to its workers like any factory.
    """

    inner: Any
    seed: int
    exit_code: int = CRASH_EXIT_CODE

    def __call__(self, env: Any) -> Any:
        policy = self.inner(env)
        reset = env.reset

        def reset_or_crash(*, seed: int | None = None, options: dict | None = None):
            if seed == self.seed:
                os._exit(self.exit_code)
            return reset(seed=seed, options=options)

        env.reset = reset_or_crash  # this worker's env only
        return policy


def spawned_workers() -> list[dict]:
    """This process's ``multiprocessing`` spawn children (pool workers), with pid and status."""
    import psutil

    workers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append({"pid": child.pid, "status": child.status()})
        except psutil.NoSuchProcess:
            continue
        except psutil.ZombieProcess:
            workers.append({"pid": child.pid, "status": "zombie"})
    return workers


class MemorySampler:
    """Samples the RSS (MiB) of this process and of its spawned workers, with the number of finished episodes."""

    def __init__(self, episodes_file: Path, interval_s: float) -> None:
        self.episodes_file, self.interval_s = episodes_file, interval_s
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.interval_s):
            try:
                done = len(self.episodes_file.read_text().splitlines()) if self.episodes_file.is_file() else 0
                rss = {"main": me.memory_info().rss / 2**20}
                for worker in spawned_workers():
                    if worker["status"] != "zombie":
                        rss[str(worker["pid"])] = psutil.Process(worker["pid"]).memory_info().rss / 2**20
            except (psutil.NoSuchProcess, OSError):
                continue  # a worker ended between listing and reading; the next sample has it right
            self.samples.append({"t": time.time(), "episodes_done": done, "rss_mib": rss})


def memory_figures(samples: list[dict], warmup: int, n_workers: int, episodes: int) -> dict:
    """Max/min RSS ratio of each process and of their sum, over the samples taken after ``warmup`` episodes and
    before the last one finished (then the workers close their envs and exit: shrinking is not a leak), with every
    worker running."""
    steady = [s for s in samples
              if warmup <= s["episodes_done"] < episodes and len(s["rss_mib"]) == n_workers + 1]
    if len(steady) < 2:
        return {"samples_after_warmup": len(steady), "ratios": {}, "max_ratio": None}
    ratios, ranges = {}, {}
    for name in steady[0]["rss_mib"]:
        values = [s["rss_mib"][name] for s in steady if name in s["rss_mib"]]
        ratios[name], ranges[name] = max(values) / min(values), (min(values), max(values))
    totals = [sum(s["rss_mib"].values()) for s in steady]
    ratios["total"], ranges["total"] = max(totals) / min(totals), (min(totals), max(totals))
    return {"samples_after_warmup": len(steady), "ratios": ratios, "rss_range_mib": ranges,
            "max_ratio": max(ratios.values())}


def make_factory(kind: str, out: Path, env_cfg: Any, precision: str = "auto"):
    from vst_vla.rollout.parallel import ExpertPolicyFactory, PretrainedPolicyFactory

    if kind == "expert":
        return ExpertPolicyFactory()
    import torch

    from benchmarks.bench_train import default_policy

    torch.manual_seed(0)
    policy = default_policy(image_size=env_cfg.image_size)
    policy.env_metadata = {"env": env_cfg.to_dict()}
    path = policy.save_pretrained(out / "policy")
    return PretrainedPolicyFactory(str(path), "cpu", precision)


def run(episodes: int = 200, workers: int = 2, max_steps: int = 5, image_size: int = 32, policy: str = "checkpoint",
        warmup: int = 20, sample_s: float = 0.5, out: Path = Path("outputs/benchmarks/eval_load"),
        precision: str = "auto") -> dict:
    """Both runs; returns their figures and whether each property held (``ok``)."""
    from vst_envs.config import LiftEnvConfig

    from vst_vla.rollout.parallel import WorkerCrashedError, evaluate_parallel

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env_cfg = LiftEnvConfig(image_size=image_size, cheap_render=True)
    factory = make_factory(policy, out, env_cfg, precision)
    seeds = list(range(episodes))
    common = {"num_workers": workers, "n_videos": 0, "progress": False, "max_steps": max_steps}
    report: dict[str, Any] = {"episodes": episodes, "workers": workers, "max_steps": max_steps,
                              "image_size": image_size, "policy": policy, "precision": precision,
                              "warmup_episodes": warmup}

    before = spawned_workers()
    start = time.perf_counter()
    with MemorySampler(out / "load" / "episodes.jsonl", sample_s) as sampler:
        summary = evaluate_parallel(env_cfg, factory, seeds, out / "load", **common)
    report["load"] = {"seconds": time.perf_counter() - start, "episodes_recorded": summary.n_episodes,
                      "workers_before": len(before), "workers_after": len(spawned_workers()),
                      **memory_figures(sampler.samples, warmup, workers, episodes), "rss_samples": sampler.samples}

    crash_seed = seeds[len(seeds) // 2]
    before = spawned_workers()
    start = time.perf_counter()
    error: WorkerCrashedError | None = None
    try:
        evaluate_parallel(env_cfg, CrashOnSeed(factory, crash_seed), seeds, out / "crash", **common)
    except WorkerCrashedError as err:
        error = err
    kept = [json.loads(line)["seed"] for line in (out / "crash" / "episodes.jsonl").read_text().splitlines()]
    interrupted = list(error.interrupted_seeds) if error else []
    missing = sorted(set(seeds[: seeds.index(crash_seed)]) - set(kept) - set(interrupted))
    report["crash"] = {"seconds": time.perf_counter() - start, "injected_seed": crash_seed,
                       "reported_seeds": list(error.seeds) if error else None,
                       "exit_codes": list(error.exit_codes) if error else None,
                       "interrupted_seeds": interrupted, "message": str(error) if error else None,
                       "episodes_kept": len(kept), "seeds_kept_after_crash_seed": sum(s > crash_seed for s in kept),
                       "earlier_seeds_missing": missing, "summary_written": (out / "crash" / "summary.json").exists(),
                       "workers_before": len(before), "workers_after": len(spawned_workers())}

    load, crash = report["load"], report["crash"]
    report["ok"] = {
        "no_worker_leak": load["workers_after"] == load["workers_before"] == 0
        and crash["workers_after"] == crash["workers_before"] == 0,
        "memory_flat": load["max_ratio"] is not None and load["max_ratio"] <= MEMORY_RATIO_LIMIT,
        "crash_reported_with_seed": crash["reported_seeds"] == [crash_seed]
        and crash["exit_codes"] == [CRASH_EXIT_CODE],
        "finished_episodes_kept": not missing and crash_seed not in kept and not crash["summary_written"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--policy", choices=["checkpoint", "expert"], default="checkpoint")
    parser.add_argument("--warmup", type=int, default=20, help="episodes before memory counts as warmed up")
    parser.add_argument("--sample-s", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/eval_load"))
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="as vst_vla.eval's precision= (auto: bf16 only where native)")
    args = parser.parse_args()
    report = run(args.episodes, args.workers, args.max_steps, args.image_size, args.policy, args.warmup,
                 args.sample_s, args.out, args.precision)
    load, crash = report["load"], report["crash"]
    print(f"machine: {cpu_model_and_flags()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"load run: {report['episodes']} episodes x {report['max_steps']} steps, {report['workers']} workers, "
          f"{report['policy']} policy, precision {report['precision']}, {load['seconds']:.1f} s")
    print(f"  spawned workers before/after: {load['workers_before']}/{load['workers_after']}")
    print(f"  RSS max/min after {report['warmup_episodes']} episodes ({load['samples_after_warmup']} samples):")
    for name, ratio in load["ratios"].items():
        low, high = load["rss_range_mib"][name]
        print(f"    {name:>8}: {low:7.1f}-{high:7.1f} MiB  ratio {ratio:.3f}")
    print(f"crash run: worker os._exit({CRASH_EXIT_CODE}) at seed {crash['injected_seed']}, {crash['seconds']:.1f} s")
    print(f"  reported: {crash['message']}")
    print(f"  episodes kept: {crash['episodes_kept']} ({crash['seeds_kept_after_crash_seed']} with a later seed); "
          f"earlier seeds missing: {crash['earlier_seeds_missing']}; summary.json written: {crash['summary_written']}")
    print(f"  spawned workers before/after: {crash['workers_before']}/{crash['workers_after']}")
    for name, held in report["ok"].items():
        print(f"{'PASS' if held else 'FAIL'} {name}")
    print(f"report: {args.out / 'report.json'}")
    raise SystemExit(0 if all(report["ok"].values()) else 1)


if __name__ == "__main__":
    main()
