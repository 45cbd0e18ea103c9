"""Cards (``README.md`` with YAML front matter) for published checkpoints and datasets.

A card says what was trained on what, the exact command, the evaluation the run produced (success rates with their
95% Wilson intervals and image ablations for a VLA; the per-skill table for a VLM stage) and the licence. Every
number is read from the files the run wrote (:mod:`vst_vla.hub.runs`); a run that was not evaluated says so.
Building a card never touches the network (``ModelCard`` parses text; its ``validate`` is never called).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vst_vla.hub.config import HubConfig, is_hub_repo_id
from vst_vla.hub.runs import DatasetArtifacts, EvalRow, RunArtifacts, base_model_of

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

PROJECT = "vst-vla"  # Visual Spatial Tuning for VLMs and the robot policies built on them
BASE_TAGS = ["robotics", "lerobot", "vst-vla"]
NOT_EVALUATED = "Not evaluated: this run produced no evaluation results."
NO_COMMAND = ("Not recorded: the run was started outside the `python -m vst_vla.train` command line (e.g. from "
              "Python), so no command line exists; `results/run_config.json` holds the full resolved config.")
STAGE_DESCRIPTIONS = {
    "align": "vision-language alignment on dense scene captions generated from the simulator's ground truth",
    "sft": "spatial perception supervised fine-tuning (VST-P) on spatial question answering",
    "cot": "the chain-of-thought cold start (VST-R): reasoning in <think> tags, then the answer",
    "rl": "reinforcement learning (VST-R): GRPO with DAPO's tricks on rule-checkable spatial questions",
}
VLA_LAYOUTS = {
    "lerobot": "the LeRobot policy layout (`config.json` with `type: vst_vla`, `model.safetensors`, "
               "`policy_preprocessor.json` / `policy_postprocessor.json` with the normalization statistics, "
               "`backbone_config.json`, `processor/`, `env.json`)",
}


# ---- shared pieces ---------------------------------------------------------------------------------------------


def _name(repo_id: str) -> str:
    return repo_id.split("/")[-1]


def command_section(invocations: list[dict], missing: str = NO_COMMAND) -> str:
    """The exact command(s), last one first in a code block; earlier invocations (a resumed run) listed after."""
    if not invocations:
        return missing
    last = invocations[-1]
    text = f"```bash\n{last['command']}\n```\n"
    if last.get("time"):
        text += f"\nRun at {last['time']} with vst-vla {last.get('vst_vla_version', '?')}.\n"
    if len(invocations) > 1:
        earlier = "\n".join(f"{i}. `{inv['command']}` ({inv.get('time', 'time not recorded')})"
                            for i, inv in enumerate(invocations[:-1], start=1))
        text += f"\nThe run was resumed; the commands before the last one, in order:\n\n{earlier}\n"
    return text


def _licence_section(license_id: str, base_model: str | None) -> str:
    text = f"Released under the `{license_id}` licence."
    if base_model:
        text += f" The weights derive from [`{base_model}`](https://huggingface.co/{base_model}), whose licence " \
                "applies to them as well."
    return text


def _card(card_data, body: str) -> ModelCard:
    from huggingface_hub import ModelCard

    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body.strip()}\n")


def _table(rows: list[tuple[str, str]]) -> str:
    return "| | |\n| --- | --- |\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _backbone_text(backbone: dict) -> str:
    if backbone.get("pretrained_path"):
        return f"Qwen2.5-VL from `{backbone['pretrained_path']}`"
    if backbone.get("preset"):
        return f"the `{backbone['preset']}` Qwen2.5-VL architecture with random (not pretrained) weights"
    return (f"a tiny random-init Qwen2.5-VL (hidden size {backbone.get('hidden_size')}, "
            f"{backbone.get('num_layers')} language layers; not pretrained: a smoke-test model)")


# ---- VLA checkpoints -------------------------------------------------------------------------------------------


def evaluation_table(rows: list[EvalRow]) -> str:
    """The rows as the VLA stage prints them (:func:`~vst_vla.rollout.stats.format_summary_table`, no average)."""
    from vst_vla.rollout.stats import EvalSummary, format_summary_table

    return format_summary_table({row.label: EvalSummary.from_dict(row.summary) for row in rows}, average=False)


def _vla_evaluation(run: RunArtifacts) -> str:
    parts = []
    if run.evaluations:
        eval_cfg = (run.run_config or {}).get("eval") or {}
        n, seed = run.evaluations[0].summary["n_episodes"], eval_cfg.get("seed")
        seeds = f"seeds {seed}-{seed + n - 1}" if isinstance(seed, int) else "seeded episodes"
        text = (f"Success rate of the final checkpoint over {n} episodes in simulation ({seeds}, disjoint from the "
                "demonstration seeds), with 95% Wilson score intervals.")
        if len(run.evaluations) > 1:
            text += (" Rows marked `[images: ...]` ran the same episodes with the camera images replaced (blank: "
                     "mid-grey; shuffle: another episode's live frames; frozen: one foreign frame): the drop from the "
                     "real-image row is how much the policy uses what it sees.")
        parts.append(text + "\n\n" + evaluation_table(run.evaluations))
    if run.later_evaluations:
        parts.append("Later evaluations of the same checkpoint with `python -m vst_vla.eval`:\n\n"
                     + evaluation_table(run.later_evaluations))
    return "\n\n".join(parts) if parts else NOT_EVALUATED


def _vla_training_data(cfg: dict, dataset: DatasetArtifacts | None) -> str:
    ds = cfg.get("dataset") or {}
    text = f"Demonstrations from the LeRobot dataset `{ds.get('root')}` (repo id `{ds.get('repo_id')}`)"
    if dataset is None:
        return text + "; the dataset was not found beside the run, so its size is not given here."
    info, meta = dataset.info, dataset.env_metadata or {}
    text += (f": {info.get('total_episodes')} episodes, {info.get('total_frames')} frames at {info.get('fps')} fps")
    collection = meta.get("collection") or {}
    if collection.get("expert"):
        seeds = collection.get("episode_seeds") or []
        span = f", seeds {min(seeds)}-{max(seeds)}" if seeds else ""
        text += f", by the scripted expert `{collection['expert']}`{span}"
    tasks = list((meta.get("tasks") or {}).keys())
    return text + (f"; tasks: {', '.join(f'`{t}`' for t in tasks)}." if tasks else ".")


def _features_of(policy: dict, table: str, kind: str) -> list[str]:
    """The names of a policy config.json's LeRobot features of one type (``VISUAL``, ``STATE``, ``ACTION``)."""
    return [name for name, feature in (policy.get(table) or {}).items() if (feature or {}).get("type") == kind]


def _size_of(policy: dict, table: str, kind: str) -> int | None:
    """The size of the policy's one 1-D feature of this type (the state, the action), or None when absent."""
    names = _features_of(policy, table, kind)
    shape = (policy[table][names[0]].get("shape") or [None]) if names else [None]
    return shape[0]


def vla_card(run: RunArtifacts, repo_id: str, hub: HubConfig) -> ModelCard:
    """The card of a VLA checkpoint (``stage=vla``); reads only ``run``'s files and ``hub``'s licence / base model."""
    from huggingface_hub import ModelCardData

    cfg = run.run_config or {}
    # The checkpoint's own config has what the run config leaves to the dataset (cameras, dimensions).
    policy = {**(cfg.get("policy") or {}), **run.checkpoint_config}
    env, trainer = cfg.get("env") or {}, cfg.get("trainer") or {}
    backbone, head = policy.get("backbone") or {}, (policy.get("head") or {}).get("type", "?")
    summary = run.summary or {}
    dataset = _dataset_beside(cfg)
    base_model = hub.base_model or base_model_of(backbone.get("pretrained_path"))
    dataset_id = (cfg.get("dataset") or {}).get("repo_id")
    card_data = ModelCardData(
        license=hub.license, library_name="lerobot",
        pipeline_tag="robotics", base_model=base_model,
        datasets=[dataset_id] if is_hub_repo_id(dataset_id) and not dataset_id.startswith("local/") else None,
        tags=[*BASE_TAGS, "vla", "vision-language-action", "vst_vla", head, *([env["type"]] if "type" in env else [])],
        model_name=_name(repo_id),
    )
    state_dim = _size_of(policy, "input_features", "STATE") if policy.get("use_state", True) else "no state"
    model_rows = [
        ("VLM backbone", _backbone_text(backbone)),
        ("action head", f"`{head}`"),
        ("action chunk / steps executed", f"{policy.get('chunk_size')} / {policy.get('n_action_steps')}"),
        ("cameras", ", ".join(f"`{k}`" for k in _features_of(policy, "input_features", "VISUAL"))
                    or "from the dataset"),
        ("state / action dims", f"{state_dim} / {_size_of(policy, 'output_features', 'ACTION')}"),
        ("prompt", f"`{policy.get('prompt_template')}`"),
        ("files", VLA_LAYOUTS[run.layout]),
    ]
    training_rows = [
        ("environment", f"`{env.get('type')}`" + (f" ({env['instruction']!r})" if env.get("instruction") else "")),
        ("steps", f"{summary.get('final_step', run.step)} (batch size {trainer.get('batch_size')}, "
                  f"lr {trainer.get('lr')})"),
        ("final training loss", _number(summary.get("final_loss"))),
        ("precision", str(summary.get("precision", "not recorded"))),
    ]
    usage = (f"```bash\nhf download {repo_id} --local-dir {_name(repo_id)}\n"
             f"python -m vst_vla.eval policy_path={_name(repo_id)} eval.n_episodes=50   # simulated rollouts\n"
             f"lerobot-eval --env.type=vst --env.task={env.get('type', '<task>')} "
             f"--policy.path={_name(repo_id)} --eval.use_async_envs=false   # LeRobot's own tools\n")
    usage += "```\n\nThe policy's processors hold its normalization statistics and prompt; `env.json` describes " \
             "the simulated environment it was trained in."
    body = f"""
# {_name(repo_id)}

A vision-language-action policy trained with {PROJECT}: a VLM backbone with a `{head}` action head, fine-tuned by
imitation on scripted demonstrations in simulation (`python -m vst_vla.train stage=vla`).

## Model

{_table(model_rows)}

## Training data

{_vla_training_data(cfg, dataset)}

{_table(training_rows)}

## Command

{command_section(run.invocations)}

## Evaluation

{_vla_evaluation(run)}

## Usage

{usage}

## License

{_licence_section(hub.license, base_model)}
"""
    return _card(card_data, body)


def _dataset_beside(cfg: dict) -> DatasetArtifacts | None:
    from vst_vla.hub.runs import inspect_dataset, is_dataset_dir

    root = (cfg.get("dataset") or {}).get("root")
    return inspect_dataset(Path(root)) if root and is_dataset_dir(Path(root)) else None


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "not recorded"


# ---- VLM stage checkpoints -------------------------------------------------------------------------------------


def _vlm_evaluation(run: RunArtifacts) -> str:
    from vst_vla.spatial.report import SKILL_REPORT_FILE
    from vst_vla.training.run_files import REWARD_CHANGE

    skills, reward = run.run_dir / SKILL_REPORT_FILE, run.run_dir / REWARD_CHANGE
    if not skills.is_file():
        return NOT_EVALUATED
    summary = run.summary or {}
    text = (f"Per-skill scores on {summary.get('eval_samples', 'the')} held-out questions (accuracy for choices, "
            "mean relative accuracy for numbers, IoU for boxes), before and after training, with the image "
            f"ablations the run produced:\n\n{skills.read_text(encoding='utf-8').strip()}")
    if reward.is_file():
        text += "\n\n" + reward.read_text(encoding="utf-8").strip()
    return text


def vlm_card(run: RunArtifacts, repo_id: str, hub: HubConfig) -> ModelCard:
    """The card of a VLM stage's checkpoint (a plain Hugging Face Qwen2.5-VL directory)."""
    from huggingface_hub import ModelCardData

    cfg, summary = run.run_config or {}, run.summary or {}
    model, data, trainer = cfg.get("model") or {}, cfg.get("data") or {}, cfg.get("trainer") or {}
    base_model = hub.base_model or base_model_of(model.get("pretrained_path"))
    card_data = ModelCardData(
        license=hub.license, library_name="transformers", pipeline_tag="image-text-to-text", base_model=base_model,
        tags=[*BASE_TAGS, "vlm", "spatial-reasoning", "qwen2_5_vl", run.stage], model_name=_name(repo_id),
    )
    if data:
        generated = (f"generated by vst-vla's spatial engine from {data.get('generate_train_scenes')} simulated "
                     f"scenes (seed {data.get('generate_seed')}) if the file did not exist when the run started")
        skills, used = data.get("skills"), summary.get("train_samples", summary.get("train_prompts", "?"))
        data_text = (f"Training questions: `{data.get('train_path')}` ({used} used; {generated}). Held-out "
                     f"questions: `{data.get('eval_path')}` ({summary.get('eval_samples', '?')}; "
                     f"{data.get('generate_eval_scenes')} other scenes, seeds "
                     f"from {data.get('generate_eval_seed')}). Skills: {', '.join(skills) if skills else 'all'}.")
    else:
        data_text = "Not recorded (the run has no run_config.json)."
    rows = [
        ("stage", f"`{run.stage}`: {STAGE_DESCRIPTIONS.get(run.stage, run.stage)}"),
        ("started from", _backbone_text(model) if model else "not recorded"),
        ("steps", f"{summary.get('final_step', run.step)} (batch size {trainer.get('batch_size')}, "
                  f"lr {trainer.get('lr')}, vision lr {trainer.get('vision_lr')})"),
        ("final training loss", _number(summary.get("final_loss"))),
        ("precision", str(summary.get("precision", "not recorded"))),
    ]
    body = f"""
# {_name(repo_id)}

A Qwen2.5-VL checkpoint tuned for visual spatial understanding with {PROJECT}'s `{run.stage}` stage
(`python -m vst_vla.train stage={run.stage}`). It is a plain Hugging Face directory: stock `transformers` loads
it, and vst-vla's next stage (or its VLA) takes it by path.

## Training

{_table(rows)}

{data_text}

## Command

{command_section(run.invocations)}

## Evaluation

{_vlm_evaluation(run)}

## Usage

```python
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

model = Qwen2_5_VLForConditionalGeneration.from_pretrained("{repo_id}")
processor = AutoProcessor.from_pretrained("{repo_id}")
```

As the next stage's start: `python -m vst_vla.train stage=... model=local model.pretrained_path=<downloaded dir>`.

## License

{_licence_section(hub.license, base_model)}
"""
    return _card(card_data, body)


def model_card(run: RunArtifacts, repo_id: str, hub: HubConfig) -> ModelCard:
    """The card for ``run``'s checkpoint: :func:`vla_card` or :func:`vlm_card`."""
    return vla_card(run, repo_id, hub) if run.is_vla else vlm_card(run, repo_id, hub)


# ---- datasets --------------------------------------------------------------------------------------------------


def dataset_tags(dataset: DatasetArtifacts) -> list[str]:
    """Tags beside LeRobot's own: the project's and the tasks'."""
    tasks = list(((dataset.env_metadata or {}).get("tasks") or {}).keys())
    return [*BASE_TAGS, "simulation", "scripted-expert", *tasks]


def dataset_description(dataset: DatasetArtifacts) -> str:
    """The ``dataset_description`` of LeRobot's card template: where the episodes came from and the command."""
    info, meta = dataset.info, dataset.env_metadata or {}
    collection = meta.get("collection") or {}
    lines = [f"Scripted-expert demonstrations in simulation, collected with {PROJECT} (`python -m vst_vla.collect`): "
             f"{info.get('total_episodes')} episodes, {info.get('total_frames')} frames at {info.get('fps')} fps."]
    for name, task in (meta.get("tasks") or {}).items():
        env = task.get("env") or {}
        seeds = task.get("episode_seeds") or []
        lines.append(f"- `{name}`" + (f" ({env['instruction']!r})" if env.get("instruction") else "")
                     + f": {len(seeds)} episodes by `{task.get('expert')}`"
                     + (f", seeds {min(seeds)}-{max(seeds)}" if seeds else "")
                     + f", {len(task.get('dropped_seeds') or [])} failed episodes dropped; cameras "
                     + ", ".join(f"`{c}`" for c in env.get("cameras") or []) + f" at {env.get('image_size')} px.")
    if collection:
        kept = "yes" if collection.get("keep_failed") else "no"
        lines.append(f"\nFailed episodes kept: {kept}. Created {collection.get('created')}. `meta/vst_env.json`"
                     " holds every task's env config and each episode's seed, so the episodes "
                     "can be replayed and policies evaluated in the same env (on seeds disjoint from these).")
    lines.append("\n### Command\n\n" + command_section(
        dataset.invocations, "Not recorded: the dataset was collected outside the `python -m vst_vla.collect` "
                             "command line."))
    return "\n".join(lines)


def dataset_card_kwargs(dataset: DatasetArtifacts, hub: HubConfig) -> dict:
    """Keyword arguments for LeRobot's card (``LeRobotDataset.push_to_hub(**kwargs)`` and
    ``create_lerobot_dataset_card``): tags, licence and the description."""
    return {"tags": dataset_tags(dataset), "license": hub.license,
            "dataset_description": dataset_description(dataset)}


def dataset_card(dataset: DatasetArtifacts, repo_id: str, hub: HubConfig):
    """The card LeRobot's ``push_to_hub`` will write for this dataset (its template, our description); offline."""
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata
    from lerobot.datasets.utils import create_lerobot_dataset_card

    meta = LeRobotDatasetMetadata(repo_id, root=dataset.root)
    return create_lerobot_dataset_card(dataset_info=meta.info, repo_id=repo_id, **dataset_card_kwargs(dataset, hub))
