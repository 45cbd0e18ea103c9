"""Sequence packing of variable-length multimodal examples with no attention across examples.

Examples are packed greedily (in a seeded order) into rows of at most ``max_tokens``. A row carries, besides the
concatenated tokens, where each example starts, so the model can give every example its own 3D M-RoPE positions
starting at 0. transformers then sees text positions that restart at each example and builds a block-diagonal
causal mask (its packed-sequence path), on CPU/SDPA as well as with flash attention. "Padded" batching is the
same code with one example per row, which is what the packing benchmark compares against.
"""

from __future__ import annotations

import random

import torch
from torch.utils.data import Dataset

from vst_vla.sft.examples import IGNORE_INDEX, SFTExample


def greedy_packs(lengths: list[int], max_tokens: int, seed: int) -> list[list[int]]:
    """Index lists whose summed lengths stay within ``max_tokens``, filled in a seeded random order."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    packs: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        if lengths[i] > max_tokens:
            raise ValueError(f"example {i} has {lengths[i]} tokens, more than the pack size {max_tokens}")
        if current and used + lengths[i] > max_tokens:
            packs.append(current)
            current, used = [], 0
        current.append(i)
        used += lengths[i]
    if current:
        packs.append(current)
    return packs


class PackedDataset(Dataset):
    """Items are packs (lists of examples); ``packing=False`` makes every pack a single example.

    Args:
        examples: the tokenized dataset.
        max_tokens: pack size (tokens per row).
        packing: pack several examples per row, or one.
        seed: order in which examples are packed.
    """

    def __init__(self, examples: Dataset, max_tokens: int, packing: bool = True, seed: int = 0) -> None:
        self.examples = examples
        # Datasets that know their token counts (SFTDataset) spare encoding every example here.
        lengths = list(getattr(examples, "lengths", None) or (len(examples[i]) for i in range(len(examples))))
        self.packs = greedy_packs(lengths, max_tokens, seed) if packing else [[i] for i in range(len(examples))]
        self.max_tokens = max_tokens

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, i: int) -> list[SFTExample]:
        return [self.examples[j] for j in self.packs[i]]

    @staticmethod
    def collate_fn(packs: list[list[SFTExample]]) -> dict:
        return collate_packs(packs)


def collate_packs(packs: list[list[SFTExample]], pad_token_id: int = 0) -> dict:
    """Rows of concatenated examples, right-padded to the longest row.

    Returns input_ids / labels / mm_token_type_ids (B, L), pixel_values (sum P, D) and image_grid_thw (n, 3) in
    row-major example order, ``segments``: per row, the (start, length, n_images) of each example (the padding
    at a row's end is its own segment so it attends to nothing real), and ``padding_tokens``: how many there are.
    """
    length = max(sum(len(e) for e in pack) for pack in packs)
    padding_tokens = 0
    rows_ids, rows_labels, rows_mm, segments = [], [], [], []
    pixels, grids = [], []
    for pack in packs:
        ids = [e.input_ids for e in pack]
        labels = [e.labels for e in pack]
        mm = [e.mm_token_type_ids for e in pack]
        row_segments, start = [], 0
        for e in pack:
            n_images = 0 if e.image_grid_thw is None else int(e.image_grid_thw.shape[0])
            row_segments.append((start, len(e), n_images))
            start += len(e)
            if e.pixel_values is not None:
                pixels.append(e.pixel_values)
                grids.append(e.image_grid_thw)
        if start < length:
            pad = length - start
            padding_tokens += pad
            ids.append(torch.full((pad,), pad_token_id, dtype=torch.long))
            labels.append(torch.full((pad,), IGNORE_INDEX, dtype=torch.long))
            mm.append(torch.zeros(pad, dtype=torch.long))
            row_segments.append((start, pad, 0))
        rows_ids.append(torch.cat(ids))
        rows_labels.append(torch.cat(labels))
        rows_mm.append(torch.cat(mm))
        segments.append(row_segments)
    return {
        "input_ids": torch.stack(rows_ids),
        "labels": torch.stack(rows_labels),
        "mm_token_type_ids": torch.stack(rows_mm),
        "pixel_values": torch.cat(pixels) if pixels else None,
        "image_grid_thw": torch.cat(grids) if grids else None,
        "segments": segments,
        "padding_tokens": padding_tokens,
    }
