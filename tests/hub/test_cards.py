"""Cards of a VLA run, an SFT run and a collected dataset: numbers from the run's files, the command, the licence."""

from __future__ import annotations

import json
import shutil

import yaml

from vst_vla.hub.cards import NO_COMMAND, NOT_EVALUATED, dataset_card, model_card
from vst_vla.hub.config import HubConfig
from vst_vla.hub.runs import base_model_of, inspect_dataset, inspect_run
from vst_vla.training.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR
from vst_vla.training.run_files import COMMANDS_FILE, RUN_SUMMARY


def _rows(text: str, width: int = 4) -> list[list[str]]:
    """The first ``width`` cells of every Markdown table row (padding stripped)."""
    return [[c.strip() for c in line.strip().strip("|").split("|")][:width]
            for line in text.splitlines() if line.startswith("|")]


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_vla_card_has_metadata_command_and_the_evaluation_with_wilson_intervals(vla_run_dir, vla_command):
    run = inspect_run(vla_run_dir)
    # The final checkpoint (checkpoints/last resolved) is the LeRobot policy itself: no export directory beside it.
    assert run.stage == "vla" and run.layout == "lerobot"
    assert run.checkpoint == vla_run_dir / CHECKPOINTS_DIR / "000004" / PRETRAINED_DIR
    text = str(model_card(run, "alice/vst_lift", HubConfig(license="mit")))
    meta = _front_matter(text)
    assert meta["license"] == "mit" and meta["library_name"] == "lerobot" and meta["pipeline_tag"] == "robotics"
    assert {"robotics", "lerobot", "vst-vla", "tokens", "lift"} <= set(meta["tags"])
    assert "base_model" not in meta and "datasets" not in meta  # random-init backbone, local dataset
    assert f"```bash\n{vla_command}\n```" in text
    # 2/3 successes: Wilson 95% interval [20.8%, 93.9%] (hand-computed); 0/3 with blank images: [0.0%, 56.2%].
    rows = _rows(text)
    assert ["lift the red cube", "66.7% (2/3)", "[20.8%, 93.9%]", "3"] in rows
    assert ["lift the red cube [images: blank]", "0.0% (0/3)", "[0.0%, 56.2%]", "3"] in rows
    assert "seeds 0-2" in text
    # The later `python -m vst_vla.eval` of the same checkpoint, on its own seeds: 5/5 -> [56.6%, 100.0%].
    assert ["eval_seed3_n5 [seeds 3-7]", "100.0% (5/5)", "[56.6%, 100.0%]", "5"] in rows
    assert not any("eval_seed8_n2" in cell for row in rows for cell in row)  # another step's evaluation
    assert "| cameras | `observation.images.agentview` |" in text and "| state / action dims | 9 / 7 |" in text
    assert "Released under the `mit` licence." in text and NOT_EVALUATED not in text


def test_vla_card_without_evaluation_or_command_says_so(vla_run_dir):
    summary = json.loads((vla_run_dir / RUN_SUMMARY).read_text())
    (vla_run_dir / RUN_SUMMARY).write_text(json.dumps({**summary, "eval": None, "eval_ablations": {}}))
    (vla_run_dir / COMMANDS_FILE).unlink()
    shutil.rmtree(vla_run_dir / "checkpoints" / "eval_seed3_n5")
    text = str(model_card(inspect_run(vla_run_dir), "alice/vst_lift", HubConfig()))
    assert NOT_EVALUATED in text and NO_COMMAND in text and "Wilson" not in text


def test_sft_card_has_the_skill_table_and_every_command_of_a_resumed_run(sft_run_dir, sft_command):
    run = inspect_run(sft_run_dir)
    assert run.stage == "sft" and run.layout == "transformers"
    text = str(model_card(run, "alice/vst_sft", HubConfig(base_model="Qwen/Qwen2.5-VL-3B-Instruct")))
    meta = _front_matter(text)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "image-text-to-text"
    assert meta["base_model"] == "Qwen/Qwen2.5-VL-3B-Instruct" and meta["license"] == "apache-2.0"
    assert {"robotics", "lerobot", "vst-vla", "spatial-reasoning", "sft"} <= set(meta["tags"])
    # The per-skill table the run wrote (skills.md), with its blank / shuffled ablations and the image gain CI.
    assert (sft_run_dir / "skills.md").read_text().strip() in text
    assert ["left_right", "choice", "8", "0.500", "0.875", "0.500", "0.375"] in _rows(text, 7)
    assert "[+0.125, +0.625]" in text
    assert f"```bash\n{sft_command}\n```" in text and f"`{sft_command} trainer.steps=2`" in text
    assert "`outputs/spatial/debug_train.parquet` (120 used" in text


def test_sft_card_without_a_report_is_not_evaluated(sft_run_dir):
    (sft_run_dir / "skills.md").unlink()
    assert NOT_EVALUATED in str(model_card(inspect_run(sft_run_dir), "alice/vst_sft", HubConfig()))


def test_base_model_is_read_from_hub_ids_and_cache_paths_only(tmp_path):
    assert base_model_of("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    cache = "/root/.cache/huggingface/hub/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc123"
    assert base_model_of(cache) == "Qwen/Qwen2.5-VL-3B-Instruct"
    (tmp_path / "models" / "qwen").mkdir(parents=True)
    assert base_model_of(str(tmp_path / "models" / "qwen")) is None and base_model_of(None) is None


def test_dataset_card_is_lerobots_template_with_the_collection_described(tiny_lift_dataset):
    dataset = inspect_dataset(tiny_lift_dataset.root)
    text = str(dataset_card(dataset, "alice/vst_lift", HubConfig()))
    meta = _front_matter(text)
    assert meta["license"] == "apache-2.0" and {"LeRobot", "robotics", "vst-vla", "lift"} <= set(meta["tags"])
    assert "2 episodes" in text and "'lift the red cube'" in text and "seeds 10000-" in text
    assert "Not recorded: the dataset was collected outside" in text  # collected from Python, not a command line
    assert '"total_episodes": 2' in text  # LeRobot's own meta/info.json section
