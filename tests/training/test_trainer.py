"""The trainer loop: optimizer groups, schedule, checkpoints and exact resume."""

import dataclasses
import json

import pytest
import torch
from torch.utils.data import Dataset

from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.sampler import ResumableBatchSampler
from vst_vla.training.trainer import TRAIN_LOG, EvalRecord, PeriodicEval, Trainer, build_optimizer, warmup_cosine


class FrameDataset(Dataset):
    """Sixteen fixed training items in the VLATrainingDataset layout, from a batch of 16."""

    def __init__(self, batch: dict) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.batch.items()}


def trainer_cfg(steps: int, save_every: int) -> TrainerConfig:
    return TrainerConfig(steps=steps, batch_size=4, lr=1e-3, vision_lr=2e-4, warmup_steps=2, log_every=1,
                         save_every=save_every, precision="fp32", wandb=WandbConfig(mode="disabled"))


def test_vision_tower_gets_its_own_learning_rate(make_policy):
    policy = make_policy()
    optimizer = build_optimizer(policy, trainer_cfg(4, 4))
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["vision_decay"] == 2e-4 and lrs["main_decay"] == 1e-3
    vision_params = {id(p) for g in optimizer.param_groups if g["name"].startswith("vision") for p in g["params"]}
    assert vision_params == {id(p) for p in policy.policy.backbone.model.visual.parameters()}
    assert all(g["weight_decay"] == 0.0 for g in optimizer.param_groups if g["name"].endswith("no_decay"))


def test_warmup_cosine_hand_computed():
    f = warmup_cosine(TrainerConfig(steps=10, warmup_steps=2, min_lr_ratio=0.1))
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == pytest.approx(1.0) and f(10) == pytest.approx(0.1)
    assert f(6) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the cosine


def test_sampler_resumes_mid_epoch():
    full = ResumableBatchSampler(10, 3, seed=5)
    expected = [b for _, b in zip(range(7), full)]
    resumed = [b for _, b in zip(range(4), ResumableBatchSampler(10, 3, seed=5, start_step=3))]
    assert resumed == expected[3:]
    assert sorted(sum(expected[:3], [])) == sorted(set(sum(expected[:3], [])))  # no repeats within an epoch


def test_resume_continues_exactly(tmp_path, make_policy, make_batch):
    data = FrameDataset(make_batch(16, seed=1))
    straight = make_policy()
    Trainer(trainer_cfg(4, 4), tmp_path / "straight").fit(straight, data)

    # The same run killed while loading its third batch, then resumed from its step-2 checkpoint.
    with pytest.raises(_Interrupted):
        Trainer(trainer_cfg(4, 2), tmp_path / "split").fit(make_policy(), _Truncated(data, stop_after_batches=2))
    ckpt = last_checkpoint(tmp_path / "split")
    assert ckpt.name == "000002"
    resumed_policy = ProcessedPolicy.from_pretrained(ckpt / PRETRAINED_DIR)
    resumed = Trainer(trainer_cfg(4, 2), tmp_path / "split").fit(resumed_policy, data, resume_from=ckpt)
    assert (resumed.start_step, resumed.final_step) == (2, 4)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed_policy.state_dict().items()):
        assert torch.equal(a, b), name
    log = [json.loads(line) for line in (tmp_path / "split" / TRAIN_LOG).read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]


def test_periodic_evaluation_changes_nothing_that_is_trained(tmp_path, make_policy, make_batch):
    """An evaluation every 2 steps that draws random numbers and runs the policy in eval mode: the weights after
    4 steps are those of a run without it (the flow head's training noise comes from the global RNG, which the
    trainer forks around the evaluation), its metrics are logged at their steps, and training mode comes back."""
    from vst_vla.policy.configuration_vst_vla import FlowHeadConfig

    data = FrameDataset(make_batch(16, seed=1))
    plain = make_policy(head=FlowHeadConfig())
    Trainer(trainer_cfg(4, 4), tmp_path / "plain").fit(plain, data)

    seen = []
    video = tmp_path / "episode_0.mp4"
    _write_video(video)

    def evaluate(policy, step):
        seen.append((step, policy.training))
        torch.rand(1000)  # as a rollout's flow-matching noise would
        return EvalRecord({"eval/success_rate": 0.5}, video)

    evaluated = make_policy(head=FlowHeadConfig())
    cfg = dataclasses.replace(trainer_cfg(4, 4), wandb=WandbConfig(mode="offline"))
    Trainer(cfg, tmp_path / "evaluated").fit(evaluated, data, periodic_eval=PeriodicEval(2, evaluate))
    assert len(list((tmp_path / "evaluated" / "wandb").rglob("media/videos/eval/video_*.mp4"))) == 1
    assert seen == [(2, False)] and evaluated.training  # not at the last step: the stage evaluates that itself
    for (name, a), (_, b) in zip(plain.state_dict().items(), evaluated.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    log = [json.loads(line) for line in (tmp_path / "evaluated" / TRAIN_LOG).read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 2, 3, 4] and log[2] == {"step": 2, "eval/success_rate": 0.5}


def _write_video(path) -> None:
    """Ten 32 px grey frames as an H.264 mp4, with PyAV (what the rollout videos use)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


class _Truncated(Dataset):
    """Wraps a dataset and raises after a number of samples, like a run killed mid-training."""

    def __init__(self, base: Dataset, stop_after_batches: int) -> None:
        self.base, self.remaining = base, stop_after_batches * 4

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        if self.remaining <= 0:
            raise _Interrupted
        self.remaining -= 1
        return self.base[i]


class _Interrupted(Exception):
    pass
