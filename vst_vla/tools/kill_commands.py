"""The long commands the kill matrix interrupts, each with the smallest settings that still cross every kind of write.

A :class:`KillCommand` knows its command line (for a trial directory and the matrix's shared inputs), which directory
its writes land in (kill moments are biased to them), and how to check what a kill left behind and what the rerun
produced against an uninterrupted reference run (:mod:`vst_vla.tools.kill_checks`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vst_vla.data.staging import EPISODE_INFO_FILE, EPISODES_DIR, staging_dir
from vst_vla.tools.kill_checks import (
    check_files,
    compare_checkpoints,
    compare_train_logs,
    compare_values,
    episode_digests,
    read_jsonl,
)

OUT = "out"  # every trial's outputs, under its own directory; the kill watches it for new temporaries
KILLED_LOG, RERUN_LOG = "killed.log", "rerun.log"  # the killed run's and the rerun's output, in the trial directory


@dataclass(frozen=True)
class Tolerance:
    """How close a resumed run's numbers must be to the reference's (``|got - want| <= atol + rtol * |want|``)."""

    rtol: float = 1e-6
    atol: float = 1e-9


@dataclass(frozen=True)
class KillCommand:
    """One command of the matrix.

    Attributes:
        name: the ``--commands`` name.
        args: ``(trial_dir, shared_dir, references) -> argv`` after ``python``; ``references`` maps a command name
            to its reference trial directory (for commands that read another's outputs).
        needs: commands whose reference run must exist first.
        check_after_kill: ``(trial_dir, reference_dir) -> problems`` on what the killed run left.
        check_final: ``(trial_dir, reference_dir, tolerance) -> problems`` on the rerun's outputs.
    """

    name: str
    args: Callable[[Path, Path, dict[str, Path]], list[str]]
    check_after_kill: Callable[[Path, Path], list[str]]
    check_final: Callable[[Path, Path, Tolerance], list[str]]
    needs: tuple[str, ...] = ()


def _hydra(trial: Path) -> list[str]:
    # Hydra's own log beside the outputs, not in them, and no .hydra directory.
    return [f"hydra.run.dir={trial}/hydra", "hydra.output_subdir=null"]


# ---- training stages -----------------------------------------------------------------------------------------------

# Run-summary fields that name this trial's paths or its timing; the rest must equal the reference's.
_SUMMARY_PATH_KEYS = ("run_dir", "checkpoint", "policy_path", "start_step", "hub_url", "report")


def check_training_run(run_name: str) -> Callable[[Path, Path, Tolerance], list[str]]:
    """The final check of a training run ``<out>/<run_name>``: files, per-step log, checkpoints, weights, summary."""

    def check(trial: Path, ref: Path, tol: Tolerance) -> list[str]:
        run, ref_run = trial / OUT / run_name, ref / OUT / run_name
        problems = check_files(trial / OUT, skip_hidden=False)
        problems += compare_train_logs(run, ref_run, tol.rtol, tol.atol)
        problems += compare_checkpoints(run, ref_run, tol.rtol, tol.atol)
        if (run / "checkpoints" / "last").resolve().name != (ref_run / "checkpoints" / "last").resolve().name:
            problems.append(f"{run}/checkpoints/last does not point at the reference's last step")
        summary, ref_summary = (json.loads((d / "run_summary.json").read_text()) for d in (run, ref_run))
        for key in _SUMMARY_PATH_KEYS:
            summary.pop(key, None), ref_summary.pop(key, None)
        problems += compare_values(summary, ref_summary, "run_summary", tol.rtol, tol.atol)
        return problems

    return check


def check_files_after_kill(trial: Path, ref: Path) -> list[str]:
    """Every result file the killed run left in its outputs reads."""
    return check_files(trial / OUT)


def _vla_args(trial: Path, shared: Path, refs: dict[str, Path]) -> list[str]:
    # The debug preset with a log line per step and a checkpoint every 2 of 6 steps; the stage collects the
    # (shared) demonstrations on the reference run.
    return ["-m", "vst_vla.train", "experiment=debug", f"dataset.root={shared}/lift_debug",
            f"output_root={trial}/{OUT}", "trainer.steps=6", "trainer.log_every=1", "trainer.save_every=2",
            *_hydra(trial)]


def _spatial_data(shared: Path) -> list[str]:
    return [f"data.train_path={shared}/spatial/train.parquet", f"data.eval_path={shared}/spatial/eval.parquet"]


def _sft_args(trial: Path, shared: Path, refs: dict[str, Path]) -> list[str]:
    return ["-m", "vst_vla.train", "experiment=sft_debug", f"output_root={trial}/{OUT}", *_spatial_data(shared),
            "trainer.steps=4", "trainer.save_every=2", *_hydra(trial)]


def _rl_args(trial: Path, shared: Path, refs: dict[str, Path]) -> list[str]:
    # Two updates per rollout batch and a checkpoint every step: half the resumes land mid-reuse, where the
    # rollouts must come back from the checkpoint.
    return ["-m", "vst_vla.train", "experiment=rl_debug", f"output_root={trial}/{OUT}", *_spatial_data(shared),
            "trainer.steps=4", "trainer.save_every=1", "rl.updates_per_rollout=2", *_hydra(trial)]


# ---- collection ----------------------------------------------------------------------------------------------------

# Written by the after-kill check into the trial directory: the episodes finished when the kill landed (task/seed ->
# digest), those staged for a resume and those of a dataset already complete, for the final check after the rerun.
FINISHED_BEFORE_KILL = "finished_before_kill.json"
_RESUMED = re.compile(r"resumed (\d+) finished episodes")


def _collect_args(trial: Path, shared: Path, refs: dict[str, Path]) -> list[str]:
    # overwrite=true: the rerun of a collection killed after its dataset was complete replaces it.
    return ["-m", "vst_vla.collect", f"collect.root={trial}/{OUT}/dataset", "collect.num_episodes=2",
            "collect.overwrite=true", "collect.num_workers=2", "env.image_size=64", "env.cheap_render=true",
            *_hydra(trial)]


def _dataset_episodes(dataset: Path) -> dict[str, str]:
    """``task/seed`` -> frame digest of every episode of a collected dataset, in episode-index order."""
    collection = json.loads((dataset / "meta" / "vst_env.json").read_text())["collection"]
    keys = [f"{task}/{seed}" for task, seed in zip(collection["episode_tasks"], collection["episode_seeds"],
                                                    strict=True)]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{dataset} holds an episode twice ({keys})")
    return dict(zip(keys, episode_digests(dataset), strict=True))


def _staged_episodes(dataset: Path) -> tuple[dict[str, str], list[str]]:
    """The finished episodes an interrupted collection into ``dataset`` keeps for its resume (``task/seed`` ->
    digest), and the problems found: each must be a complete, readable one-episode dataset (a half-written one
    may only exist under a hidden temporary name)."""
    found: dict[str, str] = {}
    problems: list[str] = []
    episodes = staging_dir(dataset) / EPISODES_DIR
    for entry in sorted(episodes.iterdir()) if episodes.is_dir() else []:
        if entry.name.startswith("."):
            continue
        unreadable = check_files(entry, skip_hidden=False)
        if unreadable or not (entry / EPISODE_INFO_FILE).is_file():
            problems.append(f"{entry} is named as finished but is half-written: {unreadable[:2] or 'no episode file'}")
            continue
        info = json.loads((entry / EPISODE_INFO_FILE).read_text())
        digests = episode_digests(entry)
        if len(digests) != 1:
            problems.append(f"{entry} holds {len(digests)} episodes instead of one")
            continue
        found[f"{info['task']}/{info['seed']}"] = digests[0]
    return found, problems


def _collect_compare(trial: Path, ref: Path) -> list[str]:
    """The dataset equals the reference's: the same episodes (task, seed), each once, in order, with the same
    frames (data and decoded video), and the same totals."""
    dataset, ref_dataset = trial / OUT / "dataset", ref / OUT / "dataset"
    try:
        got = _dataset_episodes(dataset)
    except ValueError as err:
        return [str(err)]
    want = _dataset_episodes(ref_dataset)
    if list(got) != list(want):
        return [f"{dataset} holds episodes {list(got)}, the reference {list(want)}"]
    problems = [f"{dataset}: episode {key} has other frames than the reference's" for key in want
                if got[key] != want[key]]
    info, ref_info = (json.loads((d / "meta" / "info.json").read_text()) for d in (dataset, ref_dataset))
    return problems + [f"{dataset}: {key} {info[key]} != reference {ref_info[key]}"
                       for key in ("total_episodes", "total_frames") if info[key] != ref_info[key]]


def _collect_after_kill(trial: Path, ref: Path) -> list[str]:
    """What the kill left: readable files; each staged episode complete and equal to the reference's episode; a
    dataset at its root only when complete (renamed into place) and then equal to the reference. Records the
    finished episodes for :func:`_collect_final`."""
    dataset = trial / OUT / "dataset"
    problems = check_files(trial / OUT)
    staged, staged_problems = _staged_episodes(dataset)
    problems += staged_problems
    want = _dataset_episodes(ref / OUT / "dataset")
    problems += [f"staged episode {key} is not the reference's" for key in staged if staged[key] != want.get(key)]
    complete: dict[str, str] = {}
    if dataset.exists() and not problems:
        problems += _collect_compare(trial, ref)
        complete = _dataset_episodes(dataset) if not problems else {}
    (trial / FINISHED_BEFORE_KILL).write_text(json.dumps({"staged": staged, "dataset": complete}))
    return problems


def _collect_final(trial: Path, ref: Path, tol: Tolerance) -> list[str]:
    """The rerun's dataset equals the reference; every episode finished before the kill is in it, unchanged, and
    the staged ones were kept (the rerun says it resumed them all) rather than collected again."""
    problems = check_files(trial / OUT, skip_hidden=False) + _collect_compare(trial, ref)
    record = trial / FINISHED_BEFORE_KILL
    before = json.loads(record.read_text()) if record.is_file() else {"staged": {}, "dataset": {}}
    final = _dataset_episodes(trial / OUT / "dataset")
    for key, digest in {**before["staged"], **before["dataset"]}.items():
        if key not in final:
            problems.append(f"episode {key}, finished before the kill, is missing after the rerun")
        elif final[key] != digest:
            problems.append(f"episode {key}, finished before the kill, has other frames after the rerun")
    if before["staged"]:
        log = trial / RERUN_LOG
        resumed = _RESUMED.findall(log.read_text(errors="replace")) if log.is_file() else []
        if [int(n) for n in resumed] != [len(before["staged"])]:
            problems.append(f"{len(before['staged'])} episodes were finished before the kill, but the rerun resumed "
                            f"{resumed or 'none'} (collected again instead of kept)")
    return problems


# ---- evaluation ----------------------------------------------------------------------------------------------------


def _eval_args(trial: Path, shared: Path, refs: dict[str, Path]) -> list[str]:
    checkpoint = refs["train_vla"] / OUT / "debug" / "checkpoints" / "last" / "pretrained_model"
    return ["-m", "vst_vla.eval", f"policy_path={checkpoint}", f"output_dir={trial}/{OUT}/eval", "eval.n_episodes=4",
            "eval.num_workers=2", "eval.n_videos=2", "eval.max_steps=20", *_hydra(trial)]


def _episode_outcomes(path: Path) -> dict[int, tuple]:
    return {r["seed"]: (r["success"], r["length"], r["video"]) for r in read_jsonl(path)}


def _eval_after_kill(trial: Path, ref: Path) -> list[str]:
    """Every episode finished before the kill is in episodes.jsonl, once, as in the reference."""
    problems = check_files(trial / OUT)
    path = trial / OUT / "eval" / "episodes.jsonl"
    if problems or not path.is_file():
        return problems
    seeds = [r["seed"] for r in read_jsonl(path)]
    if len(set(seeds)) != len(seeds):
        problems.append(f"{path} holds an episode twice (seeds {seeds})")
    want = _episode_outcomes(ref / OUT / "eval" / "episodes.jsonl")
    got = _episode_outcomes(path)
    problems += [f"{path}: seed {s} {got[s]} != reference {want.get(s)}" for s in got if got[s] != want.get(s)]
    return problems


def _eval_final(trial: Path, ref: Path, tol: Tolerance) -> list[str]:
    problems = check_files(trial / OUT, skip_hidden=False) + _eval_after_kill(trial, ref)
    path = trial / OUT / "eval" / "episodes.jsonl"
    seeds, ref_seeds = ([r["seed"] for r in read_jsonl(p)] for p in (path, ref / OUT / "eval" / "episodes.jsonl"))
    if seeds != ref_seeds:
        problems.append(f"{path} holds seeds {seeds}, the reference {ref_seeds}")
    summary, ref_summary = (json.loads((d / OUT / "eval" / "summary.json").read_text()) for d in (trial, ref))
    return problems + compare_values(summary, ref_summary, "summary", tol.rtol, tol.atol)


COMMANDS: dict[str, KillCommand] = {
    c.name: c
    for c in (
        KillCommand("collect", _collect_args, _collect_after_kill, _collect_final),
        KillCommand("train_vla", _vla_args, check_files_after_kill, check_training_run("debug")),
        KillCommand("train_sft", _sft_args, check_files_after_kill, check_training_run("sft_debug")),
        KillCommand("train_rl", _rl_args, check_files_after_kill, check_training_run("rl_debug")),
        KillCommand("eval", _eval_args, _eval_after_kill, _eval_final, needs=("train_vla",)),
    )
}
