"""``python -m vst_vla.train pipeline=vst``: the progressive VST pipeline as one command.

The stages of ``pipeline.stages`` run in order (alignment → spatial SFT → CoT cold start → RL → VLA with its
evaluation, in ``configs/pipeline/vst.yaml``). Each is composed by hydra exactly as ``python -m vst_vla.train
stage=<name> <its overrides> <the command's other overrides>`` would be, with ``run_name=<name>`` under
``pipeline.output_root``, and every stage after the first takes the previous stage's checkpoint as its model
(``model=local model.pretrained_path=...``): each arrow is a directory on disk, as between hand-run stages.

Rerunning the command resumes: a stage whose ``run_summary.json`` records its configured final step is done and
skipped, and an unfinished one resumes at its last checkpoint (each stage's own resume). At the end it prints one
table (per stage: its key metric and wall time) and writes ``pipeline_summary.json`` and ``pipeline.png``.
In a stage's overrides ``{root}`` stands for ``pipeline.output_root`` and ``{stage}`` for the stage's name.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vst_vla.config.parse import ConfigError, dataclass_from_dict
from vst_vla.io import atomic_path, write_json_atomic
from vst_vla.training.run_files import RUN_SUMMARY

logger = logging.getLogger(__name__)

PIPELINE_SUMMARY = "pipeline_summary.json"
PIPELINE_PLOT = "pipeline.png"


@dataclass(frozen=True)
class PipelineStage:
    """One stage of a pipeline: the ``stage=`` it runs and the hydra overrides it adds."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelineConfig:
    """The stages in order and where their runs go (``<output_root>/<stage name>``)."""

    output_root: str = "outputs/pipeline/vst"
    stages: tuple[PipelineStage, ...] = ()

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("pipeline.stages is empty; list the stages to run, e.g. [align, sft, cot, rl, vla]")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline.stages names a stage twice: {names}")


@dataclass
class StageResult:
    """A finished stage: its summary, wall time, and whether this invocation ran it or found it done."""

    name: str
    summary: dict[str, Any]
    seconds: float
    skipped: bool = False


def run_pipeline(cfg_dict: dict[str, Any], user_overrides: Sequence[str],
                 run_stage: Callable[[dict[str, Any]], dict[str, Any]],
                 compose: Callable[[list[str]], dict[str, Any]]) -> dict[str, Any]:
    """Run (or resume) every stage; returns the pipeline summary with its printed ``report``.

    Args:
        cfg_dict: the pipeline block of the composed config (``PipelineConfig``'s fields).
        user_overrides: the command's overrides other than ``pipeline=``; every stage gets them, after its own.
        run_stage: runs one composed stage config (``vst_vla.train.run``).
        compose: composes ``train.yaml`` with overrides into a resolved dict.
    """
    cfg = dataclass_from_dict(PipelineConfig, cfg_dict, "pipeline")
    root = Path(cfg.output_root)
    state = _read_state(root)
    results: list[StageResult] = []
    previous_checkpoint: str | None = None
    for stage in cfg.stages:
        own = (o.replace("{root}", str(root)).replace("{stage}", stage.name) for o in stage.overrides)
        overrides = [f"stage={stage.name}", *own, f"output_root={root}", f"run_name={stage.name}"]
        if previous_checkpoint is not None:
            overrides += ["model=local", f"model.pretrained_path={previous_checkpoint}"]
        stage_cfg = compose([*overrides, *user_overrides])
        done = _finished_summary(root / stage.name, stage_cfg)
        if done is not None:
            logger.info("pipeline: %s is done (%s), skipped", stage.name, root / stage.name / RUN_SUMMARY)
            result = StageResult(stage.name, done, float(state.get(stage.name, {}).get("seconds", 0.0)), skipped=True)
        else:
            logger.info("pipeline: running %s (%s)", stage.name, " ".join(overrides))
            start = time.perf_counter()
            summary = run_stage(stage_cfg)
            # A resumed stage adds this invocation's time to what it had already spent.
            seconds = float(state.get(stage.name, {}).get("seconds", 0.0)) + time.perf_counter() - start
            result = StageResult(stage.name, summary, seconds)
        state[stage.name] = {"seconds": result.seconds, "checkpoint": result.summary.get("checkpoint")}
        write_json_atomic(root / PIPELINE_SUMMARY, {"stages": state})
        results.append(result)
        previous_checkpoint = _checkpoint_dir(result.summary, stage.name)
    out = {"output_root": str(root), "stages": [
        {"stage": r.name, "skipped": r.skipped, "seconds": round(r.seconds, 1), **key_metric(r.summary),
         "checkpoint": r.summary.get("checkpoint")} for r in results]}
    out["total_seconds"] = round(sum(r.seconds for r in results), 1)
    write_json_atomic(root / PIPELINE_SUMMARY, {"stages": state, "table": out["stages"],
                                                "total_seconds": out["total_seconds"]})
    plot_pipeline(out["stages"], root / PIPELINE_PLOT)
    out["report"] = format_pipeline_table(out["stages"], out["total_seconds"])
    return out


def key_metric(summary: dict[str, Any]) -> dict[str, Any]:
    """A stage's headline: the VLA's success rate (95% interval), or a VLM stage's mean skill score before → after."""
    if summary.get("eval"):
        ev = summary["eval"]
        return {"metric": "success rate", "value": ev["success_rate"], "before": None,
                "detail": f"{ev['successes']}/{ev['n_episodes']} [{ev['ci_low']:.2f}, {ev['ci_high']:.2f}]"}
    if summary.get("after"):
        return {"metric": "mean skill score", "value": _mean_score(summary["after"]),
                "before": _mean_score(summary["before"]) if summary.get("before") else None,
                "detail": f"{len(summary['after'])} skills, held-out"}
    return {"metric": "final loss", "value": summary.get("final_loss"), "before": None, "detail": ""}


def format_pipeline_table(rows: Sequence[dict[str, Any]], total_seconds: float) -> str:
    """The summary table the command prints (markdown)."""
    lines = ["| stage | key metric | before | after | detail | wall time (s) |", "|---|---|---:|---:|---|---:|"]
    for r in rows:
        before = "" if r["before"] is None else f"{r['before']:.3f}"
        after = "" if r["value"] is None else f"{r['value']:.3f}"
        seconds = f"{r['seconds']:.1f}" + (" (done before)" if r["skipped"] else "")
        lines.append(f"| {r['stage']} | {r['metric']} | {before} | {after} | {r['detail']} | {seconds} |")
    lines.append(f"| all | | | | | {total_seconds:.1f} |")
    return "\n".join(lines)


def plot_pipeline(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    """Two panels, one bar per stage: its key metric (before as a marker) and its wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["stage"] for r in rows]
    fig, (metric_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    metric_ax.bar(names, [r["value"] or 0.0 for r in rows], color="tab:blue", label="after")
    befores = [(i, r["before"]) for i, r in enumerate(rows) if r["before"] is not None]
    if befores:
        metric_ax.scatter(*zip(*befores, strict=True), color="black", marker="_", s=400, zorder=3, label="before")
    metric_ax.set_ylim(0, 1)
    metric_ax.set_title("key metric (VLM stages: mean skill score; vla: success)")
    metric_ax.legend(fontsize="small")
    time_ax.bar(names, [r["seconds"] for r in rows], color="tab:gray")
    time_ax.set_title("wall time (s)")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out


def _mean_score(per_skill: dict[str, dict[str, Any]]) -> float:
    scores = [row["score"] for row in per_skill.values()]
    return sum(scores) / len(scores) if scores else 0.0


def _finished_summary(run_dir: Path, stage_cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The stage's summary when it already trained its configured steps, else None (it runs or resumes)."""
    path = run_dir / RUN_SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary if summary.get("final_step") == stage_cfg["trainer"]["steps"] else None


def _checkpoint_dir(summary: dict[str, Any], name: str) -> str:
    """The directory the next stage loads: the VLM stages report their ``pretrained_model``; the VLA stage
    its checkpoint, whose ``pretrained_model`` holds the VLA (nothing follows it in the pipelines here)."""
    checkpoint = summary.get("checkpoint")
    if not checkpoint:
        raise ConfigError(f"pipeline stage {name!r} wrote no checkpoint; the next stage has nothing to start from")
    return str(checkpoint)


def _read_state(root: Path) -> dict[str, Any]:
    path = root / PIPELINE_SUMMARY
    return json.loads(path.read_text(encoding="utf-8")).get("stages", {}) if path.is_file() else {}
