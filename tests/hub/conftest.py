"""Tiny run directories with the file names and JSON formats the stages write, for card and payload tests.

The configs are real (composed from ``configs/`` and parsed into the stage dataclasses), the summaries are built
with the code that writes them (``EvalSummary``, ``write_skill_report``); only the weights are a few fake bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vst_vla.config.parse import dataclass_from_dict, dataclass_to_dict
from vst_vla.config.schema import train_config_from_dict
from vst_vla.hub.command import append_invocation
from vst_vla.rollout.stats import EvalSummary
from vst_vla.sft.config import VLMStageConfig
from vst_vla.spatial.report import write_skill_report
from vst_vla.training.checkpoint import CHECKPOINTS_DIR, LAST_LINK, PRETRAINED_DIR
from vst_vla.training.run_files import COMMANDS_FILE, RUN_CONFIG, RUN_SUMMARY


@pytest.fixture
def vla_command() -> str:
    """The command line ``vla_run_dir`` records as its invocation."""
    return "python -m vst_vla.train experiment=debug eval.ablations=[blank] hub.push=true hub.repo_id=alice/vst_lift"


@pytest.fixture
def sft_command() -> str:
    """The command line ``sft_run_dir`` records (twice: first with ``trainer.steps=2``, then resumed without)."""
    return "python -m vst_vla.train experiment=sft_debug hub.push=true hub.repo_id=alice/vst_sft"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _checkpoint(run_dir: Path, step: int, files: dict[str, str]) -> Path:
    """``checkpoints/<step>/pretrained_model/`` with ``files`` and ``checkpoints/last`` pointing at it."""
    pretrained = run_dir / CHECKPOINTS_DIR / f"{step:06d}" / PRETRAINED_DIR
    for name, text in files.items():
        (pretrained / name).parent.mkdir(parents=True, exist_ok=True)
        (pretrained / name).write_text(text)
    (run_dir / CHECKPOINTS_DIR / LAST_LINK).symlink_to(f"{step:06d}")
    return pretrained


def _eval_summary(successes: list[bool], ablation: str = "none") -> EvalSummary:
    episodes = [SimpleNamespace(success=s, length=40 + i, total_reward=float(s)) for i, s in enumerate(successes)]
    return EvalSummary.from_episodes(episodes, seconds=12.5, image_ablation=ablation)


def _invocation(command: str, time: str) -> dict:
    return {"command": command, "overrides": command.split()[3:], "time": time, "vst_vla_version": "0.1.0"}


@pytest.fixture
def vla_run_dir(tmp_path: Path, compose_config, vla_command) -> Path:
    """A finished ``stage=vla`` run: checkpoint (a LeRobot policy directory), config, commands, evaluation with a
    blank ablation (2/3 real, 0/3 blank) and a later ``python -m vst_vla.eval`` result beside the checkpoint."""
    run_dir = tmp_path / "runs" / "debug"
    cfg = train_config_from_dict(compose_config("train", [
        "experiment=debug", f"dataset.root={tmp_path}/no_dataset", f"output_root={tmp_path}/runs",
        "eval.n_episodes=3", "eval.ablations=[blank]"]))
    # The config.json the stage writes: the run's policy with the dataset's features (one 64 px camera, 9 / 7 dims).
    policy = cfg.policy.with_features({"observation.images.agentview": (3, 64, 64)}, 7, 9)
    _checkpoint(run_dir, 4, {"config.json": json.dumps(policy.to_dict()), "model.safetensors": "weights",
                             "backbone_config.json": "{}", "processor/tokenizer.json": "{}",
                             "policy_preprocessor.json": "{}", "policy_postprocessor.json": "{}", "env.json": "{}"})
    _write_json(run_dir / RUN_CONFIG, cfg.to_dict())
    real, blank = _eval_summary([True, False, True]), _eval_summary([False, False, False], "blank")
    _write_json(run_dir / "eval" / "summary.json", real.to_dict())
    _write_json(run_dir / "eval_blank" / "summary.json", blank.to_dict())
    _write_json(run_dir / RUN_SUMMARY, {
        "run_dir": str(run_dir), "phases_s": {"train": 3.0}, "start_step": 0, "final_step": 4, "final_loss": 2.25,
        "precision": "fp32", "checkpoint": str(run_dir / CHECKPOINTS_DIR / "000004"),
        "eval": real.to_dict(), "eval_ablations": {"blank": blank.to_dict()}})
    # Where `python -m vst_vla.eval` writes by default: beside the step directories, naming its step.
    later = run_dir / CHECKPOINTS_DIR / "eval_seed3_n5"
    _write_json(later / "eval_info.json", {"policy_path": "x", "checkpoint_step": "000004", "seeds": [3, 4, 5, 6, 7],
                                           "image_ablation": "none", "precision": "fp32"})
    _write_json(later / "summary.json", _eval_summary([True] * 5).to_dict())
    # An evaluation of an earlier step in the same directory stays off this checkpoint's card.
    other_step = run_dir / CHECKPOINTS_DIR / "eval_seed8_n2"
    _write_json(other_step / "eval_info.json", {"policy_path": "x", "checkpoint_step": "000002", "seeds": [8, 9],
                                                "image_ablation": "none", "precision": "fp32"})
    _write_json(other_step / "summary.json", _eval_summary([False] * 2).to_dict())
    append_invocation(run_dir / COMMANDS_FILE, _invocation(vla_command, "2025-01-01T00:00:00+00:00"))
    return run_dir


@pytest.fixture
def sft_run_dir(tmp_path: Path, compose_config, sft_command) -> Path:
    """A finished ``stage=sft`` run: a Hugging Face checkpoint, config, two invocations (a resumed run) and the
    per-skill report written by the real report code."""
    run_dir = tmp_path / "runs" / "sft_debug"
    cfg = dataclass_from_dict(VLMStageConfig, compose_config("train", [
        "experiment=sft_debug", f"output_root={tmp_path}/runs"]))
    _checkpoint(run_dir, 3, {"config.json": json.dumps({"model_type": "qwen2_5_vl", "architectures": ["Qwen"]}),
                             "model.safetensors": "weights", "tokenizer.json": "{}", "preprocessor_config.json": "{}"})
    _write_json(run_dir / RUN_CONFIG, dataclass_to_dict(cfg))
    row = lambda score, n=8: {"kind": "choice", "n": n, "score": score}  # noqa: E731
    summary = {"run_dir": str(run_dir), "stage": "sft", "train_samples": 120, "eval_samples": 8, "final_step": 3,
               "final_loss": 1.5, "precision": "fp32", "checkpoint": str(run_dir / "checkpoints/000003"),
               "before": {"left_right": row(0.5)}, "after": {"left_right": row(0.875)},
               "ablations": {"blank": {"left_right": row(0.5)}, "shuffle": {"left_right": row(0.375)}},
               "image_gain": {"left_right": {"gain": 0.375, "ci_low": 0.125, "ci_high": 0.625}},
               "chance": {"left_right": 0.5}, "prior": {"left_right": 0.5}, "prior_fit": "the training split"}
    _write_json(run_dir / RUN_SUMMARY, summary)
    write_skill_report(summary, run_dir)
    resumed = _invocation(sft_command + " trainer.steps=2", "2025-01-01T00:00:00+00:00")
    append_invocation(run_dir / COMMANDS_FILE, resumed)
    append_invocation(run_dir / COMMANDS_FILE, _invocation(sft_command, "2025-01-02T00:00:00+00:00"))
    return run_dir


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every network entry point of vst_vla.hub fails the test if reached; returns the list of reached ones."""
    import vst_vla.hub.push as push
    import vst_vla.hub.reachability as reachability

    reached: list[str] = []

    def forbid(name: str):
        def fail(*args, **kwargs):
            reached.append(name)
            raise AssertionError(f"{name} was called")
        return fail

    for name in ("upload_model_folder", "upload_dataset"):
        monkeypatch.setattr(push, name, forbid(name))
    monkeypatch.setattr(reachability, "unreachable_reason", forbid("unreachable_reason"))
    return reached
