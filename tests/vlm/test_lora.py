"""LoRA through peft on the VLM stages: config validation, only adapters train, checkpoints in peft's format that
resume exactly through the one trainer loop, and a merge whose plain checkpoint gives the adapted model's logits.

``make_spatial_samples`` is the shared fixture of tests/conftest.py.
"""

import json

import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from tests.lora_training import assert_trains_only_the_trainable
from vst_vla import cli
from vst_vla.config.parse import dataclass_from_dict
from vst_vla.errors import ConfigError, MissingInputError
from vst_vla.merge_lora import find_lora_checkpoint
from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.examples import SFTDataset
from vst_vla.sft.model import BASE_DIR, SpatialVLM
from vst_vla.sft.packing import PackedDataset
from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.trainer import TRAIN_LOG, Trainer
from vst_vla.vlm.backbone import BackboneConfig, check_pretrained_dir
from vst_vla.vlm.lora import ADAPTER_DIR, LoraConfig, check_resume_matches

# Dropout off so that two runs, and a model and its merge, compute the same thing.
TEST_LORA = LoraConfig(enabled=True, r=4, alpha=8.0, dropout=0.0)


def _vlm(lora: LoraConfig = TEST_LORA) -> SpatialVLM:
    torch.manual_seed(0)
    return SpatialVLM.build(BackboneConfig(image_max_tokens=16), lora=lora)


def _dataset(vlm: SpatialVLM, samples) -> PackedDataset:
    examples = SFTDataset(samples, vlm.processor, DEFAULT_SYSTEM_PROMPT, max_tokens=512)
    return PackedDataset(examples, max_tokens=512, packing=False, seed=0)


def _trainer_cfg(steps: int, save_every: int) -> TrainerConfig:
    return TrainerConfig(steps=steps, batch_size=2, lr=1e-2, vision_lr=1e-2, warmup_steps=0, log_every=1,
                         save_every=save_every, precision="fp32", wandb=WandbConfig(mode="disabled"))


def _adapted_logits(vlm: SpatialVLM, batch: dict) -> torch.Tensor:
    vlm.eval()
    with torch.no_grad():
        return vlm.backbone(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"],
                            image_grid_thw=batch["image_grid_thw"], mm_token_type_ids=batch["mm_token_type_ids"],
                            use_cache=False).logits


class _Interrupted(Exception):
    pass


class _StopAfter(torch.utils.data.Dataset):
    """A dataset that raises after ``items`` reads, like a run killed mid-training (collation passed through)."""

    def __init__(self, base: PackedDataset, items: int) -> None:
        self.base, self.remaining, self.collate_fn = base, items, base.collate_fn

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        if self.remaining <= 0:
            raise _Interrupted
        self.remaining -= 1
        return self.base[i]


# ---- config ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "message"), [
    ("lora.r=0", "lora.r must be >= 1"),
    ("lora.alpha=0", "lora.alpha must be > 0"),
    ("lora.dropout=1.0", r"lora.dropout must be in \[0, 1\)"),
    ("lora.target_modules=[]", "lora.target_modules must be a non-empty list"),
    ("lora.target_modules=[q_proj,q_proj]", "lora.target_modules lists a name twice"),
    ("lora.target_modules=[model.q_proj]", "lora.target_modules must hold module names"),
    ("lora.r=abc", "lora.r must be an integer"),
])
def test_bad_lora_settings_fail_at_parse_time_naming_the_field(override, message, compose_config,
                                                              parse_stage_config):
    for stage in ("experiment=sft_debug", "experiment=debug"):  # a VLM stage and the VLA
        with pytest.raises(ConfigError, match=message):
            parse_stage_config(compose_config("train", [stage, override]))


def test_lora_is_one_setting_for_every_stage(compose_config, parse_stage_config):
    for stage in ("vla", "align", "sft", "cot", "rl"):
        cfg = parse_stage_config(compose_config("train", [f"stage={stage}", "lora.enabled=true", "lora.r=8"]))
        assert cfg.lora == LoraConfig(enabled=True, r=8), stage


def test_settings_that_mean_nothing_with_adapters_are_refused(compose_config, parse_stage_config):
    with pytest.raises(ConfigError, match="freeze has no effect with lora.enabled=true"):
        parse_stage_config(compose_config("train", ["stage=sft", "lora.enabled=true", "freeze.vision_tower=true"]))
    with pytest.raises(ConfigError, match="hub.push=true with lora.enabled=true is not supported"):
        dataclass_from_dict(type(parse_stage_config(compose_config("train", ["stage=rl"]))),
                            {"lora": {"enabled": True}, "hub": {"push": True, "repo_id": "me/x"}})


def test_target_modules_the_backbone_lacks_are_named():
    with pytest.raises(ConfigError, match="lora.target_modules"):
        _vlm(LoraConfig(enabled=True, target_modules=("not_a_layer",)))


# ---- training, checkpoints, merge --------------------------------------------------------------------------------


def test_only_the_adapters_train_and_the_loss_goes_down(make_spatial_samples):
    vlm = _vlm()
    trainable = {name for name, p in vlm.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    # The language model's seven projections in both layers, nothing in the vision tower (lora.vision_tower=false).
    assert len(trainable) == 2 * 7 * 2 and not any(".visual." in name for name in trainable)
    dataset = _dataset(vlm, make_spatial_samples(4))
    batch = dataset.collate_fn([dataset[0], dataset[1]])
    assert_trains_only_the_trainable(vlm, batch, lr=1e-2)


def test_adapter_checkpoints_resume_exactly_and_merge_to_a_plain_model(tmp_path, make_spatial_samples):
    samples = make_spatial_samples(8)
    straight = _vlm()
    Trainer(_trainer_cfg(4, 4), tmp_path / "straight").fit(straight, _dataset(straight, samples))

    # The same run killed while loading its third batch, then resumed from its step-2 checkpoint.
    first = _vlm()
    with pytest.raises(_Interrupted):
        Trainer(_trainer_cfg(4, 2), tmp_path / "split").fit(first, _StopAfter(_dataset(first, samples), 4))
    ckpt = last_checkpoint(tmp_path / "split")
    pretrained = ckpt / PRETRAINED_DIR
    # peft's own format for the adapters, a plain Hugging Face directory for the frozen base.
    assert {p.name for p in (pretrained / ADAPTER_DIR).iterdir()} == {"adapter_config.json",
                                                                     "adapter_model.safetensors"}
    adapter_config = json.loads((pretrained / ADAPTER_DIR / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and adapter_config["base_model_name_or_path"] == f"../{BASE_DIR}"
    assert (pretrained / BASE_DIR / "model.safetensors").is_file() and not (pretrained / "config.json").exists()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))  # no pickle anywhere

    resumed = SpatialVLM.from_pretrained(pretrained)
    result = Trainer(_trainer_cfg(4, 2), tmp_path / "split").fit(resumed, _dataset(resumed, samples), ckpt)
    assert (result.start_step, result.final_step) == (2, 4)
    assert straight.state_dict().keys() == resumed.state_dict().keys()
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    log = [json.loads(line) for line in (tmp_path / "split" / TRAIN_LOG).read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]

    # The merge command on the run directory: stock transformers loads the result, with the adapted logits.
    dataset = _dataset(resumed, samples)
    batch = dataset.collate_fn([dataset[0]])
    expected = _adapted_logits(resumed, batch)
    assert cli.main(["merge-lora", str(tmp_path / "split"), str(tmp_path / "merged")]) == 0
    plain = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "merged", local_files_only=True)
    check_pretrained_dir(tmp_path / "merged")
    merged = SpatialVLM(plain, resumed.processor)
    assert torch.allclose(_adapted_logits(merged, batch), expected, atol=1e-4)
    assert not any("lora" in name for name in plain.state_dict())


def test_a_lora_checkpoint_is_refused_where_a_plain_model_is_expected(tmp_path):
    ckpt = _vlm().save_pretrained(tmp_path / "ckpt")
    with pytest.raises(MissingInputError, match="merge-lora"):
        check_pretrained_dir(ckpt, "model.pretrained_path")
    with pytest.raises(MissingInputError, match="holds no LoRA checkpoint"):
        find_lora_checkpoint(ckpt / BASE_DIR)
    assert find_lora_checkpoint(ckpt) == ckpt


def test_resuming_with_other_lora_settings_is_refused(tmp_path):
    ckpt = _vlm().save_pretrained(tmp_path / "ckpt")
    check_resume_matches(ckpt, TEST_LORA)
    with pytest.raises(ConfigError, match="lora.r=8 but the checkpoint"):
        check_resume_matches(ckpt, LoraConfig(enabled=True, r=8, alpha=8.0, dropout=0.0))
    with pytest.raises(ConfigError, match="lora.enabled=false but the checkpoint"):
        check_resume_matches(ckpt, LoraConfig())
    plain = _vlm(LoraConfig()).save_pretrained(tmp_path / "plain")
    with pytest.raises(ConfigError, match="lora.enabled=true but the checkpoint"):
        check_resume_matches(plain, TEST_LORA)
