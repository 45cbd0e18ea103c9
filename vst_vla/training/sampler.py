"""A resumable, rank-aware batch sampler: the batches are a pure function of (seed, step, global batch).

Epoch ``e`` uses ``randperm(n)`` from a generator seeded with ``seed + e``. Optimisation step ``k`` of an epoch
takes slice k of that permutation, of the global batch's size (per-device batch × processes × accumulation
steps; the last partial slice is dropped). Within it, micro-batch ``m`` of process ``r`` is sub-slice
``m * world_size + r``. Resuming at global step ``s`` therefore replays exactly the batches an uninterrupted run
would have seen, with no sampler state to save, and any layout of the same global batch (one process with
batch 16, two with 8, one with 8 accumulating 2 steps) trains on the same samples at every step.

Own code rather than accelerate's dataloader sharding: that one shards whatever order the sampler gives, so the
order would depend on the world size and resuming at a step would need the sampler's saved state.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this process's micro-batches for global steps ``start_step, start_step + 1, ...`` forever
    (``accumulation_steps`` micro-batches per step).

    Args:
        dataset_size: number of samples (must be >= the global batch).
        batch_size: samples per micro-batch on this process.
        seed: base seed of the per-epoch permutations.
        start_step: first global (optimisation) step to produce.
        rank: this process's index among ``world_size`` processes.
        world_size: number of data-parallel processes.
        accumulation_steps: micro-batches per optimisation step.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0,
                 world_size: int = 1, accumulation_steps: int = 1) -> None:
        global_batch = batch_size * world_size * accumulation_steps
        if dataset_size < global_batch:
            raise ValueError(
                f"the dataset has {dataset_size} samples, fewer than one global batch of {global_batch} "
                f"(trainer.batch_size={batch_size} x {world_size} processes x trainer.grad_accum_steps="
                f"{accumulation_steps}); collect more episodes or lower the batch size"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.accumulation_steps = accumulation_steps
        self.global_batch = global_batch
        self.batches_per_epoch = dataset_size // global_batch

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.dataset_size, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        epoch, perm = -1, None
        while True:
            e, k = divmod(step, self.batches_per_epoch)
            if e != epoch:
                epoch, perm = e, self._permutation(e)
            for micro in range(self.accumulation_steps):
                start = k * self.global_batch + (micro * self.world_size + self.rank) * self.batch_size
                yield perm[start : start + self.batch_size].tolist()
            step += 1

    def __len__(self) -> int:  # infinite in practice; DataLoader only needs a number
        return 2**62
