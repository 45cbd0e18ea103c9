"""LoRA on the VLA: the backbone's adapters plus the declared extras train (the action head, the state projection
and the embedding rows of the tokens the policy adds), checkpoints resume exactly through the trainer, and the
merged checkpoint acts like the adapted policy. ``make_policy`` / ``make_batch`` are in tests/conftest.py."""

import json

import pytest
import torch
from torch.utils.data import Dataset

from tests.lora_training import assert_trains_only_the_trainable
from vst_vla.merge_lora import merge_checkpoint
from vst_vla.policy.configuration_vst_vla import L1ChunkHeadConfig, TokenHeadConfig
from vst_vla.policy.processed import ProcessedPolicy, load_policy
from vst_vla.precision import apply_precision
from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.trainer import Trainer
from vst_vla.vlm.lora import ADAPTER_DIR, LoraConfig, is_lora_checkpoint

# Dropout off so that a policy, its reload and its merge compute the same thing.
TEST_LORA = LoraConfig(enabled=True, r=4, alpha=8.0, dropout=0.0)
EXTRAS = ("head.", "state_injector.", "trainable_tokens_delta")


class FrameDataset(Dataset):
    """Items of one made-up batch, in the VLATrainingDataset layout; raises after ``stop_after`` reads when set."""

    def __init__(self, batch: dict, stop_after: int | None = None) -> None:
        self.batch, self.remaining = batch, stop_after

    def __len__(self) -> int:
        return len(self.batch["action"])

    def __getitem__(self, i: int) -> dict:
        if self.remaining is not None:
            if self.remaining <= 0:
                raise _Interrupted
            self.remaining -= 1
        return {k: v[i] for k, v in self.batch.items()}


class _Interrupted(Exception):
    pass


def _trainer_cfg(save_every: int) -> TrainerConfig:
    return TrainerConfig(steps=4, batch_size=4, lr=3e-3, warmup_steps=0, log_every=1, save_every=save_every,
                         precision="fp32", wandb=WandbConfig(mode="disabled"))


@pytest.mark.parametrize("head", [TokenHeadConfig(), L1ChunkHeadConfig()], ids=["tokens", "l1_chunk"])
def test_adapters_and_the_declared_extras_train_and_the_loss_goes_down(head, make_policy, make_batch):
    policy = make_policy(head=head, lora=TEST_LORA)
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}
    extras = {name for name in trainable if ".lora_A." not in name and ".lora_B." not in name}
    assert extras and all(any(part in name for part in EXTRAS) for name in extras), extras
    assert any("trainable_tokens_delta" in name for name in extras)  # the added tokens' embedding rows
    assert not any(".visual." in name for name in trainable)
    batch = make_batch(4)
    assert_trains_only_the_trainable(policy, batch, lr=3e-3)


def test_the_state_still_reaches_the_adapted_model(make_policy, make_batch):
    """LoRA's trainable tokens wrap the input embedding; the state projection's hook moves with it."""
    policy = make_policy(lora=TEST_LORA).eval()
    batch = make_batch(2)
    other = dict(batch, **{"observation.state": batch["observation.state"] + 0.5})
    with torch.no_grad():
        assert not torch.allclose(policy(batch)[0], policy(other)[0])


def test_checkpoints_resume_exactly_and_merge_into_the_plain_layout(tmp_path, make_policy, make_batch):
    data = make_batch(16, seed=1)
    straight = make_policy(lora=TEST_LORA)
    Trainer(_trainer_cfg(4), tmp_path / "straight").fit(straight, FrameDataset(data))

    # The same run killed while loading its third batch, then resumed from its step-2 checkpoint.
    with pytest.raises(_Interrupted):
        Trainer(_trainer_cfg(2), tmp_path / "split").fit(make_policy(lora=TEST_LORA), FrameDataset(data, 8))
    ckpt = last_checkpoint(tmp_path / "split")
    pretrained = ckpt / PRETRAINED_DIR
    assert {p.name for p in (pretrained / ADAPTER_DIR).iterdir()} == {"adapter_config.json",
                                                                     "adapter_model.safetensors"}
    assert json.loads((pretrained / ADAPTER_DIR / "adapter_config.json").read_text())["trainable_token_indices"]
    resumed = ProcessedPolicy.from_pretrained(pretrained)
    result = Trainer(_trainer_cfg(2), tmp_path / "split").fit(resumed, FrameDataset(data), resume_from=ckpt)
    assert (result.start_step, result.final_step) == (2, 4)
    assert straight.state_dict().keys() == resumed.state_dict().keys()
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name

    batch = make_batch(2, seed=3)
    resumed.eval()
    with torch.no_grad():
        expected_loss = resumed(batch)[0]
    expected_actions = resumed.predict_action_chunk(batch)
    merged_dir = merge_checkpoint(last_checkpoint(tmp_path / "split") / PRETRAINED_DIR, tmp_path / "merged")
    assert not is_lora_checkpoint(merged_dir)
    merged = ProcessedPolicy.from_pretrained(merged_dir).eval()
    apply_precision(merged, "fp32", "cpu")  # as the run trained (a loaded policy takes its config's "auto")
    assert merged.policy.lora is None and not any("lora" in name for name in merged.state_dict())
    with torch.no_grad():
        assert torch.allclose(merged(batch)[0], expected_loss, atol=1e-4)
    assert torch.allclose(merged.predict_action_chunk(batch), expected_actions, atol=1e-4)
    # Evaluation loads a LoRA checkpoint merged, to the same actions.
    evaluated = load_policy(last_checkpoint(tmp_path / "split") / PRETRAINED_DIR).eval()
    apply_precision(evaluated, "fp32", "cpu")
    assert evaluated.policy.lora is None
    assert torch.allclose(evaluated.predict_action_chunk(batch), expected_actions, atol=1e-4)
