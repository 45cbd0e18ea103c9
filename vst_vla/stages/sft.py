"""The VLM stages: vision-language alignment (``stage=align``), spatial perception SFT (``stage=sft``) and the CoT
cold start (``stage=cot``). They differ only in their data: ``align`` trains on the engine's dense scene captions
(:mod:`vst_vla.spatial.engine.align`), so that a random-init model learns to tie object names to image places
before spatial SFT asks relations of it (LLaVA's stage 1, with captions from the simulator's ground truth).

Data: VST parquet / LLaVA JSON files, generated from simulated scenes by the spatial engine when missing.
Phases: evaluate the starting model per skill, train with the shared trainer (packed sequences, assistant-only
loss, vision tower at its own learning rate), evaluate again, and report before / after / chance per skill.
The final checkpoint (``checkpoints/last/pretrained_model``) is a plain Hugging Face Qwen2.5-VL directory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vst_vla.config.parse import dataclass_to_dict
from vst_vla.errors import ConfigError
from vst_vla.hub.command import record_invocation
from vst_vla.hub.push import push_run
from vst_vla.hub.reachability import check_can_push
from vst_vla.io import check_writable_destination, write_json_atomic
from vst_vla.precision import apply_precision
from vst_vla.sft.config import SpatialDataConfig, VLMStageConfig
from vst_vla.sft.cot import to_cot_sample
from vst_vla.sft.examples import SFTDataset
from vst_vla.sft.generation import generate_answers
from vst_vla.sft.model import SpatialVLM
from vst_vla.sft.packing import PackedDataset
from vst_vla.spatial.formats import read_samples, write_parquet
from vst_vla.spatial.image_gain import score_with_ablations
from vst_vla.spatial.metrics import evaluate_predictions
from vst_vla.spatial.report import blind_prior_by_skill, chance_by_skill, write_skill_report
from vst_vla.spatial.schema import SpatialSample
from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.distributed import Processes
from vst_vla.training.run_files import COMMANDS_FILE, EVAL_BEFORE, RUN_CONFIG, RUN_SUMMARY
from vst_vla.training.trainer import Trainer, resolve_device
from vst_vla.vlm.lora import check_resume_matches

logger = logging.getLogger(__name__)


def load_or_generate(path: str, num_scenes: int, seed: int, data: SpatialDataConfig) -> list[SpatialSample]:
    """Read the samples at ``path``; when it does not exist, generate them from simulated scenes and save them."""
    if not Path(path).exists():
        from vst_vla.spatial.engine import generate_dataset

        logger.info("%s not found: generating spatial QA from %d simulated scenes (seed %d)", path, num_scenes, seed)
        samples = generate_dataset(num_scenes=num_scenes, seed=seed, image_size=data.image_size, skills=data.skills)
        write_parquet(samples, path)
    samples = list(read_samples(path, data.image_root))
    if not samples:
        raise ConfigError(f"spatial QA file {path} holds no samples; point the data path at a non-empty VST parquet "
                          "or LLaVA JSON file (or remove the file to have it generated)")
    if data.skills is not None:
        samples = select_skills(samples, data.skills, path)
    if data.cot:
        samples = [to_cot_sample(s) for s in samples]
    return samples


def select_skills(samples: list[SpatialSample], skills: tuple[str, ...], path: str,
                  field: str = "data.skills") -> list[SpatialSample]:
    """The samples of ``skills`` (the setting ``field``); a skill with no sample in the file is an error naming both."""
    found = {s.meta_info.get("skill") for s in samples}
    missing = sorted(set(skills) - found)
    if missing:
        raise ConfigError(f"{field} {missing} have no samples in {path} (it has {sorted(map(str, found))})")
    return [s for s in samples if s.meta_info.get("skill") in skills]


def answer_held_out(vlm: SpatialVLM, samples: list[SpatialSample], system_prompt: str, max_new_tokens: int,
                    max_samples: int) -> tuple[list[SpatialSample], list[str]]:
    """The first ``max_samples`` of ``samples`` and the model's greedy answers (at the model's precision)."""
    vlm.eval()
    subset = samples[:max_samples]
    with vlm.autocast():
        answers = generate_answers(vlm.backbone, vlm.processor, subset, system_prompt, max_new_tokens=max_new_tokens)
    return subset, answers


def evaluate_vlm(vlm: SpatialVLM, samples: list[SpatialSample], system_prompt: str, max_new_tokens: int,
                 max_samples: int) -> dict:
    """Per-skill scores of the model's greedy answers on the first ``max_samples`` of ``samples``."""
    subset, answers = answer_held_out(vlm, samples, system_prompt, max_new_tokens, max_samples)
    return evaluate_predictions(zip([s.meta_info for s in subset], answers))


def evaluate_vlm_with_ablations(vlm: SpatialVLM, samples: list[SpatialSample], system_prompt: str,
                                max_new_tokens: int, max_samples: int, ablations: Sequence[str]) -> dict:
    """:func:`evaluate_vlm` with the real images and again under each image ablation, on the same questions:
    ``{"after", "ablations", "image_gain"}`` (:func:`~vst_vla.spatial.image_gain.score_with_ablations`)."""
    answer = lambda subset: answer_held_out(vlm, subset, system_prompt, max_new_tokens, max_samples)[1]  # noqa: E731
    return score_with_ablations(answer, samples[:max_samples], ablations)


def _evaluate(vlm: SpatialVLM, samples: list[SpatialSample], cfg: VLMStageConfig) -> dict:
    return evaluate_vlm(vlm, samples, cfg.system_prompt, cfg.eval.max_new_tokens, cfg.eval.max_samples)


def evaluation_before_training(run_dir: Path, fresh: bool, evaluate: Callable[[], Any]) -> Any:
    """The starting model's evaluation (JSON-able): run by a fresh run and kept in ``<run>/eval_before.json``; read
    back by a resumed one, whose starting weights are gone. None when a resumed run has no such file."""
    path = run_dir / EVAL_BEFORE
    if fresh:
        result = evaluate()
        write_json_atomic(path, result)
        return result
    return json.loads(path.read_text()) if path.is_file() else None


def write_run_record(run_dir: Path, cfg: object) -> None:
    """The stage's resolved config and the command that ran it, beside its checkpoints (its card quotes them)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / RUN_CONFIG, dataclass_to_dict(cfg))
    record_invocation(run_dir / COMMANDS_FILE, "vst_vla.train")


def run_vlm_stage(cfg: VLMStageConfig) -> dict:
    """Train and evaluate; returns (and writes to ``run_summary.json``) the before/after per-skill tables."""
    run_dir = Path(cfg.output_root) / cfg.run_name
    # Refused before any scene is generated or file written.
    processes = Processes(resolve_device(cfg.trainer.device))
    check_writable_destination(run_dir, "output_root/run_name")
    check_can_push(cfg.hub)  # hub.push=true with no reachable Hub: refused now, not after training
    with processes.main_first():  # the main process generates missing files; the others then read them
        train = load_or_generate(cfg.data.train_path, cfg.data.generate_train_scenes, cfg.data.generate_seed,
                                 cfg.data)
        held_out = load_or_generate(cfg.data.eval_path, cfg.data.generate_eval_scenes, cfg.data.generate_eval_seed,
                                    cfg.data)
    resume_from = last_checkpoint(run_dir) if cfg.trainer.resume else None
    if resume_from is not None:
        check_resume_matches(resume_from / PRETRAINED_DIR, cfg.lora)
        vlm = SpatialVLM.from_pretrained(resume_from / PRETRAINED_DIR, cfg.freeze, cfg.model)
    else:
        # A fresh run's random init is part of the run: the same config builds the same model (trainer.seed).
        torch.manual_seed(cfg.trainer.seed)
        vlm = SpatialVLM.build(cfg.model, cfg.freeze, cfg.lora)
    apply_precision(vlm, cfg.trainer.precision, vlm.device)  # the trainer sets it again on its device
    # The main process evaluates and writes; the others wait for it in the trainer's first all-reduce.
    before = (evaluation_before_training(run_dir, resume_from is None, lambda: _evaluate(vlm, held_out, cfg))
              if processes.is_main else None)
    examples = SFTDataset(train, vlm.processor, cfg.system_prompt, cfg.sft.max_tokens)
    dataset = PackedDataset(examples, cfg.sft.max_tokens, packing=cfg.sft.packing, seed=cfg.trainer.seed)
    logger.info("%d samples in %d rows (packing=%s)", len(examples), len(dataset), cfg.sft.packing)
    if processes.is_main:
        write_run_record(run_dir, cfg)
    result = Trainer(cfg.trainer, run_dir, processes=processes).fit(vlm, dataset, resume_from)
    if not processes.is_main:
        return {"run_dir": str(run_dir), "rank": processes.rank, "final_step": result.final_step}
    vlm = result.model  # the trained model whole (under FSDP2, its gathered copy)
    scored = evaluate_vlm_with_ablations(vlm, held_out, cfg.system_prompt, cfg.eval.max_new_tokens,
                                         cfg.eval.max_samples, cfg.eval.ablations)
    summary = {"run_dir": str(run_dir), "stage": cfg.stage, "train_samples": len(train), "eval_samples": len(held_out),
               "final_step": result.final_step, "final_loss": result.last_loss, **result.precision.as_dict(),
               "checkpoint": str(result.last_checkpoint / PRETRAINED_DIR) if result.last_checkpoint else None,
               "before": before, **scored, "chance": chance_by_skill(held_out),
               "prior": blind_prior_by_skill(train, held_out), "prior_fit": "the training split"}
    write_json_atomic(run_dir / RUN_SUMMARY, summary)
    summary["report"] = write_skill_report(summary, run_dir)
    summary["hub_url"] = push_run(run_dir, cfg.hub)  # None unless hub.push; reads the files written above
    return summary
