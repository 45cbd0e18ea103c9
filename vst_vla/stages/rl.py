"""The RL stage (VST-R): GRPO with DAPO tricks on rule-checkable spatial questions.

Starts from an SFT / CoT checkpoint, keeps the questions a rule can grade (choice letters, numbers, 3D boxes),
evaluates per skill before and after, and writes a plain Hugging Face checkpoint like the SFT stage.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from vst_vla.errors import ConfigError
from vst_vla.hub.push import push_run
from vst_vla.hub.reachability import check_can_push
from vst_vla.io import atomic_path, check_writable_destination, write_json_atomic
from vst_vla.precision import apply_precision
from vst_vla.rl.config import RULE_CHECKABLE_KINDS, RLStageConfig
from vst_vla.rl.evaluation import format_reward_change, paired_bootstrap, reward_scores
from vst_vla.rl.learner import GRPOLearner, PromptDataset
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.image_gain import score_with_ablations
from vst_vla.spatial.metrics import evaluate_predictions
from vst_vla.spatial.report import blind_prior_by_skill, chance_by_skill, write_skill_report
from vst_vla.stages.sft import answer_held_out, evaluation_before_training, load_or_generate, write_run_record
from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.distributed import Processes
from vst_vla.training.run_files import REWARD_CHANGE, RUN_SUMMARY
from vst_vla.training.trainer import Trainer, resolve_device
from vst_vla.vlm.lora import check_resume_matches


def run_rl_stage(cfg: RLStageConfig) -> dict:
    """Reinforce, evaluate before/after; returns (and writes) the per-skill tables."""
    run_dir = Path(cfg.output_root) / cfg.run_name
    # Refused before any scene is generated or file written.
    processes = Processes(resolve_device(cfg.trainer.device))
    check_writable_destination(run_dir, "output_root/run_name")
    check_can_push(cfg.hub)  # hub.push=true with no reachable Hub: refused now, not after training
    data = cfg.data
    keep = lambda samples: [s for s in samples if s.meta_info.get("answer_kind") in RULE_CHECKABLE_KINDS]  # noqa: E731
    with processes.main_first():  # the main process generates missing files; the others then read them
        train = keep(load_or_generate(data.train_path, data.generate_train_scenes, data.generate_seed, data))
        held_out = keep(load_or_generate(data.eval_path, data.generate_eval_scenes, data.generate_eval_seed, data))
    if not train:
        raise ConfigError(f"{data.train_path} has no rule-checkable questions (answer kinds {RULE_CHECKABLE_KINDS})")
    resume_from = last_checkpoint(run_dir) if cfg.trainer.resume else None
    source = resume_from / PRETRAINED_DIR if resume_from else None
    if source:
        check_resume_matches(source, cfg.lora)
        vlm = SpatialVLM.from_pretrained(source, cfg.freeze, cfg.model)
    else:
        # A fresh run's random init is part of the run: the same config builds the same model (trainer.seed).
        torch.manual_seed(cfg.trainer.seed)
        vlm = SpatialVLM.build(cfg.model, cfg.freeze, cfg.lora)
    apply_precision(vlm, cfg.trainer.precision, vlm.device)  # the trainer sets it again on its device
    evaluate = lambda: answer_held_out(vlm, held_out, cfg.system_prompt, cfg.eval.max_new_tokens,  # noqa: E731
                                       cfg.eval.max_samples)
    # The starting model's answers; a resumed run reads them back (its starting weights are gone). The main
    # process evaluates and writes; the others wait for it in the trainer's first collective call.
    answers_before = (evaluation_before_training(run_dir, resume_from is None, lambda: evaluate()[1])
                      if processes.is_main else None)
    answered_before = (held_out[: cfg.eval.max_samples], answers_before) if answers_before is not None else None
    reference = copy.deepcopy(vlm).eval().requires_grad_(False) if cfg.rl.kl_coef > 0 else None
    learner = GRPOLearner(vlm, cfg.rl, cfg.system_prompt, reference, processes=processes)
    if processes.is_main:
        write_run_record(run_dir, cfg)
    result = Trainer(cfg.trainer, run_dir, processes=processes).fit(learner, PromptDataset(train), resume_from)
    if not processes.is_main:  # the main process evaluates, summarizes and publishes
        return {"run_dir": str(run_dir), "rank": processes.rank, "final_step": result.final_step}
    vlm = result.model.vlm  # the trained model whole (under FSDP2, its gathered copy)
    answered_after = evaluate()
    answer = lambda subset: answer_held_out(vlm, subset, cfg.system_prompt, cfg.eval.max_new_tokens,  # noqa: E731
                                            cfg.eval.max_samples)[1]
    scored = score_with_ablations(answer, answered_after[0], cfg.eval.ablations, real_answers=answered_after[1])
    per_skill = lambda answered: evaluate_predictions(zip([s.meta_info for s in answered[0]], answered[1]))  # noqa: E731
    summary = {"run_dir": str(run_dir), "stage": "rl", "train_prompts": len(train), "eval_samples": len(held_out),
               "final_step": result.final_step, **result.precision.as_dict(),
               "checkpoint": str(result.last_checkpoint / PRETRAINED_DIR) if result.last_checkpoint else None,
               "before": per_skill(answered_before) if answered_before else None, **scored,
               "chance": chance_by_skill(held_out), "prior": blind_prior_by_skill(train, held_out),
               "prior_fit": "the training split",
               "reward_change": None}
    if answered_before is not None:
        summary["reward_change"] = _reward_change(answered_before, answered_after)
    write_json_atomic(run_dir / RUN_SUMMARY, summary)
    summary["report"] = write_skill_report(summary, run_dir)
    if summary["reward_change"]:
        table = format_reward_change(summary["reward_change"])
        with atomic_path(run_dir / REWARD_CHANGE) as tmp:
            tmp.write_text(table)
        summary["report"] += "\n" + table
    summary["hub_url"] = push_run(run_dir, cfg.hub)  # None unless hub.push; reads the files written above
    return summary


def _reward_change(before: tuple[list, list[str]], after: tuple[list, list[str]]) -> dict[str, dict[str, float]]:
    """VST-R accuracy and format rewards on the same held-out questions, before vs after, paired."""
    metas = [s.meta_info for s in before[0]]
    scores_before, scores_after = reward_scores(metas, before[1]), reward_scores(metas, after[1])
    return {name: paired_bootstrap(scores_before[name], scores_after[name]) for name in ("accuracy", "format")}
