"""Tokenized SFT examples with labels on the assistant's tokens only.

Each example keeps its own image tensors and grid sizes so that packing can concatenate examples and the model
can compute each one's 3D (M-RoPE) positions separately.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import torch
from PIL import Image
from torch.utils.data import Dataset

from vst_vla.sft.chat import decode_images, to_messages
from vst_vla.spatial.schema import SpatialSample

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass
class SFTExample:
    """One tokenized sample: input_ids / labels / mm_token_type_ids (L,), pixel_values (P, D), image_grid_thw (n, 3)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm_token_type_ids: torch.Tensor
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None

    def __len__(self) -> int:
        return int(self.input_ids.numel())


def assistant_label_mask(input_ids: torch.Tensor, header_ids: list[int], end_id: int) -> torch.Tensor:
    """True on the tokens of every assistant turn (its text and its closing ``<|im_end|>``), False elsewhere.

    ``header_ids`` is the tokenization of ``<|im_start|>assistant\\n``; the turn runs from after it to ``end_id``.
    """
    ids = input_ids.tolist()
    mask = torch.zeros(len(ids), dtype=torch.bool)
    n = len(header_ids)
    i = 0
    while i <= len(ids) - n:
        if ids[i : i + n] == header_ids:
            j = i + n
            while j < len(ids) and ids[j] != end_id:
                j += 1
            mask[i + n : min(j + 1, len(ids))] = True
            i = j
        i += 1
    return mask


def encode_sample(processor, sample: SpatialSample, system_prompt: str) -> SFTExample:
    """Chat-template, tokenize and process one sample; labels keep only the assistant tokens."""
    text = processor.apply_chat_template(to_messages(sample, system_prompt), tokenize=False)
    images = decode_images(sample) or None
    enc = processor(images=images, text=[text], return_tensors="pt")
    input_ids = enc["input_ids"][0]
    tokenizer = processor.tokenizer
    header = tokenizer("<|im_start|>assistant\n", add_special_tokens=False).input_ids
    mask = assistant_label_mask(input_ids, header, tokenizer.convert_tokens_to_ids("<|im_end|>"))
    labels = torch.where(mask, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    mm = enc.get("mm_token_type_ids")
    return SFTExample(
        input_ids=input_ids,
        labels=labels,
        mm_token_type_ids=mm[0] if mm is not None else torch.zeros_like(input_ids),
        pixel_values=enc.get("pixel_values"),
        image_grid_thw=enc.get("image_grid_thw"),
    )


def count_sample_tokens(processor, sample: SpatialSample, system_prompt: str) -> int | None:
    """The length :func:`encode_sample` gives, from the text and the images' sizes alone; None if unknown.

    Decoding and patchifying every image only to count tokens cost about 10 ms a sample (six minutes for 36k
    samples before training started). The image processor's ``get_number_of_image_patches`` (the hook vLLM uses)
    gives each image's placeholder count from its size, which PIL reads from the PNG header.
    """
    image_processor = processor.image_processor
    if not hasattr(image_processor, "get_number_of_image_patches"):
        return None
    text = processor.apply_chat_template(to_messages(sample, system_prompt), tokenize=False)
    ids = processor.tokenizer(text, add_special_tokens=False).input_ids
    merge = getattr(image_processor, "merge_size", 1) ** 2
    total = len(ids)
    for data in sample.images:
        width, height = Image.open(io.BytesIO(data)).size
        total += image_processor.get_number_of_image_patches(height, width, {}) // merge - 1
    return total


class SFTDataset(Dataset):
    """Samples encoded on access, with every example's token count measured once up front.

    Keeping encoded examples would hold each image's float32 patches (about 1 MB per 128 px image, several per
    multi-image or video sample): tens of GB for a 10k-sample dataset. The samples keep their images compressed,
    and re-encoding a packed row costs far less than a training step. Lengths come from
    :func:`count_sample_tokens` when it agrees with a full encode of the first sample, else from full encodes.
    """

    def __init__(self, samples: list[SpatialSample], processor, system_prompt: str, max_tokens: int) -> None:
        self.samples = list(samples)
        self.processor = processor
        self.system_prompt = system_prompt
        self.lengths: list[int] = []
        measure = self._length_counter()
        for sample in self.samples:
            length = measure(sample)
            if length > max_tokens:
                raise ValueError(
                    f"sample {sample.id!r} has {length} tokens, more than sft.max_tokens={max_tokens}; "
                    "raise sft.max_tokens or lower the image resolution"
                )
            self.lengths.append(length)

    def _length_counter(self):
        """The fast counter when it matches the processor on the first sample, else full encoding."""
        def encoded(sample: SpatialSample) -> int:
            return len(encode_sample(self.processor, sample, self.system_prompt))

        def counted(sample: SpatialSample) -> int:
            return count_sample_tokens(self.processor, sample, self.system_prompt)

        if not self.samples:
            return encoded
        probe = self.samples[0]
        fast = count_sample_tokens(self.processor, probe, self.system_prompt)
        if fast is None or fast != encoded(probe):
            logger.warning("token counts from image sizes disagree with the processor (%s); encoding every sample "
                           "to measure lengths", fast)
            return encoded
        return counted

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> SFTExample:
        return encode_sample(self.processor, self.samples[i], self.system_prompt)
