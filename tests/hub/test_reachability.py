"""hub.push=true is refused before any work when the Hub cannot be used; hub.* parses with one home for defaults."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import constants

import vst_vla.hub.reachability as reachability
from vst_vla.collect import run_collect
from vst_vla.errors import ConfigError, UserError
from vst_vla.hub.config import HubConfig
from vst_vla.hub.reachability import HubUnavailableError, check_can_push
from vst_vla.train import run

PUSH = HubConfig(push=True, repo_id="alice/vst_lift")
OFFLINE_MESSAGE = ("hub.push=true but the Hugging Face Hub is unreachable (HF_HUB_OFFLINE=1); set hub.push=false or "
                   "go online")


@pytest.fixture
def online_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offline switch set, whatever the environment running the tests has."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_offline_mode_is_refused_with_the_option_named(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError) as err:
        check_can_push(PUSH)
    assert str(err.value) == OFFLINE_MESSAGE and isinstance(err.value, UserError)


def test_an_unreachable_endpoint_is_refused(online_env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens, refused at once
    with pytest.raises(HubUnavailableError, match=r"unreachable \(http://127\.0\.0\.1:9: .*\); set hub\.push=false"):
        check_can_push(PUSH)


def test_a_missing_token_is_refused(online_env, monkeypatch):
    monkeypatch.setattr(reachability, "unreachable_reason", lambda endpoint: None)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(HubUnavailableError, match="no Hugging Face token was found; run `hf auth login`"):
        check_can_push(PUSH)


def test_push_off_checks_nothing(monkeypatch):
    def forbid(*args):
        raise AssertionError("probed the Hub with hub.push=false")

    monkeypatch.setattr(reachability, "offline_reason", forbid)
    monkeypatch.setattr(reachability, "unreachable_reason", forbid)
    check_can_push(HubConfig())


def test_push_needs_a_repo_id_and_ids_are_checked(compose_config, parse_stage_config):
    with pytest.raises(ValueError, match=r"hub.push=true needs hub.repo_id=<owner>/<name>"):
        HubConfig(push=True)
    with pytest.raises(ValueError, match="hub.repo_id must read <owner>/<name>"):
        HubConfig(repo_id="no-owner")
    with pytest.raises(ConfigError, match="hub.push=true needs hub.repo_id"):
        parse_stage_config(compose_config("train", ["stage=sft", "hub.push=true"]))


@pytest.mark.parametrize("stage", ["vla", "sft", "cot", "rl"])
def test_every_stage_parses_hub_options(stage, compose_config, parse_stage_config):
    cfg = parse_stage_config(compose_config("train", [f"stage={stage}", "hub.push=true", "hub.repo_id=alice/x",
                                                      "hub.private=false"]))
    assert cfg.hub == HubConfig(push=True, repo_id="alice/x", private=False)
    assert parse_stage_config(compose_config("train", [f"stage={stage}"])).hub == HubConfig()


@pytest.mark.parametrize("experiment", ["debug", "sft_debug", "rl_debug"])
def test_training_is_refused_before_any_work_when_offline(experiment, tmp_path, monkeypatch, compose_config):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = [f"experiment={experiment}", f"output_root={tmp_path}/runs", f"dataset.root={tmp_path}/data",
                 f"data.train_path={tmp_path}/train.parquet", f"data.eval_path={tmp_path}/eval.parquet",
                 "hub.push=true", "hub.repo_id=alice/x", "trainer.device=cpu"]
    overrides = [o for o in overrides if experiment == "debug" or not o.startswith("dataset.")]
    overrides = [o for o in overrides if experiment != "debug" or not o.startswith("data.")]
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE=1"):
        run(compose_config("train", overrides))
    assert list(Path(tmp_path).iterdir()) == []  # nothing collected, generated or written


def test_collection_is_refused_before_any_episode_when_offline(tmp_path, monkeypatch, compose_config):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose_config("collect", [f"collect.root={tmp_path}/lift", "hub.push=true", "hub.repo_id=a/b"])
    with pytest.raises(HubUnavailableError, match=r"hub.push=true .*HF_HUB_OFFLINE=1.*set hub.push=false"):
        run_collect(cfg)
    assert not (tmp_path / "lift").exists()
