"""The kill matrix: ``python -m vst_vla.tools.chaos [--kills N] [--commands ...] [--seed S]``.

For each long command (:mod:`vst_vla.tools.kill_commands`: demonstration collection, VLA / SFT / RL debug training,
evaluation with 2 workers) it first runs an uninterrupted reference, then, ``--kills`` times: starts the command,
SIGKILLs it at a seeded random moment, checks what the kill left behind, reruns the same command and checks the
rerun against the reference (:mod:`vst_vla.tools.kill_checks`). Half the kill moments are times drawn over the
reference run's duration; the other half are the k-th temporary file or directory the command creates (checkpoint,
episode, video and result writes all go through hidden temporaries), with k drawn over the reference's count.

A trial survives when the rerun exits 0, every result file reads (safetensors, JSON, JSONL, parquet, mp4), no
temporary is left, no worker process outlives the killed command, and the outputs equal the reference's: per-step
training logs and final weights within ``--rtol`` / ``--atol``, the same dataset episodes once each with the same
frames (those finished before the kill kept unchanged, not collected again), the same evaluation episodes. Prints a
table of kills survived per command and writes ``<out>/chaos_result.json``; the reference runs are kept in
``<out>/references`` and reused (delete them after changing a command), failed trials in ``<out>/trials``. Exit code
1 when a trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from vst_vla.tools.kill_checks import check_files, max_deviation, read_jsonl
from vst_vla.tools.kill_commands import COMMANDS, KILLED_LOG, OUT, RERUN_LOG, KillCommand, Tolerance
from vst_vla.tools.kill_runner import KillPlan, RunOutcome, run_command

REFERENCE_FILE = "reference.json"
RESULT_FILE = "chaos_result.json"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def cpu_model() -> str:
    """``lscpu``'s model name (from /proc/cpuinfo), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Matrix:
    """Reference runs and kill trials of the matrix under ``out_dir``."""

    def __init__(self, out_dir: Path, tolerance: Tolerance, keep: bool = False,
                 commands: Mapping[str, KillCommand] = COMMANDS) -> None:
        self.commands = commands
        self.out_dir = out_dir.absolute()
        self.shared = self.out_dir / "shared"
        self.tolerance = tolerance
        self.keep = keep
        self.references: dict[str, Path] = {}

    def _argv(self, command: KillCommand, trial: Path) -> list[str]:
        return [sys.executable, *command.args(trial, self.shared, self.references)]

    def reference(self, name: str) -> dict:
        """Run (or reuse) the uninterrupted reference of ``name``; returns its duration and write times."""
        command = self.commands[name]
        for need in command.needs:
            self.reference(need)
        ref = self.out_dir / "references" / name
        self.references[name] = ref
        marker = ref / REFERENCE_FILE
        if marker.is_file():
            return json.loads(marker.read_text())
        shutil.rmtree(ref, ignore_errors=True)
        outcome = run_command(self._argv(command, ref), Path.cwd(), ref / "run.log", ref / OUT, env=_env())
        problems = check_files(ref / OUT, skip_hidden=False)
        if outcome.returncode != 0 or problems:
            raise RuntimeError(f"the reference run of {name} failed (exit {outcome.returncode}; {problems[:3]}):\n"
                               f"{outcome.tail()}")
        info = {"seconds": outcome.seconds, "write_times_s": outcome.write_times_s}
        marker.write_text(json.dumps(info))
        return info

    def trial(self, name: str, index: int, plan: KillPlan) -> dict:
        """Kill ``name`` as ``plan`` says, check, rerun, check; returns the trial's record."""
        command, ref = self.commands[name], self.references[name]
        trial = self.out_dir / "trials" / name / f"kill_{index:02d}"
        shutil.rmtree(trial, ignore_errors=True)
        argv = self._argv(command, trial)
        ref_seconds = json.loads((ref / REFERENCE_FILE).read_text())["seconds"]
        timeout = 600 + 10 * ref_seconds
        first = run_command(argv, Path.cwd(), trial / KILLED_LOG, trial / OUT, plan, timeout, _env())
        problems = _outcome_problems("killed run", first, expect_zero=not first.killed)
        if first.killed:
            problems += [f"after the kill: {p}" for p in command.check_after_kill(trial, ref)]
        rerun = run_command(argv, Path.cwd(), trial / RERUN_LOG, trial / OUT, None, timeout, _env())
        problems += _outcome_problems("rerun", rerun, expect_zero=True)
        if rerun.returncode == 0:
            try:
                problems += command.check_final(trial, ref, self.tolerance)
            except (OSError, ValueError, KeyError) as err:
                problems.append(f"final check could not read the outputs: {type(err).__name__}: {err}")
        record = {"command": name, "kill": index, "plan": plan.describe(), "killed": first.killed,
                  "killed_after_s": round(first.seconds, 2), "rerun_s": round(rerun.seconds, 2),
                  "resumed_at_step": _resumed_at(rerun), "loss_max_abs_dev": _loss_deviation(trial, ref),
                  "problems": problems, "dir": str(trial)}
        if not problems and not self.keep:
            shutil.rmtree(trial, ignore_errors=True)
            record["dir"] = None
        return record


def _outcome_problems(what: str, outcome: RunOutcome, expect_zero: bool) -> list[str]:
    problems = [f"{what}: worker process outlived the killed command: {p}" for p in outcome.orphans]
    if outcome.returncode is None:
        problems.append(f"{what} timed out after {outcome.seconds:.0f} s")
    elif expect_zero and outcome.returncode != 0:
        problems.append(f"{what} exited {outcome.returncode}:\n{outcome.tail()}")
    return problems


def _resumed_at(outcome: RunOutcome) -> int | None:
    """The step a training rerun resumed from (the trainer logs it), None when it started afresh."""
    text = outcome.log.read_text(errors="replace") if outcome.log else ""
    found = re.findall(r"resumed from \S+ at step (\d+)", text)
    return int(found[-1]) if found else None


def _loss_deviation(trial: Path, ref: Path) -> float | None:
    logs = [sorted((d / OUT).glob("*/train_log.jsonl")) for d in (trial, ref)]
    if not logs[0] or not logs[1]:
        return None
    return max_deviation(read_jsonl(logs[0][0]), read_jsonl(logs[1][0]))


def kill_plans(name: str, kills: int, seed: int, reference: dict) -> list[KillPlan]:
    """``kills`` seeded moments: even trials on the k-th temporary write of the reference, odd ones at a time drawn
    over its duration (all times when the reference saw no temporary)."""
    plans = []
    writes = len(reference["write_times_s"])
    for i in range(kills):
        rng = random.Random(f"{seed}/{name}/{i}")
        if i % 2 == 0 and writes:
            plans.append(KillPlan(at_write=rng.randint(1, writes)))
        else:
            plans.append(KillPlan(at_s=round(rng.uniform(0.02, 0.98) * reference["seconds"], 2)))
    return plans


def summarize(records: list[dict], commands: list[str]) -> list[dict]:
    rows = []
    for name in commands:
        mine = [r for r in records if r["command"] == name]
        devs = [r["loss_max_abs_dev"] for r in mine if r["loss_max_abs_dev"] is not None]
        rows.append({"command": name, "kills": len(mine), "killed_mid_run": sum(r["killed"] for r in mine),
                     "survived": sum(not r["problems"] for r in mine),
                     "loss_max_abs_dev": max(devs) if devs else None})
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of kills survived per command."""
    lines = ["| command | kills | killed mid-run | survived | max loss deviation |", "|---|---|---|---|---|"]
    for r in rows:
        dev = "n/a" if r["loss_max_abs_dev"] is None else f"{r['loss_max_abs_dev']:.1e}"
        survived = f"{r['survived']}/{r['kills']}"
        lines.append(f"| {r['command']} | {r['kills']} | {r['killed_mid_run']} | {survived} | {dev} |")
    return "\n".join(lines)


def run_matrix(commands: list[str], kills: int, seed: int, out_dir: Path, tolerance: Tolerance | None = None,
               keep: bool = False, progress: bool = True, registry: Mapping[str, KillCommand] = COMMANDS) -> dict:
    """Run the matrix; returns (and writes to ``<out_dir>/chaos_result.json``) every trial and the table rows.

    ``registry`` maps the names in ``commands`` to their :class:`KillCommand` (default: the project's long commands).
    """
    matrix = Matrix(out_dir, tolerance or Tolerance(), keep, registry)
    records: list[dict] = []
    with tqdm(total=len(commands) * kills, desc="kill matrix", unit="kill", disable=not progress) as bar:
        for name in commands:
            bar.set_postfix_str(f"{name}: reference run")
            reference = matrix.reference(name)
            for i, plan in enumerate(kill_plans(name, kills, seed, reference)):
                bar.set_postfix_str(f"{name}: kill {plan.describe()}")
                records.append(matrix.trial(name, i, plan))
                bar.update(1)
    result = {"cpu": cpu_model(), "cores": os.cpu_count(), "seed": seed, "kills_per_command": kills,
              "tolerance": asdict(matrix.tolerance), "table": summarize(records, commands), "trials": records}
    (matrix.out_dir / RESULT_FILE).write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vst_vla.tools.chaos", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kills per command (default 20)")
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS),
                        help="commands to kill (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--out", type=Path, default=Path("outputs/chaos"), help="output directory")
    parser.add_argument("--rtol", type=float, default=Tolerance.rtol, help="relative tolerance on resumed numbers")
    parser.add_argument("--atol", type=float, default=Tolerance.atol, help="absolute tolerance on resumed numbers")
    parser.add_argument("--keep", action="store_true", help="keep the directories of trials that passed")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error(f"--kills must be >= 1, got {args.kills}")
    result = run_matrix(args.commands, args.kills, args.seed, args.out, Tolerance(args.rtol, args.atol), args.keep)
    print(format_table(result["table"]))
    for trial in result["trials"]:
        for problem in trial["problems"]:
            print(f"FAIL {trial['command']} kill {trial['kill']} ({trial['plan']}): {problem}")
    print(f"machine: {result['cpu']} ({result['cores']} cores); results: {args.out / RESULT_FILE}")
    return 0 if all(not t["problems"] for t in result["trials"]) else 1


if __name__ == "__main__":
    sys.exit(main())
