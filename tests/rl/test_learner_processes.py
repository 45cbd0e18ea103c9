"""GRPO under data parallelism: each process's loss is its share of the global batch's token-level mean, so the
gradient DDP averages over the processes is the one a single process with every rollout computes (DAPO's
token-level aggregation, not a mean of per-process means)."""

import copy

import torch

from tests.rl.test_learner_resume import sample
from vst_vla.rl.learner import GRPOConfig, GRPOLearner, Rollouts
from vst_vla.sft.model import SpatialVLM
from vst_vla.vlm.backbone import BackboneConfig


class TwoProcessSums:
    """The two numbers a learner asks of its processes: their count, and the sum of a value over them (here the
    other process's token count is known in advance: both halves of one batch are computed in this process)."""

    world_size = 2

    def __init__(self, other_tokens: float) -> None:
        self.other_tokens = other_tokens

    def total(self, value: float) -> float:
        return value + self.other_tokens


def rows(r: Rollouts, lo: int, hi: int, n_rows: int) -> Rollouts:
    """Rollout rows ``lo:hi`` (every row has one image of the same size, so its patches split evenly)."""
    def cut(key: str, value: torch.Tensor) -> torch.Tensor:
        per_row = value.shape[0] // n_rows
        return value[lo * per_row:hi * per_row]
    return Rollouts({k: cut(k, v) for k, v in r.inputs.items()}, r.response_mask[lo:hi], r.logp_old[lo:hi], None,
                    r.advantages[lo:hi], r.logs)


def grads(learner: GRPOLearner, rollouts: Rollouts) -> tuple[float, list[torch.Tensor]]:
    learner._rollouts, learner._uses = rollouts, 0
    learner.zero_grad(set_to_none=True)
    loss, _ = learner([])
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in learner.parameters() if p.grad is not None]


def test_two_processes_shares_average_to_the_global_token_mean():
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig(image_max_tokens=16))
    cfg = GRPOConfig(group_size=2, max_new_tokens=6, updates_per_rollout=2)
    whole = GRPOLearner(vlm, cfg, system_prompt="You are a helpful assistant.").train()
    sampled = whole.rollout([sample(i) for i in range(4)])  # 8 rows: 2 groups for each of two processes
    # Rewards of a random model are all equal (no groups kept): give the rows advantages and uneven response
    # lengths, so the two processes hold different token counts (3 + 5 + 2 + 6 and 1 + 4 + 6 + 6).
    lengths = torch.tensor([3, 5, 2, 6, 1, 4, 6, 6])
    mask = torch.arange(sampled.response_mask.shape[1])[None] < lengths[:, None]
    rollouts = Rollouts(sampled.inputs, mask, sampled.logp_old, None,
                        torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.3, -0.3]), sampled.logs)
    loss_whole, grads_whole = grads(whole, rollouts)
    assert any(bool(g.abs().sum() > 0) for g in grads_whole)

    shares = []
    for lo, hi in ((0, 4), (4, 8)):
        process = copy.deepcopy(whole)
        other = float(mask.sum() - mask[lo:hi].sum())
        process.processes = TwoProcessSums(other)
        shares.append(grads(process, rows(rollouts, lo, hi, 8)))
    assert abs(sum(loss for loss, _ in shares) / 2 - loss_whole) < 1e-6  # the logged loss: the global mean too
    for g_whole, g0, g1 in zip(grads_whole, shares[0][1], shares[1][1], strict=True):
        torch.testing.assert_close((g0 + g1) / 2, g_whole, rtol=1e-4, atol=1e-6)
    # The mean of the two processes' own token means is another number: the shares are what makes it exact.
    plain = []
    for lo, hi in ((0, 4), (4, 8)):
        process = copy.deepcopy(whole)
        plain.append(grads(process, rows(rollouts, lo, hi, 8))[0])
    assert abs(sum(plain) / 2 - loss_whole) > 1e-4


def test_one_process_keeps_its_loss_untouched():
    torch.manual_seed(0)
    learner = GRPOLearner(SpatialVLM.build(BackboneConfig(image_max_tokens=16)), GRPOConfig(group_size=2),
                          system_prompt="")

    class One:
        world_size = 1

        def total(self, value: float) -> float:  # never asked: one process needs no reduction
            raise AssertionError("a single process must not reduce")

    learner.processes = One()
    assert learner._token_share(7.0) == 1.0
