"""Precision chosen from the hardware: the CPU/CUDA feature query faked both ways, and the default on this machine."""

import json

import pytest
import torch

from vst_vla import precision as precision_mod
from vst_vla.precision import apply_precision, resolve_precision
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.trainer import Trainer


def fake_cpu(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"),
                         [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16")])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, amx, avx512_bf16, expected):
    fake_cpu(monkeypatch, amx, avx512_bf16)
    choice = resolve_precision("auto", "cpu")
    assert choice.name == expected
    assert choice.autocast_dtype == (torch.bfloat16 if expected == "bf16" else None)
    assert ("emulated" in choice.reason) == (expected == "fp32")


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_cuda_follows_device_support(monkeypatch, native):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
    choice = resolve_precision("auto", "cuda:0")
    assert choice.name == ("bf16" if native else "fp32") and "Fake GPU" in choice.reason


@pytest.mark.parametrize("forced", ["bf16", "fp32"])
def test_explicit_precision_overrides_the_hardware(monkeypatch, forced):
    fake_cpu(monkeypatch, amx=forced == "fp32", avx512_bf16=False)  # the opposite of what auto would pick
    choice = resolve_precision(forced, "cpu")
    assert choice.name == forced and choice.requested == forced


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="trainer.precision must be one of"):
        TrainerConfig(precision="fp16")


def test_apply_sets_the_model_and_logs_once(monkeypatch, caplog, make_policy):
    fake_cpu(monkeypatch, amx=True, avx512_bf16=False)
    policy = make_policy()  # a new policy applies its config's precision, and logs it, already
    monkeypatch.setattr(precision_mod, "_logged", set())
    with caplog.at_level("INFO", logger="vst_vla.precision"):
        apply_precision(policy, "auto", "cpu")
        apply_precision(policy, "auto", "cpu")
    assert policy.autocast_dtype == torch.bfloat16
    assert len([r for r in caplog.records if "precision bf16" in r.getMessage()]) == 1
    fake_cpu(monkeypatch, amx=False, avx512_bf16=False)
    apply_precision(policy, "auto", "cpu")
    assert policy.autocast_dtype is None


def test_default_precision_trains_on_this_machine(tmp_path, make_policy, make_batch):
    """End to end with the default (auto), whatever CPU CI has: a few steps, and the choice in the run's record."""
    batch = make_batch(8, seed=3)
    dataset = [{k: v[i] for k, v in batch.items()} for i in range(8)]
    cfg = TrainerConfig(steps=3, batch_size=4, warmup_steps=1, log_every=1, save_every=3,
                        wandb=WandbConfig(mode="disabled"))
    assert cfg.precision == "auto"
    result = Trainer(cfg, tmp_path).fit(make_policy(), dataset)
    expected = resolve_precision("auto", "cpu")
    assert result.precision == expected
    logged = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(logged) == 3 and all(torch.isfinite(torch.tensor(row["loss"])) for row in logged)
