"""Answer spatial questions with a VLM (batched greedy decoding with a KV cache) and score them per skill."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from vst_vla.sft.chat import decode_images, to_messages
from vst_vla.spatial.schema import SpatialSample

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")


def vision_token_ids(tokenizer) -> list[int]:
    """Ids a response must never contain: fed back in, they would be read as image placeholders."""
    return [i for i in tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)) if i is not None and i >= 0]


@torch.inference_mode()
def generate_answers(backbone, processor, samples: Sequence[SpatialSample], system_prompt: str,
                     max_new_tokens: int = 64, batch_size: int = 32, progress: bool = True,
                     do_sample: bool = False, temperature: float = 1.0, num_return_sequences: int = 1) -> list[str]:
    """One answer per sample (or ``num_return_sequences`` consecutive ones), decoded without special tokens."""
    processor.tokenizer.padding_side = "left"
    answers: list[str] = []
    for start in tqdm(range(0, len(samples), batch_size), desc="answer", disable=not progress, dynamic_ncols=True):
        chunk = samples[start : start + batch_size]
        texts = [processor.apply_chat_template(to_messages(s, system_prompt, include_answer=False),
                                               add_generation_prompt=True, tokenize=False) for s in chunk]
        images = [img for s in chunk for img in decode_images(s)] or None
        inputs = processor(images=images, text=texts, padding=True, return_tensors="pt").to(backbone.device)
        out = backbone.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                temperature=temperature if do_sample else None, top_p=None, top_k=None,
                                num_return_sequences=num_return_sequences,
                                suppress_tokens=vision_token_ids(processor.tokenizer),
                                pad_token_id=processor.tokenizer.pad_token_id)
        answers += processor.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return answers
