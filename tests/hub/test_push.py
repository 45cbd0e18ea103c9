"""Payloads and pushes, offline: everything up to the upload call runs; the upload itself is recorded."""

from __future__ import annotations

import json
import os

import pytest

import vst_vla.hub.push as push
from vst_vla.hub.command import DATASET_COMMANDS_FILE, append_invocation
from vst_vla.hub.config import HubConfig
from vst_vla.hub.payload import CARD_FILE, build_model_payload
from vst_vla.training.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR

HUB = HubConfig(push=True, repo_id="alice/vst_lift")


@pytest.fixture
def recorded_uploads(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace the two upload steps (the only network calls) by recorders; returns what they received."""
    calls: list[dict] = []

    def record(payload, private):
        calls.append({"payload": payload, "private": private,
                      "card": payload.card_path.read_text(), "files": list(payload.files)})
        return f"https://huggingface.co/{payload.repo_id}"

    monkeypatch.setattr(push, "upload_model_folder", record)
    monkeypatch.setattr(push, "upload_dataset", record)
    return calls


def test_vla_payload_links_the_checkpoint_results_and_card(vla_run_dir):
    payload = build_model_payload(vla_run_dir, "alice/vst_lift", HUB)
    assert payload.folder == vla_run_dir / "hub_payload" and payload.repo_type == "model"
    # The final pretrained_model as it is (the LeRobot policy), its run's records under results/, and the card.
    assert {"README.md", "config.json", "model.safetensors", "backbone_config.json", "processor/tokenizer.json",
            "policy_preprocessor.json", "policy_postprocessor.json", "env.json",
            "results/run_config.json", "results/run_summary.json", "results/commands.jsonl",
            "results/eval/summary.json", "results/eval_blank/summary.json"} == set(payload.files)
    # Hard links: the payload costs no copy of the weights.
    weights = payload.folder / "model.safetensors"
    assert os.path.samefile(weights, vla_run_dir / CHECKPOINTS_DIR / "last" / PRETRAINED_DIR / "model.safetensors")
    # Rebuilding replaces the payload folder this module wrote.
    assert build_model_payload(vla_run_dir, "alice/vst_lift", HUB).files == payload.files


def test_payload_refuses_to_replace_a_folder_it_did_not_write(vla_run_dir, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a payload folder"):
        build_model_payload(vla_run_dir, "alice/vst_lift", HUB, out_dir=tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_push_run_uploads_the_payload_with_card_table_and_command(vla_run_dir, recorded_uploads, vla_command):
    assert push.push_run(vla_run_dir, HUB) == "https://huggingface.co/alice/vst_lift"
    (call,) = recorded_uploads
    assert call["private"] is True and call["payload"].repo_id == "alice/vst_lift"
    assert "README.md" in call["files"] and "model.safetensors" in call["files"]
    assert vla_command in call["card"] and "[20.8%, 93.9%]" in call["card"] and "license: apache-2.0" in call["card"]


def test_push_run_of_an_sft_run(sft_run_dir, recorded_uploads, sft_command):
    push.push_run(sft_run_dir, HubConfig(push=True, repo_id="alice/vst_sft", private=False))
    (call,) = recorded_uploads
    assert call["private"] is False
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "results/skills.md",
            "results/skills.png", "results/run_summary.json"} <= set(call["files"])
    assert sft_command in call["card"] and "| left_right | choice | 8 |" in call["card"]


def test_a_failed_upload_says_how_to_retry(vla_run_dir, monkeypatch):
    def fail(payload, private):
        raise ConnectionError("reset by peer")

    monkeypatch.setattr(push, "upload_model_folder", fail)
    with pytest.raises(RuntimeError, match=r"python -m vst_vla.hub.push .*debug --repo-id alice/vst_lift"):
        push.push_run(vla_run_dir, HUB)


def test_push_off_reaches_no_hub_code(vla_run_dir, tiny_lift_dataset, no_network, monkeypatch):
    def forbid(*args, **kwargs):
        raise AssertionError("a payload was built with hub.push=false")

    monkeypatch.setattr(push, "build_model_payload", forbid)
    monkeypatch.setattr(push, "build_dataset_payload", forbid)
    assert push.push_run(vla_run_dir, HubConfig()) is None
    assert push.push_dataset(tiny_lift_dataset.root, HubConfig()) is None
    assert not (vla_run_dir / "hub_payload").exists() and no_network == []


def test_dry_run_writes_the_payload_prints_it_and_uploads_nothing(vla_run_dir, no_network, capsys):
    payload = push.main([str(vla_run_dir), "--repo-id", "alice/vst_lift", "--dry-run"])
    out = capsys.readouterr().out
    assert f"model repository alice/vst_lift: {len(payload.files)} files" in out and "results/eval/summary.json" in out
    assert "dry run: nothing was uploaded" in out and no_network == []
    assert (payload.folder / CARD_FILE).read_text().startswith("---\n")


def test_cli_push_offline_exits_with_the_reason(vla_run_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as exit_info:
        push.main([str(vla_run_dir), "--repo-id", "alice/vst_lift"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unreachable (HF_HUB_OFFLINE=1)" in err and "pass --dry-run" in err


def test_cli_refuses_a_directory_that_is_neither_run_nor_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit):
        push.main([str(tmp_path), "--repo-id", "alice/x", "--dry-run"])
    assert "no finished checkpoint" in capsys.readouterr().err


def test_dataset_push_goes_through_lerobots_push_to_hub(tiny_lift_dataset, tmp_path, monkeypatch):
    """LeRobot's own ``push_to_hub`` receives our card arguments; only its HfApi and card upload are recorded."""
    import shutil

    from huggingface_hub import DatasetCard
    from lerobot.datasets import lerobot_dataset

    root = tmp_path / "lift"
    shutil.copytree(tiny_lift_dataset.root, root)
    append_invocation(root / DATASET_COMMANDS_FILE, {"command": "python -m vst_vla.collect collect.num_episodes=2"})
    api_calls, cards = [], []

    class RecordingApi:
        def __getattr__(self, name):
            return lambda *args, **kwargs: api_calls.append((name, kwargs))

    monkeypatch.setattr(lerobot_dataset, "HfApi", RecordingApi)
    monkeypatch.setattr(DatasetCard, "push_to_hub", lambda card, **kwargs: cards.append((str(card), kwargs)))
    url = push.push_dataset(root, HubConfig(push=True, repo_id="alice/vst_lift"))
    assert url.endswith("/datasets/alice/vst_lift")
    calls = dict(api_calls)
    assert calls["create_repo"] == {"repo_id": "alice/vst_lift", "private": True, "repo_type": "dataset",
                                    "exist_ok": True}
    assert calls["upload_folder"]["folder_path"] == root and calls["upload_folder"]["repo_type"] == "dataset"
    (card, kwargs), = cards
    assert kwargs["repo_id"] == "alice/vst_lift" and "python -m vst_vla.collect collect.num_episodes=2" in card
    assert "vst-vla" in card and "license: apache-2.0" in card
    payload_card = (tmp_path / "lift_hub_payload" / CARD_FILE).read_text()
    assert payload_card.strip() == card.strip()  # the dry run shows the card LeRobot pushes
    assert json.loads((root / "meta" / "info.json").read_text())["total_episodes"] == 2


@pytest.mark.slow
def test_sft_debug_stage_pushes_its_checkpoint_at_the_end(tmp_path, recorded_uploads, monkeypatch, compose_config):
    """A real run with hub.push=true: the Hub check passes (stubbed), training runs, the payload reaches upload."""
    import huggingface_hub

    import vst_vla.hub.reachability as reachability
    from vst_vla.train import run

    monkeypatch.setattr(reachability, "offline_reason", lambda: None)
    monkeypatch.setattr(reachability, "unreachable_reason", lambda endpoint: None)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    overrides = ["experiment=sft_debug", f"output_root={tmp_path}/runs", f"data.train_path={tmp_path}/train.parquet",
                 f"data.eval_path={tmp_path}/eval.parquet", "hub.push=true", "hub.repo_id=alice/vst_sft"]
    summary = run(compose_config("train", overrides))
    assert summary["hub_url"] == "https://huggingface.co/alice/vst_sft"
    (call,) = recorded_uploads
    assert {"config.json", "model.safetensors", "README.md", "results/skills.md", "results/run_config.json"} <= set(
        call["files"])
    assert "| skill | kind | n | before | real |" in call["card"] and "stage=sft" in call["card"]
