"""The exact command line is stored beside a run (inside a hydra app) and nothing is stored outside one."""

from __future__ import annotations

import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.store import register_config_defaults
from vst_vla.hub.command import append_invocation, read_invocations, record_invocation


@pytest.fixture
def hydra_app(monkeypatch: pytest.MonkeyPatch):
    """HydraConfig as ``@hydra.main`` sets it, for ``python -m vst_vla.train experiment=debug
    eval.ablations=[blank]``."""
    overrides = ["experiment=debug", "eval.ablations=[blank]"]
    monkeypatch.setattr(sys, "argv", ["vst_vla/train.py", *overrides])
    register_config_defaults()
    with initialize_config_dir(config_dir=HYDRA_CONFIG_DIR, version_base="1.3"):
        HydraConfig.instance().set_config(compose("train", overrides, return_hydra_config=True))
        yield
    HydraConfig.instance().cfg = None


def test_the_command_is_recorded_exactly_inside_a_hydra_app(hydra_app, tmp_path):
    path = tmp_path / "commands.jsonl"
    record_invocation(path, "vst_vla.train")
    record_invocation(path, "vst_vla.train")  # a resumed run appends
    first, second = read_invocations(path)
    assert first["command"] == "python -m vst_vla.train experiment=debug 'eval.ablations=[blank]'"
    assert first["overrides"] == ["experiment=debug", "eval.ablations=[blank]"]
    assert second["command"] == first["command"]


def test_nothing_is_recorded_outside_a_command_line(tmp_path):
    assert record_invocation(tmp_path / "commands.jsonl", "vst_vla.train") is None
    assert read_invocations(tmp_path / "commands.jsonl") == []


def test_a_record_needs_its_command(tmp_path):
    with pytest.raises(ValueError, match="'command' string"):
        append_invocation(tmp_path / "c.jsonl", {"overrides": []})
