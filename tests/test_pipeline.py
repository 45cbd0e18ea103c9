"""``python -m vst_vla.train pipeline=vst_debug``: every stage in order, each from the previous one's checkpoint,
resumed by stage on a rerun, with one table and one plot at the end."""

import json
from pathlib import Path

import pytest

from vst_vla.config.parse import ConfigError
from vst_vla.pipeline import PIPELINE_PLOT, PIPELINE_SUMMARY, run_pipeline
from vst_vla.train import compose_train, run, run_pipeline_command

STAGES = ["align", "sft", "cot", "rl", "vla"]


def test_debug_pipeline_chains_every_stage_and_resumes_by_stage(tmp_path, tiny_lift_dataset, compose_config):
    pipeline = compose_config("train", ["pipeline=vst_debug"])["pipeline"]
    pipeline["output_root"] = str(tmp_path / "vst_debug")
    vla = pipeline["stages"][-1]
    # The session's demonstrations instead of collecting new ones (the same debug env: 64 px Lift).
    vla["overrides"] = [o for o in vla["overrides"] if not o.startswith("dataset.root")]
    vla["overrides"].append(f"dataset.root={tiny_lift_dataset.root}")

    out = run_pipeline_command(pipeline, [])
    assert [row["stage"] for row in out["stages"]] == STAGES and not any(row["skipped"] for row in out["stages"])
    root = Path(pipeline["output_root"])
    for previous, stage in zip(STAGES, STAGES[1:], strict=False):
        config = json.loads((root / stage / "run_config.json").read_text())
        model = config.get("model") or config["policy"]["backbone"]
        assert model["pretrained_path"] == out["stages"][STAGES.index(previous)]["checkpoint"], stage
    assert out["stages"][-1]["metric"] == "success rate" and "| vla | success rate |" in out["report"]
    assert (root / PIPELINE_PLOT).stat().st_size > 0 and (root / PIPELINE_SUMMARY).is_file()

    # A rerun finds every stage done: nothing is trained again, the table comes back with the recorded times.
    ran = []
    again = run_pipeline(pipeline, [], lambda cfg: ran.append(cfg["stage"]) or {}, compose_train)
    assert ran == [] and all(row["skipped"] for row in again["stages"])
    assert [row["seconds"] for row in again["stages"]] == [row["seconds"] for row in out["stages"]]


def test_a_pipeline_without_stages_is_refused() -> None:
    with pytest.raises(ConfigError, match="pipeline.stages is empty"):
        run_pipeline({"output_root": "x", "stages": []}, [], run, compose_train)
