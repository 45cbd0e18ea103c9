"""The kill matrix (``python -m vst_vla.tools.chaos``): a command SIGKILLed at a seeded moment, rerun, and checked.

Whatever moment the kill lands on (it depends on the machine's speed), the check is the same: the rerun completes
and its outputs equal an uninterrupted run's; so neither test depends on how fast the machine is.
"""

import json
import shutil
from pathlib import Path

import pytest

from vst_vla.tools.chaos import format_table, kill_plans, main, run_matrix
from vst_vla.tools.kill_checks import check_files, compare_values, episode_digests
from vst_vla.tools.kill_commands import (
    COMMANDS,
    FINISHED_BEFORE_KILL,
    OUT,
    RERUN_LOG,
    KillCommand,
    check_files_after_kill,
    check_training_run,
)


def short_training(dataset: Path) -> KillCommand:
    """The cheapest long command: 4 VLA steps on the session's tiny dataset, a checkpoint every 2, no evaluation."""

    def args(trial: Path, shared: Path, refs: dict) -> list[str]:
        return ["-m", "vst_vla.train", "experiment=debug", f"dataset.root={dataset}", f"output_root={trial}/{OUT}",
                "run_name=short", "trainer.steps=4", "trainer.save_every=2", "trainer.log_every=1",
                "eval.n_episodes=0", f"hydra.run.dir={trial}/hydra", "hydra.output_subdir=null"]

    return KillCommand("short", args, check_files_after_kill, check_training_run("short"))


# Slow (about 90 s: a reference run, then a killed run and its rerun): the default run keeps kill-and-resume of
# training in tests/training/test_resume_after_kill.py and the matrix's checks in the unit tests below.
@pytest.mark.slow
def test_one_kill_of_a_short_training_run(tmp_path, tiny_lift_dataset):
    registry = {"short": short_training(tiny_lift_dataset.root)}
    result = run_matrix(["short"], kills=1, seed=0, out_dir=tmp_path, progress=False, registry=registry)
    (trial,) = result["trials"]
    assert trial["problems"] == [], trial
    assert result["table"][0]["survived"] == 1 and "| short | 1 |" in format_table(result["table"])
    assert (tmp_path / "chaos_result.json").is_file() and trial["dir"] is None  # a passing trial is not kept


def test_kill_moments_are_seeded_and_cover_writes_and_times():
    reference = {"seconds": 100.0, "write_times_s": [10.0, 20.0, 30.0]}
    plans = kill_plans("collect", 20, seed=0, reference=reference)
    assert plans == kill_plans("collect", 20, seed=0, reference=reference)
    assert plans != kill_plans("collect", 20, seed=1, reference=reference)
    assert all(1 <= p.at_write <= 3 for p in plans[::2]) and all(2 <= p.at_s <= 98 for p in plans[1::2])
    assert all(p.at_s is not None for p in kill_plans("eval", 4, 0, {"seconds": 10.0, "write_times_s": []}))


def test_checks_name_half_written_and_leftover_files(tmp_path):
    (tmp_path / "summary.json").write_text('{"n": 1')
    (tmp_path / "episodes.jsonl").write_text('{"seed": 0}\n{"seed": 1')
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    (tmp_path / ".summary.json.123@abcdef12.0123456789ab.tmp").write_text("{")
    problems = check_files(tmp_path, skip_hidden=False)
    assert len(problems) == 4 and any("leftover temporary" in p for p in problems)
    assert all(any(name in p for p in problems) for name in ("summary.json:", "episodes.jsonl", "model.safetensors"))
    assert len(check_files(tmp_path)) == 3  # temporaries in progress are skipped while the command may run


def test_compare_values_ignores_timing_and_applies_the_tolerance():
    want = {"loss": 1.0, "seconds": 3.0, "eval": {"success_rate": 0.5, "n": 4}}
    assert compare_values({"loss": 1.0 + 1e-9, "seconds": 9.0, "eval": {"success_rate": 0.5, "n": 4}}, want,
                          "s", rtol=1e-6, atol=0.0) == []
    problems = compare_values({"loss": 1.1, "seconds": 3.0, "eval": {"success_rate": 0.5, "n": 5}}, want, "s",
                              rtol=1e-6, atol=0.0)
    assert problems == ["s.eval.n: 5 != reference 4", "s.loss: 1.1 != reference 1.0"]


def test_collection_check_wants_finished_episodes_kept_unchanged(tmp_path, tiny_lift_dataset):
    """The final check of a killed collection: the episodes finished before the kill are in the rerun's dataset with
    the same frames, and the rerun resumed (kept) the staged ones instead of collecting them again."""
    ref, trial = tmp_path / "ref", tmp_path / "trial"
    for d in (ref, trial):
        shutil.copytree(tiny_lift_dataset.root, d / OUT / "dataset")
    digests = episode_digests(trial / OUT / "dataset")
    assert len(set(digests)) == 2  # the two episodes differ, so equal digests below are not a coincidence
    first = f"lift/{tiny_lift_dataset.report.seeds[0]}"
    check = COMMANDS["collect"].check_final

    def final(staged: dict, rerun_log: str) -> list[str]:
        (trial / FINISHED_BEFORE_KILL).write_text(json.dumps({"staged": staged, "dataset": {}}))
        (trial / RERUN_LOG).write_text(rerun_log)
        return check(trial, ref, None)

    resumed = "[INFO] resumed 1 finished episodes of the interrupted collection in /x/.dataset.collecting\n"
    assert final({first: digests[0]}, resumed) == []
    assert any("collected again" in p for p in final({first: digests[0]}, "wrote 2 episodes\n"))
    assert any("has other frames after the rerun" in p for p in final({first: digests[1]}, resumed))
    assert any("is missing after the rerun" in p for p in final({"lift/7": digests[0]}, resumed))


def test_cli_refuses_zero_kills(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--kills", "0"])
    assert exit_info.value.code == 2 and "--kills must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(12 * 3600)
def test_full_kill_matrix(tmp_path):
    """20 kills of each long command (hours on a 2-core machine)."""
    result = run_matrix(list(COMMANDS), kills=20, seed=0, out_dir=tmp_path, progress=False)
    failures = [(t["command"], t["plan"], t["problems"]) for t in result["trials"] if t["problems"]]
    assert not failures, format_table(result["table"]) + "\n" + repr(failures)
