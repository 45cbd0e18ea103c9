"""Read what a finished run directory or a collected dataset holds, for its card and its upload.

Nothing here writes or touches the network: it finds the checkpoint to publish (the final ``pretrained_model``:
a LeRobot policy for the VLA stage, a Hugging Face directory for a VLM stage), the run's config, commands and
summary, and the evaluations that were actually run. Missing files are reported as missing, never filled in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vst_vla.errors import MissingInputError
from vst_vla.hub.command import DATASET_COMMANDS_FILE, read_invocations
from vst_vla.hub.config import is_hub_repo_id
from vst_vla.training.run_files import (
    COMMANDS_FILE,
    EVAL_DIR,
    REWARD_CHANGE,
    RUN_CONFIG,
    RUN_SUMMARY,
)

DATASET_INFO_FILE = "meta/info.json"  # LeRobot's dataset metadata
# A folder of the Hugging Face cache: .../models--<owner>--<name>/snapshots/<revision>
_HF_CACHE_DIR = re.compile(r"models--([^/]+?)--([^/]+)")


class NotPublishableError(MissingInputError):
    """A directory that is neither a finished run nor a LeRobot dataset; the message says what is missing."""


@dataclass(frozen=True)
class EvalRow:
    """One evaluated condition: a table row label and the :class:`~vst_vla.rollout.stats.EvalSummary` fields."""

    label: str
    summary: dict


@dataclass(frozen=True)
class RunArtifacts:
    """What a run directory holds that a model repository needs.

    Attributes:
        run_dir: the run directory.
        stage: ``vla`` or the VLM stage (``align``, ``sft``, ``cot``, ``rl``).
        checkpoint: the directory whose files become the repository's root.
        layout: ``lerobot`` (the VLA policy, LeRobot's layout) or ``transformers`` (a VLM).
        step: the training step of that checkpoint, when known.
        run_config: the resolved config (``run_config.json``), or None for runs that predate it.
        checkpoint_config: the final ``pretrained_model/config.json`` (a VLA's config with the cameras and
            dimensions it was built for; a VLM's Hugging Face config).
        summary: ``run_summary.json``, or None when the run did not finish.
        invocations: the recorded commands, oldest first.
        evaluations: VLA: the stage's final evaluation and its image ablations; empty when none ran.
        later_evaluations: VLA: ``python -m vst_vla.eval`` runs of the same checkpoint (their own seeds).
        result_files: small files that travel under ``results/`` in the repository (summaries, tables, plots).
    """

    run_dir: Path
    stage: str
    checkpoint: Path
    layout: str
    step: int | None
    run_config: dict | None
    checkpoint_config: dict
    summary: dict | None
    invocations: list[dict]
    evaluations: list[EvalRow] = field(default_factory=list)
    later_evaluations: list[EvalRow] = field(default_factory=list)
    result_files: list[Path] = field(default_factory=list)

    @property
    def is_vla(self) -> bool:
        return self.stage == "vla"


def is_dataset_dir(path: Path) -> bool:
    """True for a LeRobot dataset root (it has ``meta/info.json``)."""
    return (Path(path) / DATASET_INFO_FILE).is_file()


def read_json(path: Path) -> dict | None:
    """The JSON object at ``path``, or None when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def inspect_run(run_dir: Path) -> RunArtifacts:
    """Find the final checkpoint and the records of a run written by ``python -m vst_vla.train``.

    Raises:
        NotPublishableError: no finished checkpoint (``checkpoints/last``) or not a run directory at all.
    """
    from vst_vla.training.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR, last_checkpoint

    run_dir = Path(run_dir)
    last = last_checkpoint(run_dir)
    if last is None or not (last / PRETRAINED_DIR / "config.json").is_file():
        raise NotPublishableError(f"{run_dir} has no finished checkpoint ({CHECKPOINTS_DIR}/last/{PRETRAINED_DIR}); "
                                  "pass the directory of a run of `python -m vst_vla.train` or a LeRobot dataset")
    pretrained = last / PRETRAINED_DIR
    run_config, summary = read_json(run_dir / RUN_CONFIG), read_json(run_dir / RUN_SUMMARY)
    step = int(last.name) if last.name.isdigit() else None
    invocations = read_invocations(run_dir / COMMANDS_FILE)
    checkpoint_config = read_json(pretrained / "config.json") or {}
    # A Qwen2.5-VL directory names its model_type; a VLA config.json names its policy type.
    if "model_type" in checkpoint_config:
        stage = (summary or {}).get("stage") or (run_config or {}).get("stage") or "sft"
        return RunArtifacts(run_dir, stage, pretrained, "transformers", step, run_config, checkpoint_config, summary,
                            invocations, result_files=_vlm_result_files(run_dir))
    return RunArtifacts(run_dir, "vla", pretrained, "lerobot", step, run_config, checkpoint_config, summary,
                        invocations, evaluations=_stage_evaluations(summary, run_config),
                        later_evaluations=_later_evaluations(last),
                        result_files=_vla_result_files(run_dir))


def _task_label(run_config: dict | None) -> str:
    env = (run_config or {}).get("env") or {}
    return env.get("instruction") or env.get("type") or "task"


def _stage_evaluations(summary: dict | None, run_config: dict | None) -> list[EvalRow]:
    """The VLA stage's final evaluation and its image ablations, labelled as the stage's own table labels them."""
    if not summary or not summary.get("eval"):
        return []
    label = _task_label(run_config)
    rows = [EvalRow(label, summary["eval"])]
    for name, ablated in (summary.get("eval_ablations") or {}).items():
        rows.append(EvalRow(f"{label} [images: {ablated.get('image_ablation', name)}]", ablated))
    return rows


def _later_evaluations(checkpoint_step_dir: Path) -> list[EvalRow]:
    """``python -m vst_vla.eval`` results in their default place, ``<run>/checkpoints/eval_*/`` (docs/vla.md), that
    evaluated this step: their ``eval_info.json`` names it as ``checkpoint_step``."""
    from vst_vla.eval import EVAL_INFO
    from vst_vla.rollout.multitask import SUMMARY_BY_TASK_FILE
    from vst_vla.rollout.runner import SUMMARY_FILE

    step = checkpoint_step_dir.resolve().name
    rows = []
    for out_dir in sorted(p for p in checkpoint_step_dir.parent.glob("eval_*") if (p / EVAL_INFO).is_file()):
        info = read_json(out_dir / EVAL_INFO) or {}
        if info.get("checkpoint_step") != step:
            continue  # another step's evaluation (they share the directory), or one older than checkpoint_step
        seeds = info.get("seeds") or []
        where = f"seeds {seeds[0]}-{seeds[-1]}" if seeds else out_dir.name
        ablation = info.get("image_ablation", "none")
        suffix = f" [{where}{'' if ablation == 'none' else ', images: ' + ablation}]"
        single, by_task = read_json(out_dir / SUMMARY_FILE), read_json(out_dir / SUMMARY_BY_TASK_FILE)
        if single is not None:
            rows.append(EvalRow(f"{out_dir.name}{suffix}", single))
        for task, result in ((by_task or {}).get("tasks") or {}).items():
            rows.append(EvalRow(f"{task}{suffix}", result))
    return rows


def _existing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.is_file()]


def _vla_result_files(run_dir: Path) -> list[Path]:
    from vst_vla.rollout.runner import SUMMARY_FILE

    evals = sorted(p / SUMMARY_FILE for p in run_dir.glob(f"{EVAL_DIR}*") if p.is_dir())
    return _existing([run_dir / RUN_CONFIG, run_dir / RUN_SUMMARY, run_dir / COMMANDS_FILE, *evals])


def _vlm_result_files(run_dir: Path) -> list[Path]:
    from vst_vla.spatial.report import SKILL_PLOT_FILE, SKILL_REPORT_FILE

    names = (RUN_CONFIG, RUN_SUMMARY, COMMANDS_FILE, SKILL_REPORT_FILE, SKILL_PLOT_FILE, REWARD_CHANGE)
    return _existing([run_dir / name for name in names])


def base_model_of(pretrained_path: str | None) -> str | None:
    """The Hub id a run started from: ``pretrained_path`` itself when it is one (and no such local folder exists),
    or the id in a Hugging Face cache path (``.../models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/...``)."""
    if not pretrained_path:
        return None
    cached = _HF_CACHE_DIR.search(pretrained_path)
    if cached:
        return f"{cached.group(1)}/{cached.group(2)}"
    if is_hub_repo_id(pretrained_path) and not Path(pretrained_path).exists():
        return pretrained_path
    return None


@dataclass(frozen=True)
class DatasetArtifacts:
    """What a collected LeRobot dataset says about itself: LeRobot's ``meta/info.json``, vst_vla's
    ``meta/vst_env.json`` (env configs, seeds, expert) and the recorded collection commands."""

    root: Path
    info: dict
    env_metadata: dict | None
    invocations: list[dict]


def inspect_dataset(root: Path) -> DatasetArtifacts:
    """Read a dataset root; raises :class:`NotPublishableError` when it is not a LeRobot dataset."""
    from vst_vla.data.config import ENV_METADATA_FILE

    root = Path(root)
    info = read_json(root / DATASET_INFO_FILE)
    if info is None:
        raise NotPublishableError(f"{root} is not a LeRobot dataset ({DATASET_INFO_FILE} is missing)")
    return DatasetArtifacts(root, info, read_json(root / ENV_METADATA_FILE),
                            read_invocations(root / DATASET_COMMANDS_FILE))
