"""A resumable batch sampler: the batch order is a pure function of (seed, step).

Epoch ``e`` uses ``randperm(n)`` from a generator seeded with ``seed + e``; batch ``k`` of an epoch is slice k of
that permutation (last partial batch dropped). Resuming at global step ``s`` therefore replays exactly the batches
an uninterrupted run would have seen, with no sampler state to save.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields index batches for global steps ``start_step, start_step + 1, ...`` forever.

    Args:
        dataset_size: number of samples (must be >= batch_size).
        batch_size: samples per batch.
        seed: base seed of the per-epoch permutations.
        start_step: first global step to produce.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int, start_step: int = 0) -> None:
        if dataset_size < batch_size:
            raise ValueError(
                f"the dataset has {dataset_size} samples, fewer than trainer.batch_size={batch_size}; "
                "collect more episodes or lower the batch size"
            )
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.batches_per_epoch = dataset_size // batch_size

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
            yield perm[k * self.batch_size : (k + 1) * self.batch_size].tolist()
            step += 1

    def __len__(self) -> int:  # infinite in practice; DataLoader only needs a number
        return 2**62
