"""GRPO end to end on a tiny model: a rewarded output format is learned (mean reward rises)."""

import json

import torch

from vst_vla.rl.learner import GRPOConfig, GRPOLearner, PromptDataset
from vst_vla.rl.rewards import REWARDS
from vst_vla.sft.model import SpatialVLM
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.trainer import TRAIN_LOG, Trainer
from vst_vla.vlm.backbone import BackboneConfig


@REWARDS.register("lowercase_fraction")
def lowercase_fraction(answer: str, ground_truth) -> float:
    """Share of the answer's characters that are ASCII lowercase letters (0 for an empty answer): a format the
    random tiny model already hits sometimes, so sampling finds the signal quickly."""
    return sum("a" <= c <= "z" for c in answer) / max(len(answer), 1)


def test_mean_reward_rises(tmp_path, make_spatial_samples):
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig(image_max_tokens=16))
    samples = []
    for s in make_spatial_samples(4):
        samples.append(type(s)(s.id, s.data_source, s.type, s.images, s.conversations,
                               {**s.meta_info, "reward": "lowercase_fraction"}))
    learner = GRPOLearner(vlm, GRPOConfig(group_size=8, max_new_tokens=4, format_weight=0.0, updates_per_rollout=2),
                          system_prompt="You are a helpful assistant.")
    cfg = TrainerConfig(steps=30, batch_size=2, lr=1e-2, vision_lr=1e-2, warmup_steps=0, log_every=1,
                        save_every=30, precision="fp32", wandb=WandbConfig(mode="disabled"))
    Trainer(cfg, tmp_path).fit(learner, PromptDataset(samples))
    log = [json.loads(line) for line in (tmp_path / TRAIN_LOG).read_text().splitlines()]
    rewards = [r["reward_mean"] for r in log]
    logged = {"reward_std", "groups_kept_frac", "clip_frac", "entropy", "kl", "response_length", "format_rate"}
    assert logged <= set(log[0])
    first, last = sum(rewards[:6]) / 6, sum(rewards[-6:]) / 6
    assert last > first + 0.1, [round(r, 2) for r in rewards]
    assert (tmp_path / "checkpoints" / "last" / "pretrained_model" / "config.json").is_file()
