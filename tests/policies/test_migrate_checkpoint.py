"""``python -m vst_vla.migrate_checkpoint``: the one-time migration of an old vst_vla-layout VLA checkpoint.

The old layout (``config.json`` with ``image_keys`` / ``action_dim`` / ``state_dim``, ``model.safetensors``,
``backbone_config.json``, ``processor/``, ``normalization_stats.json``, ``env.json``) is what the repository ships
as the parity baseline of the one-policy change (``experiments/one_policy_parity/before/pretrained_model``, the
default job's final checkpoint). Migrated, it must load as a policy with the very same tensors and with the old
q01/q99 in its pipelines; anything that is not an old-layout checkpoint is refused, naming what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lerobot.processor import NormalizerProcessorStep, UnnormalizerProcessorStep
from safetensors.torch import load_file

from vst_vla.errors import MissingInputError
from vst_vla.migrate_checkpoint import OLD_STATS_FILE, main, migrate_checkpoint
from vst_vla.policy.configuration_vst_vla import TokenHeadConfig
from vst_vla.policy.processed import ProcessedPolicy

REPO = Path(__file__).resolve().parents[2]
OLD = REPO / "experiments" / "one_policy_parity" / "before" / "pretrained_model"
QUANTILES = ("q01", "q99")


def _digests(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped old checkpoint migrated by the command line a user runs (a subprocess, as from a shell)."""
    before = _digests(OLD)
    out = tmp_path_factory.mktemp("migrated") / "pretrained_model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "vst_vla.migrate_checkpoint", str(OLD), str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"policy_path={out}" in result.stderr  # the log line tells the user how to evaluate it
    assert _digests(OLD) == before  # the shipped baseline is read, never written
    return out


@pytest.fixture(scope="module")
def loaded(migrated: Path) -> ProcessedPolicy:
    return ProcessedPolicy.from_pretrained(migrated, device="cpu").eval()


def _old_stats() -> dict:
    return json.loads((OLD / OLD_STATS_FILE).read_text())


def test_migrated_checkpoint_loads_as_a_policy_with_the_old_config_and_env(migrated: Path,
                                                                            loaded: ProcessedPolicy) -> None:
    assert {"config.json", "model.safetensors", "backbone_config.json", "processor", "policy_preprocessor.json",
            "policy_postprocessor.json", "env.json"} <= {p.name for p in migrated.iterdir()}
    assert not (migrated / OLD_STATS_FILE).exists()  # the statistics moved into the pipelines
    old = json.loads((OLD / "config.json").read_text())
    cfg = loaded.config
    assert json.loads((migrated / "config.json").read_text())["type"] == "vst_vla"
    assert cfg.head == TokenHeadConfig(n_bins=old["head"]["n_bins"])
    assert (cfg.chunk_size, cfg.n_action_steps, cfg.prompt_template) == (
        old["chunk_size"], old["n_action_steps"], old["prompt_template"])
    assert cfg.backbone.hidden_size == old["backbone"]["hidden_size"] == 128
    # The data fields became LeRobot features; the camera resolution comes from env.json (128 px).
    (camera,) = old["image_keys"]
    assert cfg.image_keys == (camera,) and cfg.image_features[camera].shape == (3, 128, 128)
    assert (cfg.action_dim, cfg.state_dim) == (old["action_dim"], old["state_dim"]) == (7, 9)
    assert loaded.env_metadata == json.loads((OLD / "env.json").read_text())


def test_migrated_weights_are_the_old_tensors(migrated: Path, loaded: ProcessedPolicy) -> None:
    old = load_file(OLD / "model.safetensors")
    new = load_file(migrated / "model.safetensors")
    assert new.keys() == old.keys()
    state = loaded.policy.state_dict()
    for name, tensor in old.items():
        assert torch.equal(new[name], tensor), name
        assert torch.equal(state[name], tensor), name  # and the loaded module holds them under the same names


def test_migrated_pipelines_hold_the_old_quantiles(loaded: ProcessedPolicy) -> None:
    stats = _old_stats()
    (normalizer,) = [s for s in loaded.preprocessor.steps if isinstance(s, NormalizerProcessorStep)]
    (unnormalizer,) = [s for s in loaded.postprocessor.steps if isinstance(s, UnnormalizerProcessorStep)]
    for step, keys in ((normalizer, ("action", "observation.state")), (unnormalizer, ("action",))):
        for key in keys:
            for q in QUANTILES:
                torch.testing.assert_close(torch.as_tensor(step.stats[key][q]).float(),
                                           torch.tensor(stats[key][q], dtype=torch.float32), rtol=0, atol=0,
                                           msg=f"{key}.{q}")


def test_migrated_policy_acts_inside_the_old_quantiles(loaded: ProcessedPolicy) -> None:
    stats = _old_stats()
    g = torch.Generator().manual_seed(0)
    q01, q99 = (torch.tensor(stats["observation.state"][q]) for q in QUANTILES)
    obs = {"observation.images.agentview": torch.rand(1, 3, 128, 128, generator=g),
           "observation.state": (q01 + (q99 - q01) * torch.rand(1, 9, generator=g)),
           "task": "lift the red cube"}
    chunk = loaded.predict_action_chunk(obs)
    assert chunk.shape == (1, 4, 7) and torch.isfinite(chunk).all()
    low, high = (torch.tensor(stats["action"][q]) for q in QUANTILES)
    assert (chunk >= low - 1e-5).all() and (chunk <= high + 1e-5).all()


def test_refuses_a_directory_that_is_not_an_old_layout_checkpoint(migrated: Path, tmp_path: Path) -> None:
    # A checkpoint of the current layout already: no normalization_stats.json.
    not_old = rf"not an old-layout vst_vla checkpoint: \['{OLD_STATS_FILE}'\] missing"
    with pytest.raises(MissingInputError, match=not_old):
        migrate_checkpoint(migrated, tmp_path / "again")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingInputError) as refused:
        migrate_checkpoint(tmp_path / "empty", tmp_path / "out")
    for name in ("config.json", "model.safetensors", "backbone_config.json", OLD_STATS_FILE, "env.json"):
        assert name in str(refused.value)
    # An old checkpoint with one file lost: that file is named.
    partial = tmp_path / "partial"
    shutil.copytree(OLD, partial)
    (partial / "backbone_config.json").unlink()
    with pytest.raises(MissingInputError, match=r"\['backbone_config.json'\] missing"):
        migrate_checkpoint(partial, tmp_path / "out")
    assert not (tmp_path / "again").exists() and not (tmp_path / "out").exists()  # nothing half-written


def test_cli_refuses_an_existing_destination_and_names_missing_files(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(SystemExit) as exited:
        main([str(OLD), str(tmp_path / "taken")])
    assert exited.value.code == 2 and "already exists" in capsys.readouterr().err
    assert not any((tmp_path / "taken").iterdir())
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "taken"), str(tmp_path / "out")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "is not an old-layout vst_vla checkpoint" in err and OLD_STATS_FILE in err
    assert not (tmp_path / "out").exists()
